"""The intent handlers, one module each, and the one registry the turn dispatches through.

Every handler has one signature (``IntentHandler``): the turn has a proven order in the
agent's scope when a handler runs; the handler decides what to say and may ask, cite or open a
case through ``agent.turn``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from agent.intents.cancel import cancel_order
from agent.intents.item_problem import item_problem
from agent.intents.order_status import order_status
from agent.intents.person import ask_for_person
from agent.intents.product_question import product_question
from agent.intents.refund_status import refund_status
from agent.intents.return_request import return_request
from agent.turn import Services, Turn, TurnResult


class IntentHandler(Protocol):
    def __call__(self, services: Services, t: Turn, text: str, /) -> TurnResult: ...


# Built once at import and read-only: a turn looks its handler up, it never rebuilds the table.
HANDLERS: Mapping[str, IntentHandler] = MappingProxyType({
    "order_status": order_status,
    "return_request": return_request,
    "item_problem": item_problem,
    "refund_status": refund_status,
    "cancel_order": cancel_order,
    "product_question": product_question,
    "ask_for_person": ask_for_person,
})
