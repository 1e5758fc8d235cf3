"""Cases the seller leaves unanswered: each category's deadline and what the service then does,
by the case rules (knowledge/case_rules.json), through the agent as channels drive it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from agent.cases import due_cases
from agent.core import Agent
from agent.db import Store
from agent.models import CaseRow, OutboxRow, RefundRow
from agent.records import Order
from agent.refunds import record_refund
from agent.replies import reply_languages, templates
from base.money import MARKETPLACES
from knowledge.case_rules import SILENT, load_case_rules
from knowledge.policy import load_policy
from seller.ingest import DEMO_DATA_DIR
from tests.agent.conftest import NOW, Say
from tests.support.scenarios import (
    DELIVERED_BEDDING_DE,
    DELIVERED_HEADLAMP_US,
    HAZMAT_POWER_BANK_ES,
    LATE_POWER_STRIP_DE,
    PENDING_CEILING_LIGHT_DE,
    SMART_PLUGS_AND_HDMI_US,
    Scenario,
)

pytestmark = pytest.mark.slow

# DELIVERED_BEDDING_DE: 44.95 EUR + 3.99 shipping; LATE_POWER_STRIP_DE: estimate 2026-11-24.
OPENED = datetime.fromisoformat(NOW)
A_DAY_LATER = OPENED + timedelta(hours=24, minutes=1)

# Categories the agent opens cases in (agent/intents/, agent/core.py): each needs an expiry rule.
CATEGORIES = {"product_question", "return", "missing_parts", "replacement", "shipment",
              "cancel", "person", "not_understood"}


def demo_order(order_id: str) -> dict[str, Any]:
    for line in (DEMO_DATA_DIR / "orders.jsonl").read_text("utf-8").splitlines():
        if line.strip() and json.loads(line)["order_id"] == order_id:
            found: dict[str, Any] = json.loads(line)
            return found
    raise LookupError(order_id)


def add_order(store: Store, base: Scenario, **changes: Any) -> tuple[str, str]:
    """A demo order copied under a new number and customer, with ``changes``."""
    data = demo_order(base.order_id) | changes
    data["customer"] = {"name": "Test Kunde", "email": f"{data['order_id']}@example.org"}
    store.save(orders=[Order.model_validate(data)])
    return data["order_id"], data["customer"]["email"]


def ask(say: Say, order: Scenario | tuple[str, str], text: str, **kw: Any) -> Any:
    order_id, email = ((order.order_id, order.customer_email) if isinstance(order, Scenario)
                       else order)
    return say(f"{text} ({order_id})", sender=email, **kw)


def expired(store: Store, agent: Agent, case_id: str, at: datetime
            ) -> tuple[CaseRow, str, list[RefundRow]]:
    assert agent.expire_cases(at) == [case_id]
    with store.sessions() as s:
        case = s.get_one(CaseRow, case_id)
        told = s.scalar(select(OutboxRow).where(
            OutboxRow.dedupe_key == f"case-expired:{case_id}"))
        assert told is not None
        refunds = list(s.scalars(select(RefundRow).where(RefundRow.case_id == case_id)
                                 .order_by(RefundRow.asin)))
        return case, told.body, refunds


def seller_mail(store: Store, case_id: str) -> str:
    with store.sessions() as s:
        sent = s.scalar(select(OutboxRow).where(OutboxRow.dedupe_key == f"case-notify:{case_id}"))
        assert sent is not None
        return sent.body


# --- the data ---------------------------------------------------------------------------------


def test_every_case_category_has_one_expiry_rule_with_a_source_or_a_reason() -> None:
    rules = load_case_rules()
    for category in CATEGORIES:
        rule = rules.for_case(category)
        assert rule.category == category and rule.id.startswith("case.expired.")
        assert rule.source.startswith("https://") or (rule.source == SILENT and rule.note)
    assert {r.category for r in rules.expiry} == CATEGORIES
    # Only return, item-problem and shipment cases may ever pay anything.
    assert {r.category for r in rules.expiry if r.refunds} == {
        "return", "missing_parts", "replacement", "shipment"}


def test_the_cross_border_no_method_deadline_is_the_policies_five_days() -> None:
    rule = load_case_rules().for_case("return", "cross_border_no_method")
    assert rule.id == "case.expired.return.cross_border_no_method"
    assert rule.due == timedelta(days=5)
    for marketplace in MARKETPLACES:
        assert timedelta(days=load_policy(marketplace).cross_border.seller_method_days) \
            == rule.due
    assert load_case_rules().for_case("return", "hazmat_manual_authorisation").due \
        == timedelta(hours=24)


def test_every_reply_language_says_what_happens_on_expiry() -> None:
    keys = {"case_expired_shipment", "case_expired_shipment_delivered", "case_expired_cancel",
            "case_expired_options"}
    for language in reply_languages():
        assert keys <= set(templates(language)), language


# --- no refund --------------------------------------------------------------------------------


def test_a_request_for_a_person_expires_with_the_options_and_no_refund(
        say: Say, agent: Agent, store: Store) -> None:
    reply = ask(say, DELIVERED_BEDDING_DE, "Ich möchte bitte mit einem Menschen sprechen.")
    assert reply.intent == "ask_for_person" and reply.case_id
    assert "bis zum 26. November 2026" in reply.text  # the case's own deadline, 24 hours on
    case, told, refunds = expired(store, agent, reply.case_id, A_DAY_LATER)
    assert refunds == []  # the customer keeps nothing they were not owed
    assert case.resolution is not None and case.resolution["rule"] == "case.expired.person"
    assert "refund" not in case.resolution
    assert "zurückzugeben" in told and "neue Frage" in told
    assert DELIVERED_BEDDING_DE.order_id in told


def test_not_understood_twice_expires_with_the_options_and_no_refund(
        say: Say, agent: Agent, store: Store) -> None:
    ask(say, DELIVERED_BEDDING_DE, "Blau Wolke Gurke siebzehn?")
    second = say("Gurke Wolke blau?", sender=DELIVERED_BEDDING_DE.customer_email)
    assert second.outcome == "escalated" and second.case_id
    case, told, refunds = expired(store, agent, second.case_id, A_DAY_LATER)
    assert refunds == []
    assert case.resolution is not None
    assert case.resolution["rule"] == "case.expired.not_understood"
    assert "neue Frage" in told


def test_an_unconfirmed_cancellation_refunds_nothing_and_offers_a_free_return(
        say: Say, agent: Agent, store: Store) -> None:
    reply = ask(say, PENDING_CEILING_LIGHT_DE, "Bitte stornieren Sie meine Bestellung.")
    assert reply.outcome == "escalated" and reply.case_id
    # Lichtwerk reads German: "you did not confirm the cancellation".
    assert "dass Sie die Stornierung nicht bestätigt haben" in seller_mail(store, reply.case_id)
    case, told, refunds = expired(store, agent, reply.case_id, A_DAY_LATER)
    assert refunds == []  # the order may still ship
    assert case.resolution is not None and case.resolution["rule"] == "case.expired.cancel"
    assert "nicht rechtzeitig bestätigt" in told and "kostenlos zurückgeben" in told


def test_an_unanswered_product_question_refunds_nothing(
        say: Say, agent: Agent, store: Store) -> None:
    reply = ask(say, DELIVERED_HEADLAMP_US, "Does the headlamp fit a Petzl bicycle helmet mount?")
    assert reply.outcome == "escalated" and reply.case_id
    assert "could not confirm" in seller_mail(store, reply.case_id)
    case, _, refunds = expired(store, agent, reply.case_id, A_DAY_LATER)
    assert refunds == []
    assert case.resolution is not None
    assert case.resolution["rule"] == "case.expired.product_question"


# --- refunds ----------------------------------------------------------------------------------


def test_a_lost_shipment_refunds_every_undelivered_line_and_all_the_shipping(
        say: Say, agent: Agent, store: Store) -> None:
    order = add_order(
        store, LATE_POWER_STRIP_DE, order_id="028-9000001-0000001",
        estimated_delivery_date="2026-11-18",
        items=[{"asin": "B0DE6BW3R9", "quantity": 1,
                "unit_price": {"amount": 44.95, "currency": "EUR"}},
               {"asin": "B0DE8SL2P7", "quantity": 2,
                "unit_price": {"amount": 24.99, "currency": "EUR"}}],
        shipping_paid={"amount": 4.99, "currency": "EUR"})
    reply = ask(say, order, "Wo ist meine Bestellung? Sie ist immer noch nicht da.")
    assert reply.outcome == "escalated" and reply.case_id
    case, told, refunds = expired(store, agent, reply.case_id, A_DAY_LATER)
    # 94.93 of items; the 4.99 shipping split by value: 2.36 and 2.63.
    assert [(r.asin, r.amount) for r in refunds] == [
        ("B0DE6BW3R9", Decimal("47.31")), ("B0DE8SL2P7", Decimal("52.61"))]
    assert {r.rule for r in refunds} == {"case.expired.shipment"}
    assert case.resolution is not None and case.resolution["rule"] == "case.expired.shipment"
    assert case.resolution["refund"] == {"amount": "99.92", "currency": "EUR"}
    assert "99,92" in told


def test_the_overdue_case_opens_three_days_after_the_estimate(say: Say) -> None:
    # LATE_POWER_STRIP_DE was expected on 2026-11-24.
    before = ask(say, LATE_POWER_STRIP_DE, "Wo ist meine Bestellung?",
                 at="2026-11-26T10:00:00+00:00", thread="before")
    assert before.outcome == "answered" and "27. November 2026" in before.text
    due = ask(say, LATE_POWER_STRIP_DE, "Wo ist meine Bestellung?", at="2026-11-27T10:00:00+00:00",
              thread="on-the-day")
    assert due.outcome == "escalated" and due.case_id


def test_a_missing_parts_case_refunds_the_item_with_its_shipping_share(
        say: Say, agent: Agent, store: Store) -> None:
    reply = ask(say, DELIVERED_BEDDING_DE, "Im Karton fehlen die Kissenbezüge, es fehlen Teile.")
    assert reply.outcome == "escalated" and reply.case_id
    with store.sessions() as s:
        assert s.get_one(CaseRow, reply.case_id).category == "missing_parts"
    case, told, refunds = expired(store, agent, reply.case_id, A_DAY_LATER)
    assert [(r.asin, r.amount, r.rule) for r in refunds] == [
        ("B0DE6BW3R9", Decimal("48.94"), "case.expired.missing_parts")]  # 44.95 + 3.99
    assert case.resolution is not None
    assert case.resolution["refund"] == {"amount": "48.94", "currency": "EUR"}
    assert "48,94" in told


def test_a_hazmat_return_case_pays_the_refund_the_customer_was_told(
        say: Say, agent: Agent, store: Store) -> None:
    order = add_order(store, HAZMAT_POWER_BANK_ES, order_id="171-9000002-0000002",
                      shipping_paid={"amount": 4.0, "currency": "EUR"})
    reply = ask(say, order, "La batería externa está defectuosa, quiero devolverla.")
    decision = reply.return_decision
    assert decision is not None and decision.case_reason == "hazmat_manual_authorisation"
    assert decision.refund is not None and decision.refund.amount == Decimal("49.99")
    assert reply.case_id
    case, _, refunds = expired(store, agent, reply.case_id, A_DAY_LATER)
    # Cross-border: the item and the original shipping, as the decision said.
    assert [(r.amount, r.rule) for r in refunds] == [(Decimal("49.99"), "case.expired.return")]


def test_a_return_case_on_a_line_refunded_since_pays_nothing_more(
        say: Say, agent: Agent, store: Store) -> None:
    order = add_order(store, HAZMAT_POWER_BANK_ES, order_id="171-9000003-0000003",
                      shipping_paid={"amount": 4.0, "currency": "EUR"})
    reply = ask(say, order, "La batería externa está defectuosa, quiero devolverla.")
    assert reply.case_id and reply.return_decision is not None
    item = demo_order(HAZMAT_POWER_BANK_ES.order_id)["items"][0]
    with store.sessions.begin() as session:  # an operator refunded the line meanwhile
        record_refund(session, order_id=order[0], asin=item["asin"], seller_id="A3BRIGHTWAY",
                      amount=Decimal("49.99"), currency="EUR", kind="goodwill",
                      reason="defective", rule="ES.goodwill", issued_at=OPENED,
                      units=item["quantity"], ordered=item["quantity"], cause="operator:op-9")
    case, told, refunds = expired(store, agent, reply.case_id, A_DAY_LATER)
    assert refunds == [] and case.resolution is not None and "refund" not in case.resolution
    assert "ya se ha reembolsado" in told and "tramitado" not in told
    with store.sessions() as session:
        assert len(list(session.scalars(select(RefundRow)))) == 1


def test_a_seller_abroad_without_a_return_method_has_five_days_everywhere(
        say: Say, agent: Agent, store: Store) -> None:
    order = add_order(
        store, SMART_PLUGS_AND_HDMI_US, order_id="111-9000003-0000003",
        purchase_date="2026-11-15", ship_date="2026-11-16",
        estimated_delivery_date="2026-11-21", delivery_date="2026-11-20",
        items=[{"asin": "B0USBW3C65", "quantity": 1,
                "unit_price": {"amount": 32.99, "currency": "USD"}}],
        shipping_paid={"amount": 5.0, "currency": "USD"})
    reply = ask(say, order, "I want to return the charger, I ordered the wrong one.")
    decision = reply.return_decision
    assert decision is not None and decision.case_reason == "cross_border_no_method"
    assert reply.case_id
    due = OPENED + timedelta(days=5)
    # The customer, the seller's mail and the case the portal shows name one deadline.
    assert "30 November 2026" in reply.text
    mail = seller_mail(store, reply.case_id)
    assert "Please answer by 2026-11-30 10:00 (UTC)" in mail
    assert "2026-11-26" not in mail and "by the deadline of this case" in mail
    with store.sessions() as s:
        case = s.get_one(CaseRow, reply.case_id)
        assert case.due_at.replace(tzinfo=OPENED.tzinfo) == due
        assert case.expiry_rule == "case.expired.return.cross_border_no_method"
    assert agent.expire_cases(A_DAY_LATER) == []  # not after 24 hours
    assert agent.expire_cases(due - timedelta(minutes=1)) == []
    case, told, refunds = expired(store, agent, reply.case_id, due)
    # Item and original shipping, as the customer was told; the seller pays.
    assert [(r.amount, r.currency, r.rule) for r in refunds] == [
        (Decimal("37.99"), "USD", "case.expired.return.cross_border_no_method")]
    assert "37.99" in told


# --- several server processes ----------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_case_another_process_is_expiring_is_skipped_not_decided_twice(
        say: Say, agent: Agent, store: Store) -> None:
    """Every worker of `csba serve --workers N` (and every host) runs the expiry round. On
    PostgreSQL two rounds at once both read the case open; the row lock makes the second skip
    it. (On SQLite the rounds take turns at the one write lock.)"""
    reply = ask(say, DELIVERED_BEDDING_DE, "Ich möchte bitte mit einem Menschen sprechen.")
    assert reply.case_id
    with store.sessions.begin() as other_round:
        assert [c.id for c in due_cases(other_round, A_DAY_LATER)] == [reply.case_id]
        assert agent.expire_cases(A_DAY_LATER) == []
    assert agent.expire_cases(A_DAY_LATER) == [reply.case_id]
    assert agent.expire_cases(A_DAY_LATER) == []
    with store.sessions() as s:
        assert len(list(s.scalars(select(OutboxRow).where(
            OutboxRow.dedupe_key == f"case-expired:{reply.case_id}")))) == 1
