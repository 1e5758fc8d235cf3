"""A request for a person: the seller is the person who can help, so it becomes a case."""

from __future__ import annotations

from agent.turn import Services, Turn, TurnResult


def ask_for_person(services: Services, t: Turn, text: str) -> TurnResult:
    assert t.order is not None
    return services.escalate(t, "person", [i.asin for i in t.order.items], "person_case")
