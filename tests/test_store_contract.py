"""The store's contract (``agent.db.RecordStore``), held on every database the service runs
on: records round trip whole, contacts find their orders, amounts come back exact, and the
schema is the models' at the newest migration, whether the database is new or older."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, select, text

from agent import migrations
from agent.db import RecordStore, Store, make_engine
from agent.models import Base, ConversationRow, MessageRow, RefundRow
from agent.records import Order, Seller
from base.jsonl import read_jsonl
from knowledge.pages import ProductPage
from seller.ingest import DEMO_DATA_DIR

pytestmark = pytest.mark.on_every_database

WHEN = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture()
def store(database_url: str) -> Iterator[RecordStore]:
    """An empty store."""
    opened = Store(make_engine(database_url))
    yield opened
    opened.engine.dispose()


def demo_orders() -> list[Order]:
    return read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order)


def test_orders_and_sellers_round_trip(store: RecordStore) -> None:
    orders = demo_orders()
    sellers = read_jsonl(DEMO_DATA_DIR / "sellers.jsonl", Seller)
    store.save(orders=orders, sellers=sellers)
    assert store.counts() == {"sellers": len(sellers), "orders": len(orders), "pages": 0}
    assert store.order(orders[0].order_id) == orders[0]
    assert store.seller(sellers[0].seller_id) == sellers[0]
    assert store.order("000-0000000-0000000") is None
    assert store.seller("no-such-seller") is None
    store.save(orders=orders[:1])  # saving again updates, never duplicates
    assert store.counts()["orders"] == len(orders)


def test_unknown_fields_survive_the_database(store: RecordStore) -> None:
    row = json.loads((DEMO_DATA_DIR / "orders.jsonl").read_text("utf-8").splitlines()[0])
    row["gift_message"] = "kept"
    order = Order.model_validate(row)
    store.save(orders=[order])
    saved = store.order(order.order_id)
    assert saved is not None and saved.model_dump()["gift_message"] == "kept"


def test_a_contact_finds_its_orders_however_it_is_written(store: RecordStore) -> None:
    orders = demo_orders()
    store.save(orders=orders)
    order = next(o for o in orders if o.customer.email and o.customer.phone)
    email, phone = order.customer.email or "", order.customer.phone or ""
    mine = {o.order_id for o in orders if o.customer.email == email}
    assert {o.order_id for o in store.orders_for_contact(email.upper())} == mine
    assert order.order_id in {o.order_id for o in store.orders_for_contact(f"whatsapp:{phone}")}
    assert store.orders_for_contact("nobody@example.com") == []


def test_pages_are_saved_listed_and_deleted(store: RecordStore,
                                           demo_pages: list[ProductPage]) -> None:
    store.save(pages=demo_pages[:3])
    first = demo_pages[0]
    assert store.page(first.asin, first.marketplace) == first
    assert store.page_keys() == {(p.asin, p.marketplace) for p in demo_pages[:3]}
    store.delete_pages([(first.asin, first.marketplace), ("B000000000", "DE")])
    assert store.page(first.asin, first.marketplace) is None
    assert store.counts()["pages"] == 2


def test_a_stored_message_is_known_by_its_channel_and_id(store: RecordStore) -> None:
    with store.sessions.begin() as session:
        session.add(ConversationRow(id="c1", channel="sms", thread_key="t", contact="+49",
                                    created_at=WHEN, updated_at=WHEN))
        session.flush()
        session.add(MessageRow(conversation_id="c1", channel="sms", provider_message_id="SM1",
                               text="Hallo", received_at=WHEN))
    assert store.has_message("sms", "SM1")
    assert not store.has_message("email", "SM1") and not store.has_message("sms", "SM2")


def refund_row(amount: str, currency: str, asin: str) -> RefundRow:
    return RefundRow(order_id="028-1111111-1111111", asin=asin, seller_id="S1",
                     amount=Decimal(amount), currency=currency, rule="DE.window.30d",
                     issued_at=WHEN, cause=f"test:{asin}")


def test_amounts_come_back_exact(store: RecordStore) -> None:
    amounts = {"B0000000A1": ("28.98", "EUR"), "B0000000A2": ("1499", "JPY"),
               "B0000000A3": ("0.10", "EUR"), "B0000000A4": ("123456789.01", "EUR")}
    with store.sessions.begin() as session:
        session.add_all(refund_row(a, c, asin) for asin, (a, c) in amounts.items())
    with store.reads() as session:
        stored = {r.asin: r.amount for r in session.scalars(select(RefundRow))}
    assert {asin: str(v) for asin, v in stored.items()} == {
        asin: a for asin, (a, _) in amounts.items()}


def test_the_schema_is_the_models_at_the_newest_migration(store: RecordStore) -> None:
    with store.engine.connect() as connection:
        assert migrations.current(connection) == migrations.head()
        context = MigrationContext.configure(
            connection, opts={"compare_type": migrations.compare_type})
        assert compare_metadata(context, Base.metadata) == []


def test_a_database_of_an_earlier_revision_is_migrated_keeping_its_amounts(
        database_url: str) -> None:
    before = create_engine(database_url)
    with before.begin() as connection:
        command.upgrade(migrations.config(connection), "0001")
        connection.execute(text(
            "INSERT INTO refunds (order_id, asin, seller_id, amount, currency, rule, "
            "issued_at, kind, issued_by, cause) VALUES ('028-1111111-1111111', 'B0KONTOR01', "
            "'S1', '28.98', 'EUR', 'DE.window.30d', :at, 'returnless_refund', 'service', "
            "'legacy')"), {"at": WHEN})
    before.dispose()
    store = Store(make_engine(database_url))  # as a starting server does
    try:
        with store.reads() as session:
            assert session.scalars(select(RefundRow.amount)).all() == [Decimal("28.98")]
        with store.engine.connect() as connection:
            assert migrations.current(connection) == migrations.head()
    finally:
        store.engine.dispose()
