"""Whether the service may take over a customer's message a seller hands over: the order in
the service's scope, and a request the service answers (not one only the seller answers).

A decision over the order and the words, made before anyone answers; the hand-over desk
(``seller/handover_desk.py``) acts on it and decides nothing itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.enrolment import EnrolmentPeriod
from agent.records import Order, Seller
from agent.scope import REDIRECTS, order_scope
from agent.understanding import classify_intent, detect_language
from base.money import MARKETPLACE_LANGUAGE


def handover_refusal(order: Order, seller: Seller, history: Sequence[EnrolmentPeriod],
                     text: str) -> str | None:
    """The rule that keeps the message with the seller, or None when the service takes it:
    the order's scope first (not enrolled, fulfilled by the marketplace), then a request
    before buying, about an invoice or a customisation."""
    scope = order_scope(order, seller, history)
    if not scope.covered:
        return scope.rule
    language = detect_language(text, MARKETPLACE_LANGUAGE.get(order.marketplace, "en"))
    intent = classify_intent(text, language).intent
    return f"scope.{intent}" if intent in REDIRECTS else None
