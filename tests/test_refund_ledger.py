"""The refund ledger holds one refund per order line and cause: a replayed cause pays once, a
new cause refunds the line's other units, never more than were ordered; a ledger made when a
line had one refund at most is migrated at start, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from agent.db import Store, make_engine
from agent.models import LEGACY_REFUND_CAUSE, RefundRow
from agent.refunds import RecordedRefund, record_refund, refunded_units
from seller.claims import ClaimRequest, claims_of, file_claim
from tests.seller.conftest import NOW, SELLER, order_record, seller_record

pytestmark = pytest.mark.on_every_database

# The ledger as the version before causes made it: one refund per order line.
LEDGER_ONE_PER_LINE = """
CREATE TABLE refunds (
    id {id_type} PRIMARY KEY, order_id VARCHAR(32) NOT NULL, asin VARCHAR(10) NOT NULL,
    seller_id VARCHAR(64) NOT NULL, amount VARCHAR(32) NOT NULL, currency VARCHAR(3) NOT NULL,
    rule VARCHAR(64) NOT NULL, case_id VARCHAR(16), issued_at {datetime} NOT NULL,
    kind VARCHAR(24) DEFAULT 'returnless_refund' NOT NULL, reason VARCHAR(48),
    issued_by VARCHAR(8) DEFAULT 'service' NOT NULL, return_delivered_on DATE,
    UNIQUE (order_id, asin))
"""
INDEXES = ("CREATE INDEX ix_refunds_order_id ON refunds (order_id)",
           "CREATE INDEX ix_refunds_seller_id ON refunds (seller_id)")
ISSUED = datetime(2026, 11, 1, 9, tzinfo=UTC)


def refund(store: Store, *, asin: str = "B0KONTOR01", units: int, ordered: int, cause: str,
           amount: str = "20.00", order_id: str = "028-1111111-1111111") -> RecordedRefund:
    with store.sessions.begin() as session:
        recorded = record_refund(
            session, order_id=order_id, asin=asin, seller_id=SELLER, amount=Decimal(amount),
            currency="EUR", kind="returnless_refund", reason="damaged", rule="DE.window.30d",
            issued_at=ISSUED, units=units, ordered=ordered, cause=cause)
        session.expunge_all()
        return recorded


def test_causes_refund_a_line_unit_by_unit_and_a_replay_pays_once(tmp_path: Path) -> None:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"))
    first = refund(store, units=1, ordered=2, cause="message:1")
    assert first.outcome == "recorded" and first.refunded_units == 0
    replay = refund(store, units=1, ordered=2, cause="message:1", amount="99.00")
    assert replay.outcome == "replayed" and replay.row is not None and first.row is not None
    assert (replay.row.id, replay.row.amount) == (first.row.id, Decimal("20.00"))
    second = refund(store, units=1, ordered=2, cause="message:2")
    assert second.outcome == "recorded" and second.refunded_units == 1
    third = refund(store, units=1, ordered=2, cause="message:3")
    assert (third.outcome, third.row, third.issued, third.refunded_units) == (
        "line_refunded", None, False, 2)
    # Two units cannot go where one is left, and the refused call wrote nothing.
    other = refund(store, asin="B0KONTOR02", units=2, ordered=3, cause="message:4")
    assert other.outcome == "recorded"
    assert refund(store, asin="B0KONTOR02", units=2, ordered=3,
                  cause="message:5").outcome == "line_refunded"
    with store.reads() as session:
        rows = list(session.scalars(select(RefundRow).order_by(RefundRow.id)))
        assert [(r.asin, r.units, r.cause) for r in rows] == [
            ("B0KONTOR01", 1, "message:1"), ("B0KONTOR01", 1, "message:2"),
            ("B0KONTOR02", 2, "message:4")]
    with pytest.raises(ValueError):
        refund(store, asin="B0KONTOR03", units=3, ordered=2, cause="message:6")


def write_ledger_one_per_line(url: str) -> None:
    engine = create_engine(url)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        connection.exec_driver_sql(LEDGER_ONE_PER_LINE.format(
            id_type="SERIAL" if postgres else "INTEGER NOT NULL",
            datetime="TIMESTAMP WITH TIME ZONE" if postgres else "DATETIME"))
        for statement in INDEXES:
            connection.exec_driver_sql(statement)
        for row_id, asin, amount in ((7, "B0KONTOR01", "40.00"), (9, "B0KONTOR02", "15.00")):
            connection.execute(text(
                "INSERT INTO refunds (id, order_id, asin, seller_id, amount, currency, rule, "
                "issued_at) VALUES (:id, '028-1111111-1111111', :asin, :seller, :amount, "
                "'EUR', 'DE.window.30d', :at)"),
                {"id": row_id, "asin": asin, "seller": SELLER, "amount": amount, "at": ISSUED})
        if postgres:  # the sequence goes on after the ids written by hand
            connection.exec_driver_sql("SELECT setval('refunds_id_seq', 9)")
    engine.dispose()


def start_workers(url: str, count: int) -> list[Engine]:
    """``count`` workers starting at once on one database, as a server's processes do."""
    engines: list[Engine] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            engines.append(make_engine(url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    return engines


def test_a_ledger_of_one_refund_per_line_is_migrated_keeping_every_row(
        database_url: str) -> None:
    write_ledger_one_per_line(database_url)
    # The workers starting at once meet in the migration: one makes the other tables and
    # changes the ledger, the others find it done.
    engines = start_workers(database_url, 3)
    store = Store(engines[0])
    with store.reads() as session:
        kept = [(r.id, r.asin, r.amount, r.units, r.cause) for r in session.scalars(
            select(RefundRow).order_by(RefundRow.id))]
        # An old row refunded the whole line.
        assert refunded_units(session, order_id="028-1111111-1111111", asin="B0KONTOR01",
                              ordered=2) == 2
    assert kept == [(7, "B0KONTOR01", Decimal("40.00"), None, LEGACY_REFUND_CAUSE),
                    (9, "B0KONTOR02", Decimal("15.00"), None, LEGACY_REFUND_CAUSE)]
    # The line refunded before keeps its one refund; a new line takes several, one per cause.
    assert refund(store, units=1, ordered=2, cause="message:1").outcome == "line_refunded"
    for n in (1, 2):
        assert refund(store, asin="B0KONTOR03", units=1, ordered=2,
                      cause=f"message:{n}").outcome == "recorded"
    # The uniqueness is the line and cause's now, on the database itself.
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO refunds (order_id, asin, seller_id, amount, currency, rule, issued_at, "
            "cause) VALUES ('028-1111111-1111111', 'B0KONTOR03', :seller, '1.00', 'EUR', 'r', "
            ":at, 'message:1')"), {"seller": SELLER, "at": ISSUED})
    # A later start finds it migrated and changes nothing.
    again = make_engine(database_url)
    with Store(again).reads() as session:
        assert len(list(session.scalars(select(RefundRow)))) == 4
    for engine in (*engines, again):
        engine.dispose()


def test_two_refunds_on_one_line_are_claimed_one_claim_each(tmp_path: Path) -> None:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"))
    store.save(sellers=[seller_record()])
    order = order_record(purchased="2026-10-01", shipped="2026-10-02", quantity=2)
    store.save(orders=[order])
    asin = order.items[0].asin
    ids = []
    for cause in ("message:1", "message:2"):
        recorded = refund(store, order_id=order.order_id, asin=asin, units=1, ordered=2,
                          cause=cause)
        assert recorded.row is not None
        ids.append(recorded.row.id)
    for refund_id in ids:
        claim = file_claim(store, SELLER, ClaimRequest(order.order_id, "buyer_abuse",
                                                       refund_id=refund_id),
                           [], data_dir=tmp_path, now=NOW)
        assert (claim.refund_id, claim.amount_claimed) == (refund_id, Decimal("20.00"))
    assert sorted(c.refund_id or 0 for c in claims_of(store, SELLER)) == sorted(ids)
