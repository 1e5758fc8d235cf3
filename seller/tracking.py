"""A seller's valid tracking rate (VTR) per month: the history a statement's VTR rates read.

A month is billed at the rate the seller had in that month, never at today's: a statement of
October made in December must not change because the rate moved in November. Readings come
from sellers.jsonl (the ``csba`` block's ``valid_tracking_rate`` for the month it is read in,
and an optional ``valid_tracking_rates`` history by month) and from operators. An operator's
reading is never replaced by a file's; a later reading from the same source replaces an
earlier one of the same month (the rate settles as the month ends).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.models import TrackingRateRow
from agent.records import Seller
from seller.months import Month

log = logging.getLogger(__name__)

RateSource = Literal["contract", "operator"]
HISTORY_FIELD = "valid_tracking_rates"  # the csba block's optional {"YYYY-MM": rate}


def record_rate(session: Session, seller_id: str, month: Month, rate: Decimal,
                source: RateSource, at: datetime) -> TrackingRateRow:
    """Record the month's rate; a file's reading leaves an operator's in place."""
    if not Decimal(0) <= rate <= Decimal(1):
        raise ValueError(f"a valid tracking rate is within 0..1, got {rate}")
    row = session.scalar(select(TrackingRateRow).where(
        TrackingRateRow.seller_id == seller_id, TrackingRateRow.month == str(month)))
    if row is None:
        row = TrackingRateRow(seller_id=seller_id, month=str(month), rate=str(rate),
                              source=source, recorded_at=at)
        session.add(row)
    elif source == "operator" or row.source == "contract":
        row.rate, row.source, row.recorded_at = str(rate), source, at
    return row


def rate_for(session: Session, seller_id: str, month: Month) -> Decimal | None:
    """The seller's rate for the month; None when none was recorded for it."""
    rate = session.scalar(select(TrackingRateRow.rate).where(
        TrackingRateRow.seller_id == seller_id, TrackingRateRow.month == str(month)))
    return Decimal(rate) if rate is not None else None


def rates_of(session: Session, seller_id: str) -> list[TrackingRateRow]:
    """Every recorded month of a seller, oldest first."""
    return list(session.scalars(select(TrackingRateRow).where(
        TrackingRateRow.seller_id == seller_id).order_by(TrackingRateRow.month)))


def contract_history(seller: Seller) -> dict[Month, Decimal]:
    """The ``csba.valid_tracking_rates`` history of a seller record (validated with it)."""
    history = (seller.csba.model_extra or {}).get(HISTORY_FIELD) or {}
    assert isinstance(history, Mapping)
    return {Month.parse(str(m)): Decimal(str(r)) for m, r in history.items()}


def seed_rates(session: Session, sellers: Iterable[Seller], *, today: date | None,
               at: datetime) -> None:
    """Record the rates sellers.jsonl gives: its history by month, and the current rate for
    the month of ``today`` (the day it was read; skipped without one)."""
    for seller in sellers:
        readings = contract_history(seller)
        current = seller.csba.valid_tracking_rate
        if today is not None and current is not None:
            readings.setdefault(Month.of(today), Decimal(str(current)))
        for month, rate in sorted(readings.items()):
            record_rate(session, seller.seller_id, month, rate, "contract", at)
        if readings:
            log.info("seller %s: valid tracking rates recorded for %d months",
                     seller.seller_id, len(readings))
