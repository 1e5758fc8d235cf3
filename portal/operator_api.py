"""The operators' API (``/v1/operator/...``, the operator token): decide claims, record
refunds the service issued outside a conversation and sellers' valid tracking rates, and
read any seller's statements."""

from __future__ import annotations

import logging
import secrets
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.models import OrderRow
from agent.records import Order
from agent.refunds import operator_cause, record_refund
from base.money import Marketplace
from portal.account import (
    CONFLICT,
    Account,
    RefundOut,
    TrackingRateOut,
    rate_out,
    refund_out,
    refuse,
)
from portal.deps import OperatorDep
from seller.claims import ClaimPublic, ClaimRefusal, ClaimStatus, Decision, claims_of, decide_claim
from seller.months import Month
from seller.statements import Statement
from seller.terms import currency_decimals
from seller.tracking import rates_of, record_rate

log = logging.getLogger(__name__)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Decision
    reason: str = Field(min_length=1, max_length=2000)
    amount: Decimal | None = Field(default=None, ge=0, description="required for 'partial'")


class RefundIn(BaseModel):
    """A refund the service issued outside a conversation: after a return arrived, or as
    goodwill. Returnless refunds are recorded by the agent itself."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    order_id: str = Field(min_length=1, max_length=32)
    asin: str = Field(pattern=r"^[A-Z0-9]{10}$")
    amount: Decimal = Field(gt=0, max_digits=12)
    kind: Literal["refund_after_return", "goodwill"]
    reason: str = Field(min_length=1, max_length=48)
    rule: str = Field(min_length=1, max_length=64)
    return_delivered_on: date | None = None
    # The units of the line refunded; left out, the whole line.
    units: int | None = Field(default=None, ge=1)
    # The request's own id: sent again (a retry), it returns the refund recorded the first
    # time instead of a second one. Left out, every request is a refund of its own.
    request_id: str | None = Field(default=None, min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9._:-]+$")


class TrackingRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: Decimal = Field(ge=0, le=1, max_digits=6, description="e.g. 0.97 for 97 %")


def operator_api(account: Account) -> APIRouter:
    # Every route needs the operator token; none reads who the operator is.
    router = APIRouter(tags=["operator"], dependencies=[OperatorDep])
    store, now = account.store, account.now

    @router.get("/v1/operator/claims")
    def operator_claims(status: Annotated[ClaimStatus | None, Query()] = "filed"
                        ) -> list[ClaimPublic]:
        return claims_of(store, None, status)

    @router.get("/v1/operator/claims/{claim_id}")
    def operator_claim(claim_id: str) -> ClaimPublic:
        return account.claim(claim_id, None)

    @router.get("/v1/operator/claims/{claim_id}/evidence/{sha256}",
                response_class=FileResponse)
    def operator_evidence(claim_id: str, sha256: str) -> FileResponse:
        return account.evidence_file(account.claim(claim_id, None), sha256)

    @router.post("/v1/operator/claims/{claim_id}/decision", responses=CONFLICT)
    def post_decision(claim_id: str, body: DecisionIn) -> ClaimPublic:
        """Decide a filed claim: granted, partial (with an amount) or denied, with a reason
        the seller reads."""
        try:
            return decide_claim(store, claim_id, body.decision, body.reason,
                                amount=body.amount, now=now())
        except ClaimRefusal as exc:
            refuse(exc.rule, str(exc), exc.status)

    @router.post("/v1/operator/refunds", status_code=201, responses={
        404: {"description": "no such order or order line"}, **CONFLICT})
    def post_refund(body: RefundIn, response: Response) -> RefundOut:
        """Record a refund the service issued after a return arrived, or as goodwill, for some
        or all of a line's units; a line is never refunded for more units than were ordered.
        A retried request (same ``request_id``) returns its refund with status 200."""
        with store.sessions.begin() as session:
            row = session.get(OrderRow, body.order_id)
            if row is None:
                refuse("refund.unknown_order", f"no order {body.order_id}", 404)
            order = Order.model_validate(row.data)
            item = next((i for i in order.items if i.asin == body.asin), None)
            if item is None:
                refuse("refund.unknown_item", f"order {order.order_id} has no {body.asin}", 404)
            decimals = currency_decimals(item.unit_price.currency)
            if body.amount != body.amount.quantize(Decimal(1).scaleb(-decimals)):
                refuse("refund.amount_precision",
                       f"{item.unit_price.currency} amounts have {decimals} decimals")
            units = body.units or item.quantity
            if units > item.quantity:
                refuse("refund.units", f"order {order.order_id} has {item.quantity} of "
                       f"{item.asin}, not {units}")
            recorded = record_refund(
                session, order_id=order.order_id, asin=item.asin, seller_id=order.seller_id,
                amount=body.amount, currency=item.unit_price.currency, kind=body.kind,
                reason=body.reason, rule=body.rule, issued_at=now(),
                return_delivered_on=body.return_delivered_on, units=units,
                ordered=item.quantity,
                cause=operator_cause(body.request_id or secrets.token_hex(16)))
            if recorded.row is None:
                refuse("refund.line_refunded",
                       f"order {order.order_id} line {item.asin} has {recorded.refunded_units} "
                       f"of {item.quantity} units refunded already", 409)
            if recorded.outcome == "replayed":
                response.status_code = 200
            return refund_out(recorded.row)

    @router.put("/v1/operator/sellers/{seller_id}/valid-tracking-rates/{month}",
                responses={404: {"description": "no such seller"}})
    def put_tracking_rate(seller_id: str, month: str, body: TrackingRateIn
                          ) -> TrackingRateOut:
        """Record a seller's valid tracking rate for a month (the month's statement uses it,
        whatever the rate is today); replaces an earlier reading of that month."""
        try:
            parsed = Month.parse(month)
        except ValueError as exc:
            refuse("vtr.month_format", str(exc))
        if parsed > Month.of(now().date()):
            refuse("vtr.month_in_future", f"{parsed} has not begun")
        if store.seller(seller_id) is None:
            refuse("vtr.unknown_seller", f"no seller {seller_id!r}", 404)
        with store.sessions.begin() as session:
            row = record_rate(session, seller_id, parsed, body.rate, "operator", now())
            session.flush()
            out = rate_out(row)
        log.info("valid tracking rate of seller %s for %s recorded", seller_id, parsed)
        return out

    @router.get("/v1/operator/sellers/{seller_id}/valid-tracking-rates")
    def read_tracking_rates(seller_id: str) -> list[TrackingRateOut]:
        """Every month's valid tracking rate recorded for a seller, oldest first."""
        with store.reads() as session:
            return [rate_out(r) for r in rates_of(session, seller_id)]

    @router.get("/v1/operator/statements/{seller_id}/{month}")
    def operator_statements(seller_id: str, month: str,
                            marketplace: Annotated[Marketplace | None, Query()] = None
                            ) -> list[Statement]:
        return account.statements(seller_id, month, marketplace).statements

    return router
