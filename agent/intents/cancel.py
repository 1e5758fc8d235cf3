"""A cancellation: an order already shipped, delivered or cancelled is answered from its
status; one not shipped yet is the seller's to cancel, so it becomes a case."""

from __future__ import annotations

from agent.replies import render
from agent.turn import Services, Turn, TurnResult, cite_order


def cancel_order(services: Services, t: Turn, text: str) -> TurnResult:
    order = t.order
    assert order is not None
    cite_order(t, "status", order.status)
    key = {"shipped": "cancel_shipped", "delivered": "cancel_delivered",
           "cancelled": "cancel_already"}.get(order.status)
    if key:
        return TurnResult(render(key, t.language, order_id=order.order_id), "answered")
    return services.escalate(t, "cancel", [i.asin for i in order.items], "cancel_case",
                             order_id=order.order_id)
