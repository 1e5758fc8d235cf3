"""Claims made when a claim covered a whole order stay readable once claims are per refund,
on SQLite and on PostgreSQL; the order they cover stays claimed, other orders' refunds are
claimed one by one."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from agent.db import Store, make_engine
from agent.refunds import record_refund
from seller.claims import ClaimRefusal, ClaimRequest, claims_of, file_claim
from tests.seller.conftest import NOW, SELLER, order_record, seller_record

pytestmark = pytest.mark.on_every_database

# The claims table as it was made while a claim covered a whole order (UNIQUE order_id).
OLD_CLAIMS = """
CREATE TABLE claims (
    id VARCHAR(16) NOT NULL, seller_id VARCHAR(64) NOT NULL, order_id VARCHAR(32) NOT NULL,
    marketplace VARCHAR(2) NOT NULL, reason VARCHAR(48) NOT NULL, description TEXT NOT NULL,
    tracking_id VARCHAR(64), signature_confirmed BOOLEAN NOT NULL,
    amount_claimed VARCHAR(24) NOT NULL, currency VARCHAR(3) NOT NULL,
    status VARCHAR(16) NOT NULL, filed_at {datetime} NOT NULL,
    window_ends_on VARCHAR(10) NOT NULL, decided_at {datetime}, decision_reason TEXT,
    amount_granted VARCHAR(24), evidence {json} NOT NULL, PRIMARY KEY (id), UNIQUE (order_id))
"""
OLD_INDEXES = ("CREATE INDEX ix_claims_status ON claims (status)",
               "CREATE INDEX ix_claims_seller_id ON claims (seller_id)")


def refund(store: Store, order_id: str, asin: str, amount: str) -> int:
    with store.sessions.begin() as session:
        row = record_refund(
            session, order_id=order_id, asin=asin, seller_id=SELLER, amount=Decimal(amount),
            currency="EUR", kind="returnless_refund", reason="damaged", rule="DE.window.30d",
            issued_at=datetime.fromisoformat("2026-11-01T09:00:00+00:00"), units=1,
            ordered=1, cause=f"case:{order_id}").row
        assert row is not None
        return row.id


def test_claims_filed_per_order_stay_readable_and_keep_their_order_claimed(
        database_url: str, tmp_path: Path) -> None:
    postgres = database_url.startswith("postgres")
    before = create_engine(database_url)  # the database as the earlier version left it
    with before.begin() as connection:
        connection.execute(text(OLD_CLAIMS.format(
            datetime="TIMESTAMP WITH TIME ZONE" if postgres else "DATETIME",
            json="JSON")))
        for statement in OLD_INDEXES:
            connection.execute(text(statement))
    before.dispose()
    engine = make_engine(database_url)
    store = Store(engine)
    store.save(sellers=[seller_record()])
    old = order_record(purchased="2026-10-01", shipped="2026-10-02", quantity=2)
    two_lines = order_record(purchased="2026-10-01", shipped="2026-10-02", items=[
        {"asin": "B0KONTOR01", "quantity": 1, "unit_price": {"amount": 20.0, "currency": "EUR"}},
        {"asin": "B0KONTOR02", "quantity": 1, "unit_price": {"amount": 15.0, "currency": "EUR"}},
    ])
    store.save(orders=[old, two_lines])
    refund(store, old.order_id, "B0KONTOR01", "40.00")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO claims (id, seller_id, order_id, marketplace, reason, description, "
            "signature_confirmed, amount_claimed, currency, status, filed_at, "
            "window_ends_on, evidence) VALUES ('CL-OLDONE1', :seller, :order, 'DE', "
            "'buyer_abuse', 'Empty box.', false, '40.00', 'EUR', 'filed', :at, "
            "'2026-12-31', '[]')"), {"seller": SELLER, "order": old.order_id, "at": NOW})

    # Readable as before: the whole order's claim, no refund of its own.
    (kept,) = claims_of(store, SELLER)
    assert (kept.id, kept.order_id, kept.refund_id, kept.amount_claimed) == (
        "CL-OLDONE1", old.order_id, None, Decimal("40.00"))
    # Its order stays claimed, even on a refund recorded since.
    later = refund(store, old.order_id, "B0KONTOR09", "5.00")
    with pytest.raises(ClaimRefusal) as refused:
        file_claim(store, SELLER, ClaimRequest(old.order_id, "buyer_abuse", refund_id=later),
                   [], data_dir=tmp_path, now=NOW)
    assert refused.value.rule == "claim.one_per_refund"
    # Another order: both its refunds are claimed, one claim each (the order no longer unique).
    for asin, amount in (("B0KONTOR01", "20.00"), ("B0KONTOR02", "15.00")):
        refund_id = refund(store, two_lines.order_id, asin, amount)
        claim = file_claim(store, SELLER, ClaimRequest(two_lines.order_id, "buyer_abuse",
                                                       refund_id=refund_id),
                           [], data_dir=tmp_path, now=NOW)
        assert (claim.refund_id, claim.amount_claimed) == (refund_id, Decimal(amount))
    assert len(claims_of(store, SELLER)) == 3
    engine.dispose()
