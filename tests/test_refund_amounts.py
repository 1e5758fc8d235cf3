"""Refund amounts are exact Decimals in the ledger, and a ledger an earlier version wrote with
floats is migrated to them at start, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from agent.db import Store, make_engine
from agent.models import RefundRow
from agent.refunds import record_refund

# The refunds table as versions before exact amounts created it (amount a float column).
OLD_REFUNDS = """
CREATE TABLE refunds (
    id {id_type} PRIMARY KEY, order_id VARCHAR(32) NOT NULL, asin VARCHAR(10) NOT NULL,
    seller_id VARCHAR(64) NOT NULL, amount FLOAT NOT NULL, currency VARCHAR(3) NOT NULL,
    rule VARCHAR(64) NOT NULL, case_id VARCHAR(16), issued_at TIMESTAMP NOT NULL,
    UNIQUE (order_id, asin))
"""
OLD_ROWS = [("028-0000001-0000001", "B0DE6BW3R9", 48.94, "EUR"),
            ("028-0000001-0000001", "B0DE8SL2P7", 0.1 + 0.2, "EUR"),  # 0.30000000000000004
            ("250-0000001-0000001", "B0JP000001", 1499.0, "JPY")]


def write_old_ledger(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        # What SQLAlchemy made of an autoincrement integer key on each database.
        connection.exec_driver_sql(OLD_REFUNDS.format(
            id_type="SERIAL" if engine.dialect.name == "postgresql" else "INTEGER NOT NULL"))
        for order_id, asin, amount, currency in OLD_ROWS:
            connection.execute(text(
                "INSERT INTO refunds (order_id, asin, seller_id, amount, currency, rule, "
                "issued_at) VALUES (:order, :asin, 'A1LICHTWERK', :amount, :currency, "
                "'DE.case.expired', :at)"), {"order": order_id, "asin": asin, "amount": amount,
                                             "currency": currency,
                                             "at": datetime(2026, 11, 1, tzinfo=UTC)})
    engine.dispose()


def ledger(store: Store) -> list[tuple[str, Decimal]]:
    with store.reads() as session:
        return [(r.asin, r.amount) for r in session.scalars(select(RefundRow)
                                                             .order_by(RefundRow.id))]


def check_migration(url: str) -> None:
    write_old_ledger(url)
    store = Store(make_engine(url))
    # Rounded to each currency's smallest unit, exactly.
    assert ledger(store) == [("B0DE6BW3R9", Decimal("48.94")), ("B0DE8SL2P7", Decimal("0.30")),
                             ("B0JP000001", Decimal("1499"))]
    assert all(isinstance(amount, Decimal) for _, amount in ledger(store))
    # A second start finds the table migrated and changes nothing; new rows stay exact.
    again = Store(make_engine(url))
    with again.sessions.begin() as session:
        record_refund(session, order_id="028-0000002-0000002", asin="B0DE4LT7K2",
                      seller_id="A1LICHTWERK", amount=Decimal("52.61"), currency="EUR",
                      kind="returnless_refund", reason=None, rule="case.expired.shipment",
                      issued_at=datetime(2026, 11, 2, tzinfo=UTC), units=1, ordered=1,
                      cause="case:K2")
    assert ledger(again)[-1] == ("B0DE4LT7K2", Decimal("52.61"))
    assert len(ledger(again)) == 4
    store.engine.dispose()
    again.engine.dispose()


def test_a_float_ledger_becomes_exact_amounts_on_sqlite(tmp_path: Path) -> None:
    check_migration(f"sqlite:///{tmp_path / 'old.sqlite3'}")


@pytest.mark.slow
def test_a_float_ledger_becomes_exact_amounts_on_postgres(postgres_url: str) -> None:
    check_migration(postgres_url)
