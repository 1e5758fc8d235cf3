"""The seller's account: enrolment, monthly fee statements, the refund ledger and claims.

Sellers use their portal token (``/v1/seller/...``, and the portal's cookie for the pages);
operators use their own token (``/v1/operator/...``) to decide claims and record refunds.
A seller reaches only its own statements, refunds and claims, and never a customer's details.
"""

# No ``from __future__ import annotations``: the routes' annotations name dependencies made
# inside the router factory, which FastAPI could not resolve from strings.
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from agent.db import OrderRow, RefundRow, Store, TrackingRateRow
from agent.enrolment import (
    EnrolmentError,
    EnrolmentPeriod,
    enrol,
    first_enrolled_on,
    opt_out,
    seller_periods,
)
from agent.records import Order
from agent.refunds import operator_cause, record_refund
from base.money import Marketplace
from base.money import round_money as money
from base.settings import Settings
from channels.enrolment_page import render_enrolment
from channels.seller_portal import (
    _layout,
    cookie_seller,
    display_name,
    seller_from_bearer,
)
from seller.claims import (
    MAX_DESCRIPTION,
    ClaimPublic,
    ClaimRefusal,
    ClaimRequest,
    ClaimStatus,
    Decision,
    claim_of,
    claims_of,
    decide_claim,
    ensure_tables,
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
    Statement,
    StatementError,
    cpu_history,
    statements_csv,
    statements_for,
)
from seller.terms import currency_decimals, fee_schedule, load_terms
from seller.tracking import rates_of, record_rate

log = logging.getLogger(__name__)

_operator_bearer = HTTPBearer(auto_error=False, scheme_name="OperatorToken",
                              description="the operator token (CSBA_OPERATOR_TOKEN)")


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "refused by the current state (a rule names why)"}}


def refuse(rule: str, message: str, status: int = 422) -> NoReturn:
    """A 4xx whose body names the rule that refused the request."""
    raise HTTPException(status, {"rule": rule, "message": message})


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


class TrackingRateOut(BaseModel):
    """A seller's valid tracking rate for one month: the month's statement uses it."""

    seller_id: str
    month: str
    rate: Decimal
    source: str
    recorded_at: datetime


def _rate_out(row: TrackingRateRow) -> TrackingRateOut:
    return TrackingRateOut(seller_id=row.seller_id, month=row.month, rate=Decimal(row.rate),
                           source=row.source, recorded_at=row.recorded_at)


def _refund_out(row: RefundRow) -> RefundOut:
    amount = money(Decimal(str(row.amount)), currency_decimals(row.currency))
    return RefundOut(refund_id=row.id, order_id=row.order_id, asin=row.asin, amount=amount,
                     currency=row.currency, kind=row.kind, reason=row.reason, rule=row.rule,
                     issued_by=row.issued_by, issued_on=row.issued_at.date(),
                     return_delivered_on=row.return_delivered_on, units=row.units)


def _form_csrf(token: str) -> str:
    # Derived from the session's own token: a page of another site cannot know it.
    return hmac.new(token.encode("utf-8"), b"seller-account-form", hashlib.sha256).hexdigest()


def seller_account_router(store: Store, settings: Settings, *,
                          clock: Callable[[], datetime] | None = None) -> APIRouter:
    """Routes of the seller's account (``/v1/seller/...``, ``/seller/...``) and of the
    operators who decide claims (``/v1/operator/...``)."""
    ensure_tables(store.engine)
    now = clock or settings.clock
    data_dir = settings.data_dir
    operator_token = settings.operator_token
    router = APIRouter()

    api_seller = seller_from_bearer(store)

    def api_operator(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                            Depends(_operator_bearer)]) -> None:
        expected = operator_token.get_secret_value().encode("utf-8")
        given = (credentials.credentials if credentials else "").encode("utf-8")
        if not credentials or not hmac.compare_digest(given, expected):
            raise HTTPException(401, "operator token missing or invalid",
                                headers={"WWW-Authenticate": "Bearer"})

    SellerId = Annotated[str, Depends(api_seller)]
    operator = [Depends(api_operator)]

    # --- shared by the API and the pages ---------------------------------------------------

    def enrolment_of(seller_id: str) -> EnrolmentOut:
        seller = store.seller(seller_id)
        if seller is None:
            refuse("enrolment.unknown_seller", f"no seller {seller_id!r}", 404)
        with store.reads() as session:
            periods = seller_periods(session, seller)
        return _enrolment_out(seller_id, periods)

    def _enrolment_out(seller_id: str, periods: tuple[EnrolmentPeriod, ...]) -> EnrolmentOut:
        # One trial length per seller: the DE terms' (every marketplace holds the same).
        trial = trial_ends_on(first_enrolled_on(periods), load_terms("DE").trial.days)
        status: Literal["active", "opted_out"] = (
            "active" if any(p.open for p in periods) else "opted_out")
        return EnrolmentOut(seller_id=seller_id, status=status, trial_ends_on=trial,
                            periods=[PeriodOut(enrolled_on=p.enrolled_on,
                                               opted_out_on=p.opted_out_on) for p in periods])

    def terms_for(seller_id: str) -> EnrolmentTerms:
        return enrolment_terms(uk_table=settings.uk_fee_table,
                               trial_ends_on=enrolment_of(seller_id).trial_ends_on)

    def change_enrolment(seller_id: str, action: Literal["enrol", "opt_out"]) -> EnrolmentOut:
        try:
            periods = (enrol if action == "enrol" else opt_out)(store, seller_id, now().date())
        except EnrolmentError as exc:
            refuse(exc.rule, str(exc), 404 if exc.rule.endswith("unknown_seller") else 409)
        return _enrolment_out(seller_id, periods)

    def statements(seller_id: str, month: str,
                   marketplace: Marketplace | None) -> SellerStatements:
        try:
            parsed = Month.parse(month)
        except ValueError as exc:
            refuse("statement.month_format", str(exc))
        try:
            return statements_for(store, seller_id, parsed, today=now().date(),
                                  marketplace=marketplace, uk_table=settings.uk_fee_table)
        except StatementError as exc:
            refuse(exc.rule, str(exc), exc.status)

    def csv_response(found: SellerStatements, month: str) -> Response:
        name = f"statement-{found.seller.seller_id}-{month}.csv"
        return Response(statements_csv(found.statements), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def refunds_of(seller_id: str) -> list[RefundOut]:
        with store.reads() as session:
            rows = session.scalars(select(RefundRow).where(RefundRow.seller_id == seller_id)
                                   .order_by(RefundRow.issued_at.desc()))
            return [_refund_out(r) for r in rows]

    def evidence_file(claim: ClaimPublic, sha256: str) -> FileResponse:
        found = next((e for e in claim.evidence if e.sha256 == sha256), None)
        if found is None:
            refuse("claim.unknown_evidence", f"claim {claim.id} has no photo {sha256}", 404)
        path = photo_path(data_dir, claim.id, found.sha256, found.content_type)
        # Served as a download, never rendered inline from this origin.
        return FileResponse(path, media_type=found.content_type,
                            filename=Path(path).name,
                            headers={"X-Content-Type-Options": "nosniff",
                                     "Content-Security-Policy": "default-src 'none'"})

    def one_claim(claim_id: str, seller_id: str | None) -> ClaimPublic:
        try:
            return claim_of(store, claim_id, seller_id)
        except ClaimRefusal as exc:
            refuse(exc.rule, str(exc), exc.status)

    # --- seller API -------------------------------------------------------------------------

    @router.get("/v1/seller/enrolment", tags=["seller account"])
    def read_enrolment(seller_id: SellerId) -> EnrolmentOut:
        """Enrolment periods; the free trial runs once, from the first enrolment."""
        return enrolment_of(seller_id)

    @router.get("/v1/seller/enrolment/terms", tags=["seller account"])
    def read_enrolment_terms(seller_id: SellerId) -> EnrolmentTerms:
        """What the service covers, the fee tables with their VTR rates, the free trial and
        how to opt out: what the portal shows before a seller enrols."""
        return terms_for(seller_id)

    @router.post("/v1/seller/enrolment", tags=["seller account"], responses=CONFLICT)
    def post_enrolment(seller_id: SellerId) -> EnrolmentOut:
        """Enrol (or enrol again) from today; orders placed from today on are covered."""
        return change_enrolment(seller_id, "enrol")

    @router.post("/v1/seller/enrolment/opt-out", tags=["seller account"],
                 responses=CONFLICT)
    def post_opt_out(seller_id: SellerId) -> EnrolmentOut:
        """Opt out from today: orders placed from today on go to the seller."""
        return change_enrolment(seller_id, "opt_out")

    @router.get("/v1/seller/statements/{month}", tags=["seller account"])
    def read_statements(seller_id: SellerId, month: str,
                        marketplace: Annotated[Marketplace | None, Query()] = None
                        ) -> list[Statement]:
        """The month's fee statements, one per marketplace (``month`` is YYYY-MM)."""
        return statements(seller_id, month, marketplace).statements

    @router.get("/v1/seller/statements/{month}/csv", tags=["seller account"],
                response_class=Response)
    def read_statements_csv(seller_id: SellerId, month: str,
                            marketplace: Annotated[Marketplace | None, Query()] = None
                            ) -> Response:
        return csv_response(statements(seller_id, month, marketplace), month)

    @router.get("/v1/seller/refunds", tags=["seller account"])
    def read_refunds(seller_id: SellerId) -> list[RefundOut]:
        """The refund ledger: every refund issued on the seller's orders, newest first."""
        return refunds_of(seller_id)

    @router.post("/v1/seller/claims", status_code=201, tags=["seller account"], responses={
        404: {"description": "no such order of this seller"}, **CONFLICT,
        413: {"description": "a photo is too large"},
        415: {"description": "a photo is not a JPEG, PNG or WebP image"}})
    def post_claim(
        seller_id: SellerId,
        order_id: Annotated[str, Form(min_length=1, max_length=32)],
        reason: Annotated[str, Form(min_length=1, max_length=48)],
        description: Annotated[str, Form(max_length=MAX_DESCRIPTION)] = "",
        tracking_id: Annotated[str | None, Form(max_length=64)] = None,
        signature_confirmed: Annotated[bool, Form()] = False,
        refund_id: Annotated[int | None, Form(
            description="the refund claimed (GET /v1/seller/refunds); may be left out when "
                        "the order has one refund of the service not claimed yet")] = None,
        photos: Annotated[list[UploadFile] | None, File(
            description=f"JPEG, PNG or WebP, at most {MAX_PHOTO_BYTES} bytes each")] = None,
    ) -> ClaimPublic:
        """File a claim on one refund the service issued (one claim per refund; refunds the
        seller issued on the order do not count); eligibility is checked first, and a
        refused claim stores nothing."""
        return submit_claim(seller_id, ClaimRequest(
            order_id=order_id.strip(), reason=reason.strip(), description=description.strip(),
            tracking_id=(tracking_id or "").strip() or None,
            signature_confirmed=signature_confirmed, refund_id=refund_id), photos or [])

    def submit_claim(seller_id: str, request: ClaimRequest,
                     uploads: list[UploadFile]) -> ClaimPublic:
        accepted = read_photos(uploads)
        try:
            return file_claim(store, seller_id, request, accepted, data_dir=data_dir,
                              now=now())
        except ClaimRefusal as exc:
            log.info("claim refused for seller %s: %s", seller_id, exc.rule)
            refuse(exc.rule, str(exc), exc.status)

    def read_photos(uploads: list[UploadFile]) -> list[Photo]:
        uploads = [u for u in uploads if u.filename or u.size]  # an empty file field
        try:
            check_count(len(uploads))
            return [accept_photo(u.file.read(MAX_PHOTO_BYTES + 1), position=i)
                    for i, u in enumerate(uploads, 1)]
        except EvidenceError as exc:
            refuse(exc.rule, str(exc), exc.status)

    @router.get("/v1/seller/claims", tags=["seller account"])
    def list_claims(seller_id: SellerId,
                    status: Annotated[ClaimStatus | None, Query()] = None) -> list[ClaimPublic]:
        return claims_of(store, seller_id, status)

    @router.get("/v1/seller/claims/{claim_id}", tags=["seller account"])
    def read_claim(seller_id: SellerId, claim_id: str) -> ClaimPublic:
        return one_claim(claim_id, seller_id)

    @router.get("/v1/seller/claims/{claim_id}/evidence/{sha256}", tags=["seller account"],
                response_class=FileResponse)
    def read_evidence(seller_id: SellerId, claim_id: str, sha256: str) -> FileResponse:
        return evidence_file(one_claim(claim_id, seller_id), sha256)

    # --- operator API -----------------------------------------------------------------------

    @router.get("/v1/operator/claims", tags=["operator"], dependencies=operator)
    def operator_claims(status: Annotated[ClaimStatus | None, Query()] = "filed"
                        ) -> list[ClaimPublic]:
        return claims_of(store, None, status)

    @router.get("/v1/operator/claims/{claim_id}", tags=["operator"], dependencies=operator)
    def operator_claim(claim_id: str) -> ClaimPublic:
        return one_claim(claim_id, None)

    @router.get("/v1/operator/claims/{claim_id}/evidence/{sha256}", tags=["operator"],
                dependencies=operator, response_class=FileResponse)
    def operator_evidence(claim_id: str, sha256: str) -> FileResponse:
        return evidence_file(one_claim(claim_id, None), sha256)

    @router.post("/v1/operator/claims/{claim_id}/decision", tags=["operator"],
                 dependencies=operator, responses=CONFLICT)
    def post_decision(claim_id: str, body: DecisionIn) -> ClaimPublic:
        """Decide a filed claim: granted, partial (with an amount) or denied, with a reason
        the seller reads."""
        try:
            return decide_claim(store, claim_id, body.decision, body.reason,
                                amount=body.amount, now=now())
        except ClaimRefusal as exc:
            refuse(exc.rule, str(exc), exc.status)

    @router.post("/v1/operator/refunds", status_code=201, tags=["operator"],
                 dependencies=operator, responses={
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
            return _refund_out(recorded.row)

    @router.put("/v1/operator/sellers/{seller_id}/valid-tracking-rates/{month}",
                tags=["operator"], dependencies=operator,
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
            out = _rate_out(row)
        log.info("valid tracking rate of seller %s for %s recorded", seller_id, parsed)
        return out

    @router.get("/v1/operator/sellers/{seller_id}/valid-tracking-rates", tags=["operator"],
                dependencies=operator)
    def read_tracking_rates(seller_id: str) -> list[TrackingRateOut]:
        """Every month's valid tracking rate recorded for a seller, oldest first."""
        with store.reads() as session:
            return [_rate_out(r) for r in rates_of(session, seller_id)]

    @router.get("/v1/operator/statements/{seller_id}/{month}", tags=["operator"],
                dependencies=operator)
    def operator_statements(seller_id: str, month: str,
                            marketplace: Annotated[Marketplace | None, Query()] = None
                            ) -> list[Statement]:
        return statements(seller_id, month, marketplace).statements

    # --- pages ------------------------------------------------------------------------------

    def page_seller(request: Request) -> tuple[str, str] | None:
        return cookie_seller(store, request)

    def seller_name(seller_id: str) -> str:
        return display_name(store, seller_id)

    @router.get("/seller/account", response_class=HTMLResponse, include_in_schema=False)
    def account_page(request: Request, changed: str = "", filed: str = "") -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        return account_html(*auth, changed=changed, filed=filed)

    def account_html(seller_id: str, token: str, *, status: int = 200,
                     **shown: str) -> HTMLResponse:
        return HTMLResponse(render_account(
            seller_name(seller_id), enrolment_of(seller_id), refunds_of(seller_id),
            claims_of(store, seller_id), Month.of(now().date()), _form_csrf(token),
            reasons=load_terms("DE").claims.eligible_reasons, **shown), status_code=status)

    @router.post("/seller/claims", include_in_schema=False)
    def claim_form(request: Request, order_id: Annotated[str, Form(max_length=32)] = "",
                   reason: Annotated[str, Form(max_length=48)] = "",
                   description: Annotated[str, Form(max_length=MAX_DESCRIPTION)] = "",
                   tracking_id: Annotated[str, Form(max_length=64)] = "",
                   signature_confirmed: Annotated[str | None, Form()] = None,
                   photos: Annotated[list[UploadFile] | None, File()] = None,
                   csrf: Annotated[str, Form()] = "") -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        seller_id, token = auth
        if not hmac.compare_digest(csrf, _form_csrf(token)):
            return account_html(seller_id, token, status=403,
                                error="This form has expired; send it again.")
        # The form names "order|refund" (one option per claimable refund); an order alone
        # is the order's one unclaimed refund.
        order_part, _, refund_part = order_id.partition("|")
        try:
            claim = submit_claim(seller_id, ClaimRequest(
                order_id=order_part.strip(), reason=reason.strip(),
                description=description.strip(), tracking_id=tracking_id.strip() or None,
                signature_confirmed=signature_confirmed is not None,
                refund_id=int(refund_part) if refund_part.strip().isdigit() else None),
                photos or [])
        except HTTPException as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"message": exc.detail}
            return account_html(seller_id, token, status=exc.status_code,
                                error=f"{detail['message']} (rule {detail.get('rule', '-')})")
        return RedirectResponse(f"/seller/account?filed={claim.id}", status_code=303)

    @router.get("/seller/account/enrolment", response_class=HTMLResponse,
                include_in_schema=False)
    def enrolment_page(request: Request) -> Response:
        """What the service covers, its fees, the trial and the opt-out, before enrolling."""
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        seller_id, token = auth
        return HTMLResponse(render_enrolment(
            seller_name(seller_id), terms_for(seller_id), _form_csrf(token),
            enrolled=enrolment_of(seller_id).status == "active", today=now().date()))

    @router.post("/seller/account/enrolment", include_in_schema=False)
    def enrolment_form(request: Request, action: Annotated[str, Form()] = "",
                       csrf: Annotated[str, Form()] = "",
                       terms_read_on: Annotated[str, Form()] = "") -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        seller_id, token = auth
        if action not in ("enrol", "opt_out") or not hmac.compare_digest(csrf,
                                                                         _form_csrf(token)):
            return HTMLResponse(_layout("Form expired", '<p class="error">This form has '
                                        'expired; open the page again.</p>',
                                        seller_name(seller_id)), status_code=403)
        if action == "enrol" and terms_read_on != str(terms_for(seller_id).read_on):
            # Confirmed only from the page that explains the service, and only the terms
            # in force: a stale or bare form shows the explanation first.
            return RedirectResponse("/seller/account/enrolment", status_code=303)
        try:
            change_enrolment(seller_id, "enrol" if action == "enrol" else "opt_out")
        except HTTPException as exc:
            log.info("enrolment change refused for seller %s: %s", seller_id, exc.detail)
        return RedirectResponse(f"/seller/account?changed={action}", status_code=303)

    @router.get("/seller/statements", response_class=HTMLResponse, include_in_schema=False)
    def statements_page(request: Request, month: str = "") -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        seller_id, _ = auth
        month = month or str(Month.of(now().date()).plus(-1))
        try:
            found = statements(seller_id, month, None)
        except HTTPException as exc:
            message = exc.detail["message"] if isinstance(exc.detail, dict) else str(exc.detail)
            return HTMLResponse(_layout("Statement", f'<h1>Statement</h1><p class="error">'
                                        f"{escape(message)}</p>", seller_name(seller_id)),
                                status_code=exc.status_code)
        parsed = Month.parse(month)
        charts: dict[str, list[CpuPoint]] = {}
        for s in found.statements:
            if s.marketplace in found.activity:
                schedule = fee_schedule(s.marketplace, uk_table=settings.uk_fee_table)
                charts[s.marketplace] = cpu_history(found.activity[s.marketplace], parsed,
                                                    schedule)
        return HTMLResponse(render_statements(seller_name(seller_id), parsed,
                                              found.statements, charts,
                                              Month.of(now().date())))

    @router.get("/seller/statements/{month}/csv", include_in_schema=False)
    def statements_csv_page(request: Request, month: str) -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        return csv_response(statements(auth[0], month, None), month)

    return router


# --- HTML (server-rendered; every value passes through html.escape) --------------------------

EXTRA_STYLE = """<style>
.chart{margin:8px 0 18px} .chart text{font:11px system-ui,sans-serif;fill:#667085}
.num{text-align:right;white-space:nowrap} .total td{font-weight:600}
form.inline{display:inline} button.quiet{background:#fff;border:1px solid #d0d5dd;
 border-radius:8px;padding:6px 14px;font:inherit;cursor:pointer}
.filed{background:#fef0c7;color:#93370d} .granted{background:#d1fadf;color:#05603a}
.partial{background:#d1e9ff;color:#1849a9} .denied{background:#eaecf0;color:#344054}
.active{background:#d1fadf;color:#05603a} .opted_out{background:#eaecf0;color:#344054}
</style>"""


def _page(title: str, body: str, seller: str) -> str:
    return _layout(title, EXTRA_STYLE + body, seller)


def _badge(status: str, label: str | None = None) -> str:
    return f'<span class="badge {escape(status)}">{escape(label or status)}</span>'


def render_account(seller: str, enrolment: EnrolmentOut, refunds: list[RefundOut],
                   claims: list[ClaimPublic], this_month: Month, csrf: str, *,
                   reasons: Sequence[str] = (), changed: str = "", filed: str = "",
                   error: str = "") -> str:
    active = enrolment.status == "active"
    badge = _badge(enrolment.status, "service in use" if active else "opted out")
    parts = [f"<h1>Your account {badge}</h1>"]
    if error:
        parts.append(f'<p class="error">{escape(error)}</p>')
    if filed:
        parts.append(f'<p class="notice">Claim {escape(filed)} was filed; an operator will '
                     "decide it.</p>")
    if changed:
        parts.append('<p class="notice">' + ("You are enrolled: orders placed from today on "
                     "are answered by the service." if active else "You opted out: orders "
                     "placed from today on are yours to answer.") + "</p>")
    trial = (f"Free trial until {escape(str(enrolment.trial_ends_on))} (once, from your "
             f"first enrolment)." if enrolment.trial_ends_on else "")
    periods = "".join(f"<tr><td>{escape(str(p.enrolled_on))}</td>"
                      f"<td>{escape(str(p.opted_out_on or 'still enrolled'))}</td></tr>"
                      for p in enrolment.periods)
    # Enrolling starts on the page that explains the service; opting out is one step.
    change = (f'<form class="inline" method="post" action="/seller/account/enrolment">'
              f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
              f'<input type="hidden" name="action" value="opt_out"><p>'
              f'<button class="quiet">Opt out</button></p></form>' if active else
              '<p><a href="/seller/account/enrolment">Enrol again: what the service covers, '
              "its fees, the trial and the opt-out</a></p>")
    parts.append(
        f'<p class="muted">{trial}</p><table><thead><tr><th>Enrolled on</th><th>Opted out on'
        f"</th></tr></thead><tbody>{periods}</tbody></table>{change}")
    months = [this_month.plus(-n) for n in range(0, 12)]
    parts.append("<h2>Statements</h2><p>" + " · ".join(
        f'<a href="/seller/statements?month={m}">{m}</a>' for m in months) + "</p>")
    rows = "".join(
        f"<tr><td class=\"ref\">{escape(r.order_id)}</td><td>{escape(r.asin)}</td>"
        f"<td class=\"num\">{escape(str(r.amount))} {escape(r.currency)}</td>"
        f"<td>{escape(r.kind)}</td><td>{escape(r.reason or '-')}</td>"
        f"<td>{escape(r.rule)}</td><td>{escape(str(r.issued_on))}</td></tr>" for r in refunds
    ) or '<tr><td colspan="7" class="muted">No refunds.</td></tr>'
    parts.append("<h2>Refunds the service issued</h2><table><thead><tr><th>Order</th>"
                 "<th>ASIN</th><th>Amount</th><th>Kind</th><th>Reason</th><th>Rule</th>"
                 f"<th>Date</th></tr></thead><tbody>{rows}</tbody></table>")
    claim_rows = "".join(
        f"<tr><td class=\"ref\">{escape(c.id)}</td><td>{escape(c.order_id)}"
        f"{' · ' + escape(c.asin) if c.asin else ''}</td>"
        f"<td>{_badge(c.status)}</td><td>{escape(c.reason)}</td>"
        f"<td class=\"num\">{escape(str(c.amount_claimed))} {escape(c.currency)}</td>"
        f"<td class=\"num\">{escape(str(c.amount_granted or '-'))}</td>"
        f"<td>{escape(c.decision_reason or '-')}</td></tr>" for c in claims
    ) or '<tr><td colspan="7" class="muted">No claims.</td></tr>'
    # One claim per refund the service issued; a claim that covered a whole order (before
    # claims were per refund) covers all its refunds.
    claimed = {c.refund_id for c in claims if c.refund_id is not None}
    whole = {c.order_id for c in claims if c.refund_id is None}
    claimable = [r for r in sorted(refunds, key=lambda r: (r.order_id, r.refund_id))
                 if r.issued_by == "service" and r.refund_id not in claimed
                 and r.order_id not in whole]
    orders = "".join(
        f'<option value="{escape(r.order_id)}|{r.refund_id}">{escape(r.order_id)} · '
        f"{escape(r.asin)} · {escape(str(r.amount))} {escape(r.currency)}</option>"
        for r in claimable)
    options = "".join(f'<option value="{escape(r)}">{escape(r.replace("_", " "))}</option>'
                      for r in reasons)
    form = (
        '<h3>File a claim</h3><form method="post" action="/seller/claims" '
        f'enctype="multipart/form-data"><input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<dl><dt>Refund</dt><dd><select name="order_id" required>{orders}</select></dd>'
        f'<dt>Reason</dt><dd><select name="reason" required>{options}</select></dd>'
        f'<dt>What happened</dt><dd><textarea name="description" maxlength="{MAX_DESCRIPTION}">'
        '</textarea></dd><dt>Tracking id</dt><dd><input name="tracking_id" maxlength="64">'
        '</dd><dt>Photos</dt><dd><input type="file" name="photos" multiple '
        'accept="image/jpeg,image/png,image/webp"></dd></dl><label class="consent">'
        '<input type="checkbox" name="signature_confirmed" value="1">I hold the delivery '
        'signature (its photo is attached)</label><button class="primary">File claim</button>'
        "</form>") if claimable else ""
    parts.append("<h2>Claims</h2>"
                 "<table><thead><tr><th>Claim</th><th>Order</th><th>Status</th><th>Reason</th>"
                 "<th>Claimed</th><th>Granted</th><th>Decision</th></tr></thead>"
                 f"<tbody>{claim_rows}</tbody></table>{form}")
    return _page("Your account", "".join(parts), seller)


def cpu_chart(points: list[CpuPoint], bands: list[Decimal]) -> str:
    """An inline SVG bar chart of the CPU each month's tier was fixed from, with the bands."""
    width, height, left, bottom, top = 640, 200, 44, 24, 10
    known = [p.cpu for p in points if p.cpu is not None]
    ceiling = max([Decimal("0.35"), *[b * Decimal("1.15") for b in bands],
                   *[c * Decimal("1.1") for c in known]])
    plot_h = height - bottom - top
    step = (width - left) / max(len(points), 1)

    def y(value: Decimal) -> float:
        return top + plot_h * (1 - float(value / ceiling))

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'aria-label="Contacts per unit over the last {len(points)} months">']
    for band in bands:
        parts.append(f'<line x1="{left}" x2="{width}" y1="{y(band):.1f}" y2="{y(band):.1f}" '
                     f'stroke="#d0d5dd" stroke-dasharray="4 3"/><text x="2" '
                     f'y="{y(band) + 4:.1f}">{band * 100:.0f} %</text>')
    for i, p in enumerate(points):
        x = left + i * step + step * 0.2
        label = f"{p.month}: " + (f"{p.cpu * 100:.1f} %" if p.cpu is not None
                                  else f"unknown ({p.units} units)")
        if p.cpu is not None:
            parts.append(f'<rect x="{x:.1f}" y="{y(p.cpu):.1f}" width="{step * 0.6:.1f}" '
                         f'height="{top + plot_h - y(p.cpu):.1f}" fill="#1f6feb">'
                         f"<title>{escape(label)}</title></rect>")
        else:
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - 4}" width="{step * 0.6:.1f}" '
                         f'height="4" fill="#d0d5dd"><title>{escape(label)}</title></rect>')
        parts.append(f'<text x="{x:.1f}" y="{height - 6}">{escape(str(p.month)[2:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_statements(seller: str, month: Month, statements: list[Statement],
                      charts: dict[str, list[CpuPoint]], this_month: Month) -> str:
    nav = (f'<p><a href="/seller/statements?month={month.plus(-1)}">&larr; {month.plus(-1)}</a>'
           + (f' · <a href="/seller/statements?month={month.plus(1)}">{month.plus(1)} &rarr;</a>'
              if month < this_month else "")
           + f' · <a href="/seller/statements/{month}/csv">CSV</a> · '
             f'<a href="/seller/account">Account</a></p>')
    parts = [f"<h1>Statement {escape(str(month))}</h1>{nav}"]
    if not statements:
        parts.append('<p class="muted">No units shipped and no contacts in this month or the '
                     "three before it.</p>")
    for s in statements:
        b = s.cpu_basis
        cpu = f"{b.cpu * 100:.2f} %" if b.cpu is not None else "unknown"
        discounts = "".join(
            f"<tr><td>Discount: {escape(d.reason)}</td><td class=\"num\">-{escape(str(d.amount))}"
            f" {escape(s.currency)}</td></tr>" for d in s.discounts)
        status = "" if s.final else " (provisional)"
        rows = [("Units shipped (MFN, covered orders)", str(s.units_shipped)),
                ("of which in the free trial", str(s.units_in_trial)),
                ("Contacts handled this month", str(s.contacts)),
                (f"CPU {b.from_month} to {b.to_month} ({b.contacts} contacts / {b.units} "
                 "units)", cpu),
                ("Tier (fixed on the 1st)", s.tier_label),
                (f"Fee per unit ({s.fee_table} table)", f"{s.fee_per_unit} {s.currency}"),
                (f"{s.units_charged} units charged", f"{s.subtotal} {s.currency}"),
                (f"Valid tracking rate {s.month}",
                 "not recorded" if s.valid_tracking_rate is None
                 else f"{(s.valid_tracking_rate * 100).normalize():f} %")]
        if s.share_charged is not None:
            rows.append((f"VTR table: {s.vtr_band}, {s.vtr_cpu_band}",
                         f"{(s.share_charged * 100).normalize():f} % of the fee charged"))
        body = "".join(f'<tr><td>{escape(label)}</td><td class="num">{escape(value)}</td></tr>'
                       for label, value in rows)
        parts.append(
            f"<h2>{escape(s.marketplace)}{status}</h2><table><tbody>{body}{discounts}"
            f"<tr class=\"total\"><td>Total</td><td class=\"num\">{escape(str(s.total))} "
            f"{escape(s.currency)}</td></tr></tbody></table>"
            + "".join(f'<p class="muted">{escape(n)}</p>' for n in s.notes))
        if s.marketplace in charts:
            bands = [t.max_cpu for t in fee_schedule(s.fee_table).table.tiers
                     if t.max_cpu is not None]
            parts.append("<h3>Contacts per unit, last 12 months</h3>"
                         + cpu_chart(charts[s.marketplace], bands))
    return _page(f"Statement {month}", "".join(parts), seller)
