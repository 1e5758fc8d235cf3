"""A seller's enrolment history in the service: the periods coverage and the free trial follow.

Coverage of an order is decided by the periods at its purchase date, never by today's status
alone, so an opt-out ends coverage only for orders placed after it. This module keeps the
history; it decides nothing about fees.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import Store
from agent.models import EnrolmentRow, SellerRow
from agent.records import Enrolment, Seller

log = logging.getLogger(__name__)

EnrolmentSource = Literal["contract", "portal"]


class EnrolmentError(ValueError):
    """An enrolment change that is not allowed; ``rule`` names the rule that refused it."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class EnrolmentPeriod:
    """Enrolled from ``enrolled_on`` (included) until ``opted_out_on`` (excluded), or still."""

    enrolled_on: date
    opted_out_on: date | None = None

    def covers(self, day: date) -> bool:
        return self.enrolled_on <= day and (self.opted_out_on is None or day < self.opted_out_on)

    @property
    def open(self) -> bool:
        return self.opted_out_on is None


def periods_from_contract(csba: Enrolment) -> tuple[EnrolmentPeriod, ...]:
    """The one period a sellers.jsonl ``csba`` block describes."""
    return (EnrolmentPeriod(csba.enrolled_on, csba.opted_out_on),)


def covered_on(periods: Sequence[EnrolmentPeriod], day: date) -> bool:
    return any(p.covers(day) for p in periods)


def first_enrolled_on(periods: Sequence[EnrolmentPeriod]) -> date | None:
    """The start of the first period: the free trial runs from here, once per seller."""
    return min((p.enrolled_on for p in periods), default=None)


def enrolment_history(session: Session, seller_id: str) -> tuple[EnrolmentPeriod, ...]:
    """Every period of a seller, oldest first (empty when none was recorded)."""
    rows = session.scalars(select(EnrolmentRow).where(EnrolmentRow.seller_id == seller_id)
                           .order_by(EnrolmentRow.enrolled_on))
    return tuple(EnrolmentPeriod(r.enrolled_on, r.opted_out_on) for r in rows)


def seller_periods(session: Session, seller: Seller) -> tuple[EnrolmentPeriod, ...]:
    """The recorded history, or the contract's own period when none was recorded (records
    saved without an ingest)."""
    return enrolment_history(session, seller.seller_id) or periods_from_contract(seller.csba)


def seed_enrolment(session: Session, seller: Seller) -> None:
    """Bring the history in line with a sellers.jsonl ``csba`` block, keeping what it knows.

    The block describes the current period: it is recorded (or its opt-out date updated);
    an earlier period still open closes where the new one starts.
    """
    csba = seller.csba
    rows = list(session.scalars(select(EnrolmentRow).where(
        EnrolmentRow.seller_id == seller.seller_id).order_by(EnrolmentRow.enrolled_on)))
    same = next((r for r in rows if r.enrolled_on == csba.enrolled_on), None)
    if same is None:
        for row in rows:
            if row.opted_out_on is None and row.enrolled_on < csba.enrolled_on:
                row.opted_out_on = csba.enrolled_on
        session.add(EnrolmentRow(seller_id=seller.seller_id, enrolled_on=csba.enrolled_on,
                                 opted_out_on=csba.opted_out_on, source="contract"))
    elif same.opted_out_on != csba.opted_out_on:
        same.opted_out_on = csba.opted_out_on


def seed_enrolments(store: Store, sellers: Iterable[Seller]) -> None:
    with store.sessions.begin() as session:
        for seller in sellers:
            seed_enrolment(session, seller)


def _write_contract_block(session: Session, seller_id: str, period: EnrolmentPeriod) -> None:
    # sellers.jsonl's csba block keeps describing the current period for programs that read it.
    row = session.get_one(SellerRow, seller_id)
    csba = dict(row.data.get("csba") or {})
    csba["enrolled_on"] = period.enrolled_on.isoformat()
    if period.open:
        csba["status"] = "active"
        csba.pop("opted_out_on", None)
    else:
        csba["status"] = "opted_out"
        csba["opted_out_on"] = period.opted_out_on.isoformat() if period.opted_out_on else None
    row.data = {**row.data, "csba": csba}


def enrol(store: Store, seller_id: str, on: date) -> tuple[EnrolmentPeriod, ...]:
    """Start a period on ``on`` (a re-enrolment when the seller was enrolled before)."""
    with store.sessions.begin() as session:
        seller_row = session.get(SellerRow, seller_id)
        if seller_row is None:
            raise EnrolmentError("enrolment.unknown_seller", f"no seller {seller_id!r}")
        periods = seller_periods(session, Seller.model_validate(seller_row.data))
        _record_missing(session, seller_id, periods)
        if any(p.open for p in periods):
            raise EnrolmentError("enrolment.already_active",
                                 f"seller {seller_id} is already enrolled")
        last = max((p.opted_out_on for p in periods if p.opted_out_on), default=None)
        if last is not None and on < last:
            raise EnrolmentError("enrolment.before_last_opt_out",
                                 f"a new period cannot start before the last opt-out ({last})")
        same_day = session.scalar(select(EnrolmentRow).where(
            EnrolmentRow.seller_id == seller_id, EnrolmentRow.opted_out_on == on))
        if same_day is not None:  # opted out and back in on one day: one unbroken period
            same_day.opted_out_on = None
            period = EnrolmentPeriod(same_day.enrolled_on)
        else:
            session.add(EnrolmentRow(seller_id=seller_id, enrolled_on=on, opted_out_on=None,
                                     source="portal"))
            period = EnrolmentPeriod(on)
        _write_contract_block(session, seller_id, period)
        session.flush()
        history = enrolment_history(session, seller_id)
    log.info("seller %s enrolled on %s (periods=%d)", seller_id, on, len(history))
    return history


def opt_out(store: Store, seller_id: str, on: date) -> tuple[EnrolmentPeriod, ...]:
    """Close the open period on ``on``: orders placed from that day on are not covered."""
    with store.sessions.begin() as session:
        seller_row = session.get(SellerRow, seller_id)
        if seller_row is None:
            raise EnrolmentError("enrolment.unknown_seller", f"no seller {seller_id!r}")
        _record_missing(session, seller_id,
                        seller_periods(session, Seller.model_validate(seller_row.data)))
        row = session.scalar(select(EnrolmentRow).where(
            EnrolmentRow.seller_id == seller_id, EnrolmentRow.opted_out_on.is_(None)))
        if row is None:
            raise EnrolmentError("enrolment.not_active", f"seller {seller_id} is not enrolled")
        if on < row.enrolled_on:
            raise EnrolmentError("enrolment.opt_out_before_start",
                                 f"the period started on {row.enrolled_on}")
        row.opted_out_on = on
        _write_contract_block(session, seller_id, EnrolmentPeriod(row.enrolled_on, on))
        session.flush()
        history = enrolment_history(session, seller_id)
    log.info("seller %s opted out on %s", seller_id, on)
    return history


def _record_missing(session: Session, seller_id: str,
                    periods: Sequence[EnrolmentPeriod]) -> None:
    # A seller saved without an ingest has its contract period only in the seller record.
    if enrolment_history(session, seller_id):
        return
    for p in periods:
        session.add(EnrolmentRow(seller_id=seller_id, enrolled_on=p.enrolled_on,
                                 opted_out_on=p.opted_out_on, source="contract"))
    session.flush()
