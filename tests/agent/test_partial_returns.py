"""A partial problem decides only the units affected: the number the customer names, or the
one they give when asked (demo orders, data/demo/ORDERS.md)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from agent.db import Store
from agent.models import ConversationRow, RefundRow
from agent.replies import day
from agent.understanding import extract_return_reason
from tests.agent.conftest import Say
from tests.support.scenarios import DELIVERED_POWER_STRIPS_DE, HAZMAT_GAS_CANISTERS_UK

# DELIVERED_POWER_STRIPS_DE: two power strips at 24.99 EUR, free shipping, a German seller with
# a prepaid label. HAZMAT_GAS_CANISTERS_UK: two gas canisters at 6.49 GBP plus 3.99 shipping, a
# seller outside the UK without a UK address: a low-value cross-border return is refunded
# without return.


def test_one_of_two_named_in_the_message_decides_one_unit(say: Say) -> None:
    order_id, email = DELIVERED_POWER_STRIPS_DE.order_id, DELIVERED_POWER_STRIPS_DE.customer_email
    reply = say(f"Eine der zwei Steckdosenleisten ist kaputt angekommen ({order_id}).",
                sender=email)
    assert reply.outcome == "answered" and reply.return_decision is not None
    assert reply.return_decision.eligible and reply.return_decision.quantity == 1
    assert reply.return_decision.refund is not None
    assert (reply.return_decision.refund.amount, reply.return_decision.refund.currency) == (
        Decimal("24.99"), "EUR")
    assert "1 × " in reply.text


def test_a_returnless_refund_of_one_unit_pays_one_unit_and_its_shipping_share(
        say: Say, store: Store) -> None:
    order_id, email = HAZMAT_GAS_CANISTERS_UK.order_id, HAZMAT_GAS_CANISTERS_UK.customer_email
    reply = say(f"One of the two gas canisters arrived dented, order {order_id}.",
                sender=email)
    decision = reply.return_decision
    assert decision is not None and decision.method == "returnless_refund"
    assert decision.quantity == 1
    # 6.49 + 3.99 x 6.49 / 12.98 = 8.485, rounded half up: 8.49 (the whole line: 16.97).
    with store.sessions() as session:
        refund = session.scalars(select(RefundRow)).one()
    assert (refund.amount, refund.currency) == (Decimal("8.49"), "GBP")


def test_unsaid_quantity_is_asked_in_the_customers_language_and_the_answer_decides(
        say: Say, store: Store) -> None:
    order_id, email = DELIVERED_POWER_STRIPS_DE.order_id, DELIVERED_POWER_STRIPS_DE.customer_email
    complaint = "Die Steckdosenleiste ist beschädigt angekommen, das Gehäuse ist gebrochen."
    first = say(f"{complaint} ({order_id})", sender=email)
    assert first.outcome == "needs_info" and first.return_decision is None
    assert "Um wie viele" in first.text and "2" in first.text
    second = say("eine", sender=email)
    decision = second.return_decision
    assert second.outcome == "answered" and decision is not None
    assert decision.quantity == 1 and decision.refund is not None
    assert decision.refund.amount == Decimal("24.99")
    # The reason given before the question still holds; "eine" states none of its own.
    stated = extract_return_reason(complaint, "de")
    assert stated is not None and decision.reason == stated
    with store.sessions() as session:
        conv = session.scalars(select(ConversationRow)).one()
    assert conv.pending is None and conv.pending_reason is None


def test_all_as_the_answer_decides_the_whole_line(say: Say) -> None:
    order_id, email = HAZMAT_GAS_CANISTERS_UK.order_id, HAZMAT_GAS_CANISTERS_UK.customer_email
    first = say(f"I want to return the gas canisters, I bought the wrong kind by mistake. "
                f"({order_id})", sender=email)
    assert first.outcome == "needs_info" and "How many" in first.text
    second = say("all of them", sender=email)
    decision = second.return_decision
    assert decision is not None and decision.quantity == 2 and decision.refund is not None
    assert decision.refund.amount == Decimal("16.97") and decision.reason == "ordered_by_mistake"


def test_more_units_than_ordered_are_asked_again(say: Say) -> None:
    order_id, email = DELIVERED_POWER_STRIPS_DE.order_id, DELIVERED_POWER_STRIPS_DE.customer_email
    say(f"Die Steckdosenleiste ist kaputt ({order_id})", sender=email)
    again = say("3", sender=email)
    assert again.outcome == "needs_info" and "Um wie viele" in again.text


def test_the_quantity_question_names_the_price_of_one_unit(say: Say) -> None:
    order_id, email = DELIVERED_POWER_STRIPS_DE.order_id, DELIVERED_POWER_STRIPS_DE.customer_email
    first = say(f"Die Steckdosenleiste ist kaputt ({order_id})", sender=email)
    assert first.outcome == "needs_info" and "je 24,99" in first.text
    assert any(c.field == "items.unit_price" for c in first.citations)


def test_a_follow_up_beside_the_quantity_question_is_answered_and_the_question_stays(
        say: Say) -> None:
    order_id, email = DELIVERED_POWER_STRIPS_DE.order_id, DELIVERED_POWER_STRIPS_DE.customer_email
    say(f"Die Steckdosenleiste ist beschädigt angekommen ({order_id})", sender=email)
    # The deadline does not depend on how many: told, and the number asked again.
    until = say("Bis wann geht das?", sender=email)
    assert until.outcome == "needs_info" and "Um wie viele der 2 Stück" in until.text
    assert "Der letzte Tag für die Rückgabe" in until.text
    assert any(c.kind == "policy" for c in until.citations)
    decided = say("eine", sender=email)
    decision = decided.return_decision
    assert decided.outcome == "answered" and decision is not None and decision.quantity == 1
    assert decision.return_by is not None
    assert day(decision.return_by, "de") in until.text


def test_a_number_beside_a_follow_up_answers_the_quantity_question(say: Say) -> None:
    order_id, email = DELIVERED_POWER_STRIPS_DE.order_id, DELIVERED_POWER_STRIPS_DE.customer_email
    say(f"Die Steckdosenleiste ist beschädigt angekommen ({order_id})", sender=email)
    both = say("beide, bis wann?", sender=email)
    assert both.outcome == "answered" and both.return_decision is not None
    assert both.return_decision.quantity == 2
