"""The seller's account as the API and the pages both read it: enrolment, monthly fee
statements, the refund ledger and claims, and the answers' models.

A seller reaches only its own statements, refunds and claims, and never a customer's details.
Every refusal is a 4xx whose body names the rule that refused it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NoReturn

from fastapi import HTTPException, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel
from sqlalchemy import select

from agent.db import Store
from agent.enrolment import (
    EnrolmentError,
    EnrolmentPeriod,
    enrol,
    first_enrolled_on,
    opt_out,
    seller_periods,
)
from agent.models import RefundRow, TrackingRateRow
from base.clock import Clock
from base.money import Marketplace
from base.money import round_money as money
from base.settings import Settings
from seller.claims import (
    ClaimPublic,
    ClaimRefusal,
    ClaimRequest,
    claim_of,
    file_claim,
)
from seller.enrolment_terms import EnrolmentTerms, enrolment_terms
from seller.evidence import (
    MAX_PHOTO_BYTES,
    EvidenceError,
    Photo,
    accept_photo,
    check_count,
    photo_path,
)
from seller.fees import trial_ends_on
from seller.months import Month
from seller.statements import (
    CpuPoint,
    SellerStatements,
    StatementError,
    cpu_history,
    statements_csv,
    statements_for,
)
from seller.terms import currency_decimals, fee_schedule, load_terms

log = logging.getLogger(__name__)

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "refused by the current state (a rule names why)"}}


def refuse(rule: str, message: str, status: int = 422,
           cause: ClaimRefusal | EvidenceError | None = None) -> NoReturn:
    """A 4xx whose body names the rule that refused the request; ``cause`` (the refusal
    with its figures) stays on the exception for a page that says it in its language."""
    raise HTTPException(status, {"rule": rule, "message": message}) from cause


class PeriodOut(BaseModel):
    enrolled_on: date
    opted_out_on: date | None


class EnrolmentOut(BaseModel):
    seller_id: str
    status: Literal["active", "opted_out"]
    periods: list[PeriodOut]
    trial_ends_on: date | None  # the trial runs once, from the first enrolment


class RefundOut(BaseModel):
    """A ledger row as the seller sees it; ``refund_id`` names it in a claim."""

    refund_id: int
    order_id: str
    asin: str
    amount: Decimal
    currency: str
    kind: str
    reason: str | None
    rule: str
    issued_by: str
    issued_on: date
    return_delivered_on: date | None
    units: int | None  # the units of the line refunded; empty on old rows: the whole line


class TrackingRateOut(BaseModel):
    """A seller's valid tracking rate for one month: the month's statement uses it."""

    seller_id: str
    month: str
    rate: Decimal
    source: str
    recorded_at: datetime


def rate_out(row: TrackingRateRow) -> TrackingRateOut:
    return TrackingRateOut(seller_id=row.seller_id, month=row.month, rate=Decimal(row.rate),
                           source=row.source, recorded_at=row.recorded_at)


def refund_out(row: RefundRow) -> RefundOut:
    amount = money(Decimal(str(row.amount)), currency_decimals(row.currency))
    return RefundOut(refund_id=row.id, order_id=row.order_id, asin=row.asin, amount=amount,
                     currency=row.currency, kind=row.kind, reason=row.reason, rule=row.rule,
                     issued_by=row.issued_by, issued_on=row.issued_at.date(),
                     return_delivered_on=row.return_delivered_on, units=row.units)


def statements_download(found: SellerStatements, month: str) -> Response:
    name = f"statement-{found.seller.seller_id}-{month}.csv"
    return Response(statements_csv(found.statements), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def enrolment_out(seller_id: str, periods: tuple[EnrolmentPeriod, ...]) -> EnrolmentOut:
    # One trial length per seller: the DE terms' (every marketplace holds the same).
    trial = trial_ends_on(first_enrolled_on(periods), load_terms("DE").trial.days)
    status: Literal["active", "opted_out"] = (
        "active" if any(p.open for p in periods) else "opted_out")
    return EnrolmentOut(seller_id=seller_id, status=status, trial_ends_on=trial,
                        periods=[PeriodOut(enrolled_on=p.enrolled_on,
                                           opted_out_on=p.opted_out_on) for p in periods])


class Account:
    """The sellers' accounts in one store, read and changed on the settings' terms."""

    def __init__(self, store: Store, settings: Settings, now: Clock) -> None:
        self.store = store
        self.settings = settings
        self.now = now

    def enrolment(self, seller_id: str) -> EnrolmentOut:
        seller = self.store.seller(seller_id)
        if seller is None:
            refuse("enrolment.unknown_seller", f"no seller {seller_id!r}", 404)
        with self.store.reads() as session:
            periods = seller_periods(session, seller)
        return enrolment_out(seller_id, periods)

    def terms(self, seller_id: str) -> EnrolmentTerms:
        return enrolment_terms(uk_table=self.settings.uk_fee_table,
                               trial_ends_on=self.enrolment(seller_id).trial_ends_on)

    def change_enrolment(self, seller_id: str,
                         action: Literal["enrol", "opt_out"]) -> EnrolmentOut:
        try:
            periods = (enrol if action == "enrol" else opt_out)(
                self.store, seller_id, self.now().date())
        except EnrolmentError as exc:
            refuse(exc.rule, str(exc), 404 if exc.rule.endswith("unknown_seller") else 409)
        return enrolment_out(seller_id, periods)

    def statements(self, seller_id: str, month: str,
                   marketplace: Marketplace | None) -> SellerStatements:
        try:
            parsed = Month.parse(month)
        except ValueError as exc:
            refuse("statement.month_format", str(exc))
        try:
            return statements_for(self.store, seller_id, parsed, today=self.now().date(),
                                  marketplace=marketplace, uk_table=self.settings.uk_fee_table)
        except StatementError as exc:
            refuse(exc.rule, str(exc), exc.status)

    def cpu_histories(self, found: SellerStatements, month: Month
                      ) -> dict[str, list[CpuPoint]]:
        """Each statement's CPU history, by marketplace, for the ones with activity."""
        histories: dict[str, list[CpuPoint]] = {}
        for s in found.statements:
            if s.marketplace in found.activity:
                schedule = fee_schedule(s.marketplace, uk_table=self.settings.uk_fee_table)
                histories[s.marketplace] = cpu_history(found.activity[s.marketplace], month,
                                                       schedule)
        return histories

    def refunds(self, seller_id: str) -> list[RefundOut]:
        with self.store.reads() as session:
            rows = session.scalars(select(RefundRow).where(RefundRow.seller_id == seller_id)
                                   .order_by(RefundRow.issued_at.desc()))
            return [refund_out(r) for r in rows]

    def claim(self, claim_id: str, seller_id: str | None) -> ClaimPublic:
        """A claim; of this seller only, or of any seller (None) for an operator."""
        try:
            return claim_of(self.store, claim_id, seller_id)
        except ClaimRefusal as exc:
            refuse(exc.rule, str(exc), exc.status)

    def evidence_file(self, claim: ClaimPublic, sha256: str) -> FileResponse:
        found = next((e for e in claim.evidence if e.sha256 == sha256), None)
        if found is None:
            refuse("claim.unknown_evidence", f"claim {claim.id} has no photo {sha256}", 404)
        path = photo_path(self.settings.data_dir, claim.id, found.sha256, found.content_type)
        # Served as a download, never rendered inline from this origin.
        return FileResponse(path, media_type=found.content_type,
                            filename=Path(path).name,
                            headers={"X-Content-Type-Options": "nosniff",
                                     "Content-Security-Policy": "default-src 'none'"})

    def submit_claim(self, seller_id: str, request: ClaimRequest,
                     uploads: list[UploadFile]) -> ClaimPublic:
        accepted = read_photos(uploads)
        try:
            return file_claim(self.store, seller_id, request, accepted,
                              data_dir=self.settings.data_dir, now=self.now())
        except ClaimRefusal as exc:
            log.info("claim refused for seller %s: %s", seller_id, exc.rule)
            refuse(exc.rule, str(exc), exc.status, exc)


def read_photos(uploads: list[UploadFile]) -> list[Photo]:
    uploads = [u for u in uploads if u.filename or u.size]  # an empty file field
    try:
        check_count(len(uploads))
        return [accept_photo(u.file.read(MAX_PHOTO_BYTES + 1), position=i)
                for i, u in enumerate(uploads, 1)]
    except EvidenceError as exc:
        refuse(exc.rule, str(exc), exc.status, exc)
