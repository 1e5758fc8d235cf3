"""The seller's account pages (``/seller/...``, the portal's cookie): the account with its
refunds and claims, the enrolment page, and the monthly statements."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from portal.account import Account, RefundOut, statements_download
from portal.auth import SignedIn, to_sign_in
from portal.charts import cpu_chart
from portal.deps import PageSellerDep
from portal.enrolment import enrolment_page
from portal.pages import page
from portal.statement_text import discount_reason, statement_notes, tier_label
from portal.strings import FALLBACK, say, strings_for
from seller.claims import MAX_DESCRIPTION, ClaimPublic, ClaimRefusal, ClaimRequest, claims_of
from seller.evidence import EvidenceError
from seller.months import Month
from seller.statements import Statement
from seller.terms import fee_schedule, load_terms

log = logging.getLogger(__name__)



def claimable(refunds: list[RefundOut], claims: list[ClaimPublic]) -> list[RefundOut]:
    """The refunds a claim may still name: one claim per refund the service issued; a claim
    that covered a whole order (before claims were per refund) covers all its refunds."""
    claimed = {c.refund_id for c in claims if c.refund_id is not None}
    whole = {c.order_id for c in claims if c.refund_id is None}
    return [r for r in sorted(refunds, key=lambda r: (r.order_id, r.refund_id))
            if r.issued_by == "service" and r.refund_id not in claimed
            and r.order_id not in whole]


def refusal_text(exc: HTTPException, language: str) -> str:
    """A refused claim as its page says it: the rule's wording (``refusal_*``) in the page's
    language with the refusal's figures, in English the API's message; and the rule."""
    detail = exc.detail if isinstance(exc.detail, dict) else {"message": exc.detail}
    rule = str(detail.get("rule", "-"))
    cause = exc.__cause__
    key = "refusal_" + rule.replace(".", "_")
    message = str(detail["message"])  # in English, the API's own message word for word
    if language != FALLBACK and isinstance(cause, ClaimRefusal | EvidenceError) \
            and key in strings_for(language):
        message = say(language, key, **cause.values)
    return f"{message} {say(language, 'refusal_rule', rule=rule)}"


def refused_month(exc: HTTPException, month: str, today: date, language: str) -> str:
    """Why a month has no statement, in the page's language; in English the API's message."""
    detail = exc.detail if isinstance(exc.detail, dict) else {"message": exc.detail}
    key = "refusal_" + str(detail.get("rule", "-")).replace(".", "_")
    if language == FALLBACK or key not in strings_for(language):
        return str(detail["message"])
    return say(language, key, month=month, today=today)


def account_pages(account: Account) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def account_html(seller: SignedIn, *, status: int = 200, changed: str = "",
                     filed: str = "", error: str = "") -> HTMLResponse:
        refunds = account.refunds(seller.seller_id)
        claims = claims_of(account.store, seller.seller_id)
        this_month = Month.of(account.now().date())
        return page("account.html", status=status, seller=seller.name, lang=seller.language,
                    enrolment=account.enrolment(seller.seller_id), refunds=refunds,
                    claims=claims, claimable=claimable(refunds, claims),
                    months=[this_month.plus(-n) for n in range(0, 12)],
                    csrf=seller.csrf("account"), max_description=MAX_DESCRIPTION,
                    reasons=load_terms("DE").claims.eligible_reasons,
                    changed=changed, filed=filed, error=error)

    @router.get("/seller/account", response_class=HTMLResponse)
    def account_page(seller: PageSellerDep, changed: str = "", filed: str = "") -> Response:
        if seller is None:
            return to_sign_in()
        return account_html(seller, changed=changed, filed=filed)

    @router.post("/seller/claims")
    def claim_form(seller: PageSellerDep, order_id: Annotated[str, Form(max_length=32)] = "",
                   reason: Annotated[str, Form(max_length=48)] = "",
                   description: Annotated[str, Form(max_length=MAX_DESCRIPTION)] = "",
                   tracking_id: Annotated[str, Form(max_length=64)] = "",
                   signature_confirmed: Annotated[str | None, Form()] = None,
                   photos: Annotated[list[UploadFile] | None, File()] = None,
                   csrf: Annotated[str, Form()] = "") -> Response:
        if seller is None:
            return to_sign_in()
        if not seller.sent(csrf, "account"):
            return account_html(seller, status=403, error=say(seller.language, "form_expired"))
        # The form names "order|refund" (one option per claimable refund); an order alone
        # is the order's one unclaimed refund.
        order_part, _, refund_part = order_id.partition("|")
        try:
            claim = account.submit_claim(seller.seller_id, ClaimRequest(
                order_id=order_part.strip(), reason=reason.strip(),
                description=description.strip(), tracking_id=tracking_id.strip() or None,
                signature_confirmed=signature_confirmed is not None,
                refund_id=int(refund_part) if refund_part.strip().isdigit() else None),
                photos or [])
        except HTTPException as exc:
            return account_html(seller, status=exc.status_code,
                                error=refusal_text(exc, seller.language))
        return RedirectResponse(f"/seller/account?filed={claim.id}", status_code=303)

    return router


def enrolment_pages(account: Account) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/seller/account/enrolment", response_class=HTMLResponse)
    def explained(seller: PageSellerDep) -> Response:
        """What the service covers, its fees, the trial and the opt-out, before enrolling."""
        if seller is None:
            return to_sign_in()
        return enrolment_page(seller, account.terms(seller.seller_id),
                              enrolled=account.enrolment(seller.seller_id).status == "active",
                              today=account.now().date())

    @router.post("/seller/account/enrolment")
    def enrolment_form(seller: PageSellerDep, action: Annotated[str, Form()] = "",
                       csrf: Annotated[str, Form()] = "",
                       terms_read_on: Annotated[str, Form()] = "") -> Response:
        if seller is None:
            return to_sign_in()
        if action not in ("enrol", "opt_out") or not seller.sent(csrf, "account"):
            return page("problem.html", status=403, seller=seller.name,
                        lang=seller.language, title=say(seller.language, "form_expired_title"),
                        heading=None, message=say(seller.language, "form_expired_page"))
        if action == "enrol" and terms_read_on != str(account.terms(seller.seller_id).read_on):
            # Confirmed only from the page that explains the service, and only the terms
            # in force: a stale or bare form shows the explanation first.
            return RedirectResponse("/seller/account/enrolment", status_code=303)
        try:
            account.change_enrolment(seller.seller_id,
                                     "enrol" if action == "enrol" else "opt_out")
        except HTTPException as exc:
            log.info("enrolment change refused for seller %s: %s", seller.seller_id,
                     exc.detail)
        return RedirectResponse(f"/seller/account?changed={action}", status_code=303)

    return router


def statement_rows(s: Statement, language: str = FALLBACK) -> list[tuple[str, str]]:
    """A statement's lines as the page shows them: what, and how much."""
    def t(key: str, **values: object) -> str:
        return say(language, key, **values)

    b = s.cpu_basis
    cpu = f"{b.cpu * 100:.2f} %" if b.cpu is not None else t("st_unknown")
    rows = [(t("st_units_shipped"), str(s.units_shipped)),
            (t("st_units_in_trial"), str(s.units_in_trial)),
            (t("st_contacts"), str(s.contacts)),
            (t("st_cpu", start=b.from_month, end=b.to_month, contacts=b.contacts,
               units=b.units), cpu),
            (t("st_tier"), tier_label(s, language)),
            (t("st_fee_per_unit", table=s.fee_table), f"{s.fee_per_unit} {s.currency}"),
            (t("st_units_charged", units=s.units_charged), f"{s.subtotal} {s.currency}"),
            (t("st_vtr", month=s.month),
             t("st_not_recorded") if s.valid_tracking_rate is None
             else f"{(s.valid_tracking_rate * 100).normalize():f} %")]
    if s.share_charged is not None:
        rows.append((t("st_vtr_table", band=s.vtr_band, cpu_band=s.vtr_cpu_band),
                     t("st_share_charged",
                       percent=f"{(s.share_charged * 100).normalize():f} %")))
    return rows


def fee_bands(s: Statement) -> list[Decimal]:
    return [t.max_cpu for t in fee_schedule(s.fee_table).table.tiers if t.max_cpu is not None]


def statement_pages(account: Account) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/seller/statements", response_class=HTMLResponse)
    def statements_page(seller: PageSellerDep, month: str = "") -> Response:
        if seller is None:
            return to_sign_in()
        this_month = Month.of(account.now().date())
        month = month or str(this_month.plus(-1))
        try:
            found = account.statements(seller.seller_id, month, None)
        except HTTPException as exc:
            message = refused_month(exc, month, account.now().date(), seller.language)
            return page("problem.html", status=exc.status_code, seller=seller.name,
                        lang=seller.language, title=say(seller.language, "statement"),
                        heading=say(seller.language, "statement"), message=message)
        parsed = Month.parse(month)
        histories = account.cpu_histories(found, parsed)
        language = seller.language
        charts = {s.marketplace: cpu_chart(histories[s.marketplace], fee_bands(s), language)
                  for s in found.statements if s.marketplace in histories}
        return page("statements.html", seller=seller.name, lang=seller.language, month=parsed,
                    statements=found.statements, charts=charts, this_month=this_month,
                    rows={s.marketplace: statement_rows(s, language) for s in found.statements},
                    notes={s.marketplace: statement_notes(s, language)
                           for s in found.statements},
                    reason=lambda s, d: discount_reason(s, d.rule, d.reason, language))

    @router.get("/seller/statements/{month}/csv")
    def statements_csv_page(seller: PageSellerDep, month: str) -> Response:
        if seller is None:
            return to_sign_in()
        return statements_download(account.statements(seller.seller_id, month, None), month)

    return router
