"""Contacts: one per order and day whatever the channel and number of messages, recorded by
the real turn, never for orders outside the service."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage
from agent.models import ContactRow
from tests.seller.conftest import Ask, order_record


def contacts(store: Store) -> list[tuple[str, date, str, str, int]]:
    with store.sessions() as session:
        return [(r.order_id, r.day, r.channel, r.outcome, r.turns) for r in session.scalars(
            select(ContactRow).order_by(ContactRow.day, ContactRow.id))]


def test_one_order_on_one_day_is_one_contact_whatever_the_channel(account_store: Store,
                                                                  ask: Ask) -> None:
    order = order_record(purchased="2026-08-01", shipped="2026-08-02")
    account_store.save(orders=[order])
    assert ask(order, "2026-08-10", channel="email").outcome == "answered"
    assert ask(order, "2026-08-10", channel="chat").outcome == "answered"
    ask(order, "2026-08-10", channel="email", thread=f"email-{order.order_id}-2026-08-10",
        text="And when will it arrive?")
    assert contacts(account_store) == [(order.order_id, date(2026, 8, 10), "email",
                                        "answered", 3)]
    ask(order, "2026-08-11")
    assert [c[1] for c in contacts(account_store)] == [date(2026, 8, 10), date(2026, 8, 11)]


def test_a_redelivered_message_counts_once(account_store: Store,
                                           account_agent: Agent) -> None:
    order = order_record(purchased="2026-08-01", shipped="2026-08-02")
    account_store.save(orders=[order])
    message = InboundMessage(channel="email", sender=order.customer.email or "",
                             verified_contact=order.customer.email or "",
                             text=f"Where is my order {order.order_id}?", thread_key="t-1",
                             received_at=datetime(2026, 8, 10, 9, tzinfo=UTC),
                             provider_message_id="<same@example.de>")
    account_agent.handle(message)
    account_agent.handle(message)
    assert [c[4] for c in contacts(account_store)] == [1]


def test_orders_outside_the_service_are_no_contact(account_store: Store, ask: Ask) -> None:
    afn = order_record(purchased="2026-08-01", shipped="2026-08-02", channel="AFN")
    prime = order_record(purchased="2026-08-01", shipped="2026-08-02", prime=True)
    before = order_record(purchased="2026-01-02", shipped="2026-01-03")  # before enrolment
    account_store.save(orders=[afn, prime, before])
    for order in (afn, prime, before):
        assert ask(order, "2026-08-10").outcome == "redirected"
    assert contacts(account_store) == []


def test_a_customer_who_is_not_verified_is_no_contact_yet(account_store: Store,
                                                          ask: Ask) -> None:
    order = order_record(purchased="2026-08-01", shipped="2026-08-02")
    account_store.save(orders=[order])
    reply = ask(order, "2026-08-10", channel="chat", proven=False,
                text=f"Where is my order {order.order_id}?")  # anonymous: who is asking?
    assert reply.outcome == "needs_info"
    assert contacts(account_store) == []
