"""Claims (SAFE-T): a seller asks to be reimbursed for a refund the service issued.

One claim per refund the service issued: the service refunds one order line at a time, so an
order with several lines has several refunds, each claimable on its own, each with its own
amount and window. That keeps every claim about exactly one ledger row, which is what an
operator checks. Refunds the seller issued on the same order neither count nor block.
Claims filed before this rule (one per order, ``refund_id`` empty) stay readable and still
cover every refund of their order.

Eligibility is a pure check over the order, the claimed ledger row and the marketplace's
claim terms; a refused claim stores nothing and names the rule that refused it. An operator
decides a filed claim (granted, partial, denied) with a reason; the seller sees status and
reason.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    select,
)
from sqlalchemy.exc import IntegrityError

from agent.db import Store
from agent.models import ClaimRow, OrderRow, RefundRow
from agent.records import Order
from base.money import Marketplace
from base.money import round_money as money
from seller.evidence import Photo, remove_photos, store_photos
from seller.terms import ClaimTerms, currency_decimals, load_terms

log = logging.getLogger(__name__)

ClaimStatus = Literal["filed", "granted", "partial", "denied"]
Decision = Literal["granted", "partial", "denied"]
NOT_RECEIVED = "not_received_delivery_proven"
MAX_DESCRIPTION = 2000
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"




class ClaimRefusal(ValueError):
    """A claim, or a decision, refused by a rule; nothing was stored."""

    def __init__(self, rule: str, message: str, status: int = 422,
                 values: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.rule, self.status = rule, status
        # The message's figures, for a page that says the refusal in the seller's language.
        self.values: Mapping[str, object] = values or {}


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    order_id: str
    reason: str
    description: str = ""
    tracking_id: str | None = None
    signature_confirmed: bool = False  # the seller holds a delivery signature (photo attached)
    # The ledger row claimed; may be left out when the order has one unclaimed service refund.
    refund_id: int | None = None


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """A refund on the order as the ledger holds it."""

    refund_id: int
    asin: str
    amount: Decimal
    currency: str
    issued_by: str
    issued_on: date
    return_delivered_on: date | None = None

    @classmethod
    def from_row(cls, row: RefundRow) -> LedgerLine:
        return cls(row.id, row.asin, Decimal(str(row.amount)), row.currency, row.issued_by,
                   row.issued_at.date(), row.return_delivered_on)


@dataclass(frozen=True, slots=True)
class ClaimBasis:
    """What an eligible claim asks for, and until when it could be filed."""

    amount: Decimal
    currency: str
    window_ends_on: date


def check_claim(*, order: Order, refund: LedgerLine | None, already_claimed: bool,
                terms: ClaimTerms, request: ClaimRequest, photos: int, money_decimals: int,
                today: date) -> ClaimBasis:
    """The claim's basis (the refund's amount), or ``ClaimRefusal`` naming the first rule the
    claim on ``refund`` breaks."""
    oid = order.order_id
    if refund is None or refund.issued_by != "service":
        raise ClaimRefusal("claim.not_service_issued",
                           f"order {oid} has no such refund the service issued: only those "
                           "can be claimed, not the seller's own", values={"order": oid})
    if already_claimed:
        raise ClaimRefusal("claim.one_per_refund",
                           f"refund {refund.refund_id} of order {oid} already has a claim", 409,
                           values={"order": oid})
    if order.guarantee_claim:
        raise ClaimRefusal("claim.guarantee_claim",
                           f"order {oid} has a marketplace guarantee (A-to-z) claim",
                           values={"order": oid})
    if request.reason not in terms.eligible_reasons:
        raise ClaimRefusal("claim.reason_not_eligible",
                           f"{request.reason!r} is not a claim reason; eligible: "
                           f"{', '.join(terms.eligible_reasons)}",
                           values={"reason": request.reason})
    starts = max([refund.issued_on]
                 + ([refund.return_delivered_on] if refund.return_delivered_on else []))
    ends = starts + timedelta(days=terms.window_days(starts))
    if today > ends:
        raise ClaimRefusal("claim.outside_window",
                           f"the claim window for order {oid} ended on {ends} "
                           f"({terms.window_days(starts)} days from {starts})",
                           values={"order": oid, "date": ends,
                                   "days": terms.window_days(starts), "start": starts})
    if request.reason == NOT_RECEIVED and not _delivery_proven(order, request, photos):
        raise ClaimRefusal("claim.delivery_not_proven",
                           "'not received' needs tracking that shows the delivery, or a "
                           "signature (confirmed, with its photo)")
    return ClaimBasis(money(refund.amount, money_decimals), refund.currency, ends)


def choose_refund(order_id: str, refunds: Sequence[LedgerLine], claimed: set[int],
                  whole_order_claimed: bool, refund_id: int | None) -> LedgerLine | None:
    """The ledger row a claim is on: the one named, else the order's one service refund not
    claimed yet; several unclaimed ones must be named. None: no such refund."""
    if refund_id is not None:
        return next((r for r in refunds if r.refund_id == refund_id), None)
    service = [r for r in refunds if r.issued_by == "service"]
    unclaimed = [r for r in service
                 if r.refund_id not in claimed and not whole_order_claimed]
    if len(unclaimed) > 1:
        raise ClaimRefusal("claim.refund_required",
                           f"order {order_id} has {len(unclaimed)} refunds the service issued "
                           "that are not claimed yet (refund ids "
                           f"{', '.join(str(r.refund_id) for r in unclaimed)}): a claim is on "
                           "one refund; name it (refund_id)",
                           values={"order": order_id, "count": len(unclaimed)})
    return unclaimed[0] if unclaimed else (service[0] if service else None)


def _delivery_proven(order: Order, request: ClaimRequest, photos: int) -> bool:
    tracked = order.status == "delivered" and order.delivery_date is not None and bool(
        order.tracking or request.tracking_id)
    return tracked or (request.signature_confirmed and photos > 0)


class EvidenceOut(BaseModel):
    sha256: str
    content_type: str
    bytes: int


class ClaimPublic(BaseModel):
    """A claim as its seller (and the operator) sees it: no customer field exists here."""

    model_config = ConfigDict(extra="forbid")

    id: str
    seller_id: str
    order_id: str
    # The refund claimed and its order line; None on claims that covered a whole order.
    refund_id: int | None
    asin: str | None
    marketplace: Marketplace
    reason: str
    description: str
    tracking_id: str | None
    status: ClaimStatus
    amount_claimed: Decimal
    amount_granted: Decimal | None
    currency: str
    filed_at: datetime
    window_ends_on: date
    decided_at: datetime | None
    decision_reason: str | None
    evidence: list[EvidenceOut]

    @classmethod
    def from_row(cls, row: ClaimRow) -> ClaimPublic:
        return cls(
            id=row.id, seller_id=row.seller_id, order_id=row.order_id,
            refund_id=row.refund_id, asin=row.asin, marketplace=row.marketplace,  # type: ignore[arg-type]
            reason=row.reason, description=row.description, tracking_id=row.tracking_id,
            status=row.status,  # type: ignore[arg-type]
            amount_claimed=row.amount_claimed,
            amount_granted=row.amount_granted,
            currency=row.currency, filed_at=as_utc(row.filed_at),
            window_ends_on=date.fromisoformat(row.window_ends_on),
            decided_at=as_utc(row.decided_at) if row.decided_at else None,
            decision_reason=row.decision_reason,
            evidence=[EvidenceOut.model_validate(e) for e in row.evidence])


def as_utc(value: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_claim_id() -> str:
    return "CL-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(7))


def file_claim(store: Store, seller_id: str, request: ClaimRequest, photos: Sequence[Photo],
               *, data_dir: Path, now: datetime) -> ClaimPublic:
    """Check, then store the claim and its photos together; a refusal stores nothing."""
    if len(request.description) > MAX_DESCRIPTION:
        raise ClaimRefusal("claim.description_too_long",
                           f"the description has more than {MAX_DESCRIPTION} characters",
                           values={"max": MAX_DESCRIPTION})
    claim_id = new_claim_id()
    try:
        with store.sessions.begin() as session:
            row = session.get(OrderRow, request.order_id)
            if row is None or row.seller_id != seller_id:  # another's order reads as none
                raise ClaimRefusal("claim.unknown_order",
                                   f"there is no order {request.order_id} of yours", 404,
                                   values={"order": request.order_id})
            order = Order.model_validate(row.data)
            refunds = [LedgerLine.from_row(r) for r in session.scalars(
                select(RefundRow).where(RefundRow.order_id == order.order_id)
                .order_by(RefundRow.id))]
            earlier = list(session.scalars(select(ClaimRow.refund_id).where(
                ClaimRow.order_id == order.order_id)))
            claimed = {r for r in earlier if r is not None}
            whole_order = None in earlier  # filed when a claim covered the whole order
            refund = choose_refund(order.order_id, refunds, claimed, whole_order,
                                   request.refund_id)
            basis = check_claim(
                order=order, refund=refund,
                already_claimed=refund is not None and (
                    refund.refund_id in claimed or whole_order),
                terms=load_terms(order.marketplace).claims, request=request,
                photos=len(photos), today=now.date(),
                money_decimals=currency_decimals(refund.currency if refund else "EUR"))
            assert refund is not None
            claim = ClaimRow(
                id=claim_id, seller_id=seller_id, order_id=order.order_id,
                refund_id=refund.refund_id, asin=refund.asin,
                marketplace=order.marketplace, reason=request.reason,
                description=request.description, tracking_id=request.tracking_id,
                signature_confirmed=request.signature_confirmed,
                amount_claimed=basis.amount, currency=basis.currency, status="filed",
                filed_at=now, window_ends_on=basis.window_ends_on.isoformat(),
                evidence=[p.describe() for p in photos])
            session.add(claim)
            session.flush()
            store_photos(data_dir, claim_id, photos)
            public = ClaimPublic.from_row(claim)
    except IntegrityError as exc:  # filed for the same refund a moment ago
        remove_photos(data_dir, claim_id)
        raise ClaimRefusal("claim.one_per_refund",
                           f"that refund of order {request.order_id} already has a claim",
                           409, values={"order": request.order_id}) from exc
    except BaseException:
        remove_photos(data_dir, claim_id)
        raise
    log.info("claim %s filed by seller %s on order %s (photos=%d)", claim_id, seller_id,
             request.order_id, len(photos))
    return public


def claims_of(store: Store, seller_id: str | None = None,
              status: ClaimStatus | None = None) -> list[ClaimPublic]:
    """A seller's claims (every seller's for ``None``), newest first."""
    query = select(ClaimRow).order_by(ClaimRow.filed_at.desc())
    if seller_id is not None:
        query = query.where(ClaimRow.seller_id == seller_id)
    if status is not None:
        query = query.where(ClaimRow.status == status)
    with store.reads() as session:
        return [ClaimPublic.from_row(r) for r in session.scalars(query)]


def claim_of(store: Store, claim_id: str, seller_id: str | None = None) -> ClaimPublic:
    """One claim; another seller's claim is as unknown as a missing one."""
    with store.reads() as session:
        row = session.get(ClaimRow, claim_id)
        if row is None or (seller_id is not None and row.seller_id != seller_id):
            raise ClaimRefusal("claim.unknown", f"there is no claim {claim_id}", 404)
        return ClaimPublic.from_row(row)


def decide_claim(store: Store, claim_id: str, decision: Decision, reason: str, *,
                 amount: Decimal | None, now: datetime) -> ClaimPublic:
    """The operator's decision: granted (the whole claim), partial (an amount below it) or
    denied; a decided claim stays decided."""
    reason = reason.strip()
    if not reason:
        raise ClaimRefusal("claim.decision_needs_reason", "a decision needs a reason")
    with store.sessions.begin() as session:
        row = session.get(ClaimRow, claim_id)
        if row is None:
            raise ClaimRefusal("claim.unknown", f"there is no claim {claim_id}", 404)
        if row.status != "filed":
            raise ClaimRefusal("claim.already_decided",
                               f"claim {claim_id} is already {row.status}", 409)
        claimed = row.amount_claimed
        decimals = currency_decimals(row.currency)
        if amount is not None and amount != money(amount, decimals):
            raise ClaimRefusal("claim.amount_precision",
                               f"{row.currency} amounts have {decimals} decimals")
        if decision == "partial":
            if amount is None or not Decimal(0) < amount < claimed:
                raise ClaimRefusal("claim.partial_amount",
                                   f"a partial grant is more than 0 and less than {claimed}")
            granted = amount
        else:
            if amount is not None and amount != (claimed if decision == "granted" else 0):
                raise ClaimRefusal("claim.amount_mismatch",
                                   f"a {decision} claim pays "
                                   f"{claimed if decision == 'granted' else 0}; "
                                   "use 'partial' for another amount")
            granted = claimed if decision == "granted" else Decimal(0)
        row.status, row.decision_reason, row.decided_at = decision, reason, now
        row.amount_granted = money(granted, decimals)
        public = ClaimPublic.from_row(row)
    log.info("claim %s decided: %s", claim_id, decision)
    return public
