"""Groundedness on hand-made replies: template wording is boilerplate, slot values are claims."""

from __future__ import annotations

from datetime import date

from agent.messages import Citation, Reply
from agent.records import Order
from agent.replies import render
from agent.returns import ReturnDecision
from base.money import Money
from evals.groundedness import Records, evidence_for, judge, split_sentences
from knowledge.pages import ProductPage
from tests.support.scenarios import DELIVERED_BEDDING_DE

ORDER_ID = DELIVERED_BEDDING_DE.order_id
PAGE = ProductPage.model_validate({
    "asin": "B0DE4LT7K2", "marketplace": "DE", "language": "de", "seller_id": "A1LICHTWERK",
    "title": "Lichtwerk Lumo LED-Schreibtischlampe", "price": {"amount": 49.99,
                                                               "currency": "EUR"},
    "attributes": {"item_weight": "1,35 kg"}})
ORDER = Order.model_validate({
    "order_id": ORDER_ID, "marketplace": "DE", "seller_id": "A1LICHTWERK",
    "fulfillment_channel": "MFN", "status": "delivered", "purchase_date": "2026-11-04",
    "delivery_date": "2026-11-07", "ship_to_country": "DE",
    "items": [{"asin": "B0DE4LT7K2", "quantity": 1,
               "unit_price": {"amount": 49.99, "currency": "EUR"}}]})
RECORDS = Records.of([PAGE], [ORDER])
DELIVERED = Citation(kind="order", order_id=ORDER_ID, field="delivery_date", text="2026-11-07")
WEIGHT = Citation(kind="product_page", asin="B0DE4LT7K2", field="attributes.item_weight",
                  text="1,35 kg")
POLICY = Citation(kind="policy", rule="DE.cross_border.low_value", text="DE.window.30d")


def grounded(text: str, citations: list[Citation], *, language: str = "de",
             decision: ReturnDecision | None = None, case_id: str | None = None,
             context: tuple[str, ...] = ()) -> list[bool]:
    reply = Reply(conversation_id="c", text=text, language=language, outcome="answered",
                  intent="order_status", citations=citations, return_decision=decision,
                  case_id=case_id)
    return [s.grounded for s in judge(reply, evidence_for(reply, RECORDS, context))]


def test_a_template_filled_from_the_cited_order_is_grounded() -> None:
    text = render("status_delivered", "de", order_id=ORDER_ID, delivery_date="7. November 2026")
    assert grounded(text, [DELIVERED]) == [True]
    wrong_day = render("status_delivered", "de", order_id=ORDER_ID,
                       delivery_date="8. November 2026")
    assert grounded(wrong_day, [DELIVERED]) == [False]


def test_a_slot_value_no_citation_holds_is_ungrounded() -> None:
    text = render("refund_issued", "en", refund="€19.99", item="Lichtwerk Lumo",
                  date="25 November 2026")
    decision = ReturnDecision(eligible=True, rule="DE.cross_border.low_value",
                              refund=Money(amount=19.99, currency="EUR"))
    # The amount and the item are in the evidence, the date is not.
    assert grounded(text, [POLICY], language="en", decision=decision) == [False]
    with_date = ReturnDecision(eligible=True, rule="DE.cross_border.low_value",
                               refund=Money(amount=19.99, currency="EUR"),
                               return_by=date(2026, 11, 25))
    assert grounded(text, [POLICY, DELIVERED], language="en", decision=with_date) == [True]


def test_policy_boilerplate_needs_a_citation_and_a_greeting_does_not() -> None:
    condition = render("condition_unused_complete", "en")
    assert grounded(condition, [], language="en") == [False]
    assert grounded(condition, [POLICY], language="en") == [True]
    assert grounded(render("greeting", "en"), [], language="en") == [True] * len(
        split_sentences(render("greeting", "en")))


def test_free_text_keeps_only_what_the_evidence_says() -> None:
    assert grounded("Lichtwerk Lumo: 1,35 kg.", [WEIGHT]) == [True]
    assert grounded("Lichtwerk Lumo: 2 kg.", [WEIGHT]) == [False]
    # A key term the page never uses is a claim of its own.
    assert grounded("Lichtwerk Lumo: 1,35 kg, wasserdicht.", [WEIGHT]) == [False]


def test_what_the_customer_said_may_be_repeated() -> None:
    text = render("code_ask", "en", order_id=ORDER_ID)
    assert all(grounded(text, [], language="en", context=(f"Where is {ORDER_ID}?",)))
    assert not all(grounded(text, [], language="en"))


def test_a_german_date_is_one_sentence() -> None:
    text = "Zugestellt am 7. November 2026. Danke."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Zugestellt am 7. November 2026.", "Danke."]
