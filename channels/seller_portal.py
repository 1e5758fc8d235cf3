"""The seller portal: sellers read their cases and answer them, by JSON API or web pages.

A seller sees only its own cases, and never the customer: no conversation, transcript or
contact detail leaves through here (``CasePublic`` has no field for them). Tokens are stored
only as SHA-256 hashes.
"""

# No ``from __future__ import annotations``: the routes' annotations name dependencies made
# inside the router factory, which FastAPI could not resolve from strings.
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, Engine, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from agent.cases import CaseError, seller_case
from agent.core import Agent
from agent.db import Base, CaseRow, Store
from agent.messages import MAX_TEXT_CHARS
from agent.records import Customer
from agent.replies import render
from base.clock import as_utc, wall_clock
from knowledge.case_rules import OnExpiry
from seller.privacy import redact_customer

log = logging.getLogger(__name__)

COOKIE = "csba_seller"
# The sign-in form's double-submit token: the same random value in a cookie and in the form.
# A page of another site can post the form but can neither read nor set the cookie, so it
# cannot sign a browser into an account of the attacker's choosing.
LOGIN_CSRF_COOKIE = "csba_login_csrf"
OPEN = "awaiting_seller"
CaseStatus = Literal["awaiting_seller", "answered", "resolved", "expired"]
_bearer = HTTPBearer(auto_error=False, description="a seller token from issue_token")


class SellerTokenRow(Base):
    """A seller's portal token, by its SHA-256 hash: a leaked table grants no access."""

    __tablename__ = "seller_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def ensure_tables(engine: Engine) -> None:
    Base.metadata.create_all(engine, tables=[SellerTokenRow.__table__])  # type: ignore[list-item]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(store: Store, seller_id: str) -> str:
    """A new portal token for a seller; only its hash is kept, so show it once."""
    if store.seller(seller_id) is None:
        raise ValueError(f"no seller {seller_id!r}")
    ensure_tables(store.engine)
    token = "csba_" + secrets.token_urlsafe(32)
    with store.sessions.begin() as session:
        session.add(SellerTokenRow(token_hash=hash_token(token), seller_id=seller_id,
                                   created_at=datetime.now(UTC)))
    log.info("portal token issued for seller %s", seller_id)
    return token


def revoke_tokens(store: Store, seller_id: str) -> int:
    """Remove every token of a seller; returns how many there were."""
    ensure_tables(store.engine)
    with store.sessions.begin() as session:
        result = session.execute(delete(SellerTokenRow).where(
            SellerTokenRow.seller_id == seller_id))
        return int(getattr(result, "rowcount", 0) or 0)


def seller_for_token(store: Store, token: str | None) -> str | None:
    if not token:
        return None
    with store.reads() as session:
        return session.scalar(select(SellerTokenRow.seller_id).where(
            SellerTokenRow.token_hash == hash_token(token)))


class CasePublic(BaseModel):
    """A case as its seller sees it. Deliberately without the conversation, the transcript
    and the customer's contact details: the row's link to them is not a field here."""

    model_config = ConfigDict(extra="forbid")

    id: str
    order_id: str | None
    marketplace: str
    asins: list[str]
    category: str
    question: str
    needs: str
    topic: str | None
    status: CaseStatus
    created_at: datetime
    due_at: datetime
    answer: str | None
    answered_at: datetime | None
    added_to_knowledge: bool
    resolution: dict[str, Any] | None  # what the service decided when the deadline passed

    @classmethod
    def from_row(cls, row: CaseRow, customer: Customer | None = None) -> "CasePublic":
        """The seller's view of a case row; ``customer`` (of the case's order) is redacted
        from every text."""
        def clean(text: str) -> str:
            return redact_customer(text, customer)

        return cls(id=row.id, order_id=row.order_id, marketplace=row.marketplace,
                   asins=list(row.asins), category=row.category, question=clean(row.question),
                   needs=clean(row.needs), topic=row.topic,
                   status=row.status,  # type: ignore[arg-type]
                   created_at=as_utc(row.created_at), due_at=as_utc(row.due_at),
                   answer=row.answer,
                   answered_at=as_utc(row.answered_at) if row.answered_at else None,
                   added_to_knowledge=bool(row.add_to_knowledge), resolution=row.resolution)


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    answer: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    add_to_knowledge: bool = Field(
        default=False, description="consent: add this answer to the product page knowledge "
                                   "(product questions only)")


def _csrf(token: str) -> str:
    # Derived from the session's own token: a page of another site cannot know it.
    return hmac.new(token.encode("utf-8"), b"seller-portal-form", hashlib.sha256).hexdigest()


def cookie_seller(store: Store, request: Request) -> tuple[str, str] | None:
    """(seller id, token) of the portal page's signed-in seller, from its cookie."""
    token = request.cookies.get(COOKIE)
    seller_id = seller_for_token(store, token)
    return (seller_id, token) if seller_id and token else None


def display_name(store: Store, seller_id: str) -> str:
    seller = store.seller(seller_id)
    return seller.name if seller else seller_id


def seller_from_bearer(store: Store) -> Callable[..., str]:
    """The dependency every seller API route uses: its bearer token, checked, as a seller id."""

    def api_seller(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                          Depends(_bearer)]) -> str:
        if credentials is None:
            raise HTTPException(401, "missing token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        seller_id = seller_for_token(store, credentials.credentials)
        if seller_id is None:
            raise HTTPException(401, "invalid or revoked token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return seller_id

    return api_seller


def seller_portal_router(agent: Agent, *, clock: Callable[[], datetime] | None = None
                         ) -> APIRouter:
    """The portal's API (``/v1/seller/...``, Bearer token) and pages (``/seller...``)."""
    store = agent.store
    ensure_tables(store.engine)
    now = clock or wall_clock
    router = APIRouter()

    Seller = Annotated[str, Depends(seller_from_bearer(store))]

    def public(row: CaseRow) -> CasePublic:
        order = store.order(row.order_id) if row.order_id else None
        return CasePublic.from_row(row, order.customer if order else None)

    def cases_of(seller_id: str, status: str | None = None) -> list[CasePublic]:
        with store.reads() as session:
            query = select(CaseRow).where(CaseRow.seller_id == seller_id)
            if status:
                query = query.where(CaseRow.status == status)
            rows = list(session.scalars(query.order_by(CaseRow.due_at.desc())))
        return [public(row) for row in rows]

    def one_case(seller_id: str, case_id: str) -> CasePublic:
        with store.reads() as session:
            try:
                row = seller_case(session, case_id, seller_id)
            except CaseError as exc:
                raise HTTPException(404, str(exc)) from exc
        return public(row)

    def answer_case(seller_id: str, case_id: str, body: AnswerIn) -> CasePublic:
        case = one_case(seller_id, case_id)
        if case.status != OPEN:
            raise HTTPException(409, f"case {case_id} is {case.status}; it can no longer be "
                                     "answered")
        try:
            answered = agent.answer_case(case_id, seller_id, body.answer,
                                         add_to_knowledge=body.add_to_knowledge, now=now())
        except CaseError as exc:  # answered or expired since it was read
            raise HTTPException(409, str(exc)) from exc
        log.info("case %s answered by seller %s (chars=%d, knowledge=%s)", case_id, seller_id,
                 len(body.answer), answered.add_to_knowledge)
        return public(answered)

    # --- JSON API -------------------------------------------------------------------------

    @router.get("/v1/seller/cases", tags=["seller"])
    def list_cases(seller_id: Seller,
                   status: Annotated[CaseStatus | None, Query()] = None) -> list[CasePublic]:
        """The seller's cases, latest due first."""
        return cases_of(seller_id, status)

    @router.get("/v1/seller/cases/{case_id}", tags=["seller"])
    def read_case(seller_id: Seller, case_id: str) -> CasePublic:
        return one_case(seller_id, case_id)

    @router.post("/v1/seller/cases/{case_id}/answer", tags=["seller"], responses={
        409: {"description": "the case is answered or expired already"}})
    def post_answer(seller_id: Seller, case_id: str, body: AnswerIn) -> CasePublic:
        """Answer a case: the answer is relayed to the customer on their channel and, with
        consent, added to the product's knowledge."""
        return answer_case(seller_id, case_id, body)

    # --- pages ----------------------------------------------------------------------------

    def page_seller(request: Request) -> tuple[str, str] | None:
        return cookie_seller(store, request)

    def to_login() -> RedirectResponse:
        response = RedirectResponse("/seller", status_code=303)
        response.delete_cookie(COOKIE, path="/seller")
        return response

    def seller_name(seller_id: str) -> str:
        return display_name(store, seller_id)

    def login_form(request: Request, error: str | None = None, status: int = 200) -> Response:
        csrf = secrets.token_hex(32)
        response = HTMLResponse(render_login(csrf, error), status_code=status)
        response.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                            path="/seller", secure=request.url.scheme == "https")
        return response

    @router.get("/seller", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> Response:
        if page_seller(request):
            return RedirectResponse("/seller/cases", status_code=303)
        return login_form(request)

    @router.post("/seller/login", include_in_schema=False)
    def login(request: Request, token: Annotated[str, Form(max_length=200)] = "",
              csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
            log.warning("portal sign-in refused: the form's CSRF token did not match")
            return login_form(request, "The sign-in form expired or was sent from another "
                                       "page. Please sign in again.", status=403)
        token = token.strip()
        if not seller_for_token(store, token):
            return login_form(request, "That token is not valid.", status=401)
        response = RedirectResponse("/seller/cases", status_code=303)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/seller")
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/seller",
                            secure=request.url.scheme == "https")
        return response

    @router.post("/seller/logout", include_in_schema=False)
    def logout() -> Response:
        return to_login()

    @router.get("/seller/cases", response_class=HTMLResponse, include_in_schema=False)
    def cases_page(request: Request) -> Response:
        auth = page_seller(request)
        if auth is None:
            return to_login()
        seller_id, _ = auth
        return HTMLResponse(render_cases(seller_name(seller_id), cases_of(seller_id), now()))

    @router.get("/seller/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    def case_page(request: Request, case_id: str, answered: int = 0) -> Response:
        auth = page_seller(request)
        if auth is None:
            return to_login()
        seller_id, token = auth
        try:
            case = one_case(seller_id, case_id)
        except HTTPException:
            return HTMLResponse(render_missing(seller_name(seller_id), case_id), status_code=404)
        return HTMLResponse(render_case(seller_name(seller_id), case, now(), _csrf(token),
                                        confirmed=bool(answered)))

    @router.post("/seller/cases/{case_id}/answer", include_in_schema=False)
    def answer_form(request: Request, case_id: str,
                    answer: Annotated[str, Form()] = "",
                    add_to_knowledge: Annotated[str | None, Form()] = None,
                    csrf: Annotated[str, Form()] = "") -> Response:
        auth = page_seller(request)
        if auth is None:
            return to_login()
        seller_id, token = auth
        if not hmac.compare_digest(csrf, _csrf(token)):
            return HTMLResponse(render_missing(seller_name(seller_id), case_id,
                                               "This form has expired; open the case again."),
                                status_code=403)
        text = answer.strip()
        error = ("Write an answer before sending." if not text else
                 f"The answer is {len(text)} characters long; at most {MAX_TEXT_CHARS} fit."
                 if len(text) > MAX_TEXT_CHARS else None)
        try:
            if error is None:
                answer_case(seller_id, case_id, AnswerIn(
                    answer=text, add_to_knowledge=add_to_knowledge is not None))
                return RedirectResponse(f"/seller/cases/{case_id}?answered=1", status_code=303)
        except HTTPException as exc:
            if exc.status_code == 404:
                return HTMLResponse(render_missing(seller_name(seller_id), case_id),
                                    status_code=404)
            error, status = str(exc.detail), exc.status_code
        else:
            status = 422
        case = one_case(seller_id, case_id)
        return HTMLResponse(render_case(seller_name(seller_id), case, now(), _csrf(token),
                                        error=error, draft=text), status_code=status)

    return router


# --- HTML (server-rendered; every value passes through html.escape) --------------------------

STYLE = """
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 background:#f4f5f7;color:#1d2530}
header{background:#1d2530;color:#fff;padding:12px 24px;display:flex;align-items:center;gap:16px}
header b{font-size:16px} header .who{margin-left:auto;opacity:.85;font-size:14px}
header a{color:#fff;font-size:14px;text-decoration:none;opacity:.85}
header form{margin:0} header button{background:none;border:1px solid #667085;color:#fff;
 border-radius:6px;padding:3px 10px;cursor:pointer}
main{max-width:980px;margin:24px auto;background:#fff;border:1px solid #dde1e6;
 border-radius:10px;padding:20px 28px}
h1{font-size:20px;margin:0 0 16px} a{color:#1f6feb}
table{width:100%;border-collapse:collapse;font-size:14px}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{color:#667085;font-weight:600;font-size:12px;text-transform:uppercase}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
 white-space:nowrap} td.ref{white-space:nowrap}
.awaiting_seller{background:#fef0c7;color:#93370d} .answered{background:#d1fadf;color:#05603a}
.resolved{background:#d1e9ff;color:#1849a9} .expired{background:#eaecf0;color:#344054}
.late{color:#b42318;font-weight:600} .muted{color:#667085;font-size:13px}
dl{display:grid;grid-template-columns:160px 1fr;gap:6px 16px;margin:0 0 18px}
dt{color:#667085} dd{margin:0}
.box{background:#f9fafb;border:1px solid #eef0f3;border-radius:8px;padding:12px 14px;
 margin:0 0 14px;white-space:pre-wrap}
textarea{width:100%;min-height:140px;font:inherit;padding:10px;border:1px solid #d0d5dd;
 border-radius:8px;box-sizing:border-box}
input[type=password]{font:inherit;padding:8px;width:100%;box-sizing:border-box;
 border:1px solid #d0d5dd;border-radius:8px}
button.primary{background:#1f6feb;color:#fff;border:0;border-radius:8px;padding:9px 18px;
 font:inherit;font-weight:600;cursor:pointer}
.notice{background:#ecfdf3;border:1px solid #abefc6;color:#05603a;padding:10px 14px;
 border-radius:8px;margin-bottom:16px}
.error{background:#fef3f2;border:1px solid #fecdca;color:#b42318;padding:10px 14px;
 border-radius:8px;margin-bottom:16px}
label.consent{display:flex;gap:8px;align-items:center;margin:10px 0 14px}
"""
STATUS_LABELS = {"awaiting_seller": "awaiting your answer", "answered": "answered",
                 "resolved": "resolved", "expired": "expired: decided by the service"}


def _layout(title: str, body: str, seller: str | None = None) -> str:
    who = (f'<a href="/seller/cases">Cases</a><a href="/seller/statements">Statements</a>'
           f'<a href="/seller/account">Account</a><a href="/seller/handover">Hand-over</a>'
           f'<a href="/seller/page-gaps">Page gaps</a>'
           f'<span class="who">{escape(seller)}</span><form method="post" '
           f'action="/seller/logout"><button>Sign out</button></form>') if seller else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f'<style>{STYLE}</style></head><body><header><b>Seller portal</b>{who}</header>'
            f"<main>{body}</main></body></html>")


def _when(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def _due(case: CasePublic, now: datetime) -> str:
    due = case.due_at
    if case.status != OPEN:
        return f'<span class="muted">{_when(due)}</span>'
    hours = (due - as_utc(now)).total_seconds() / 3600
    if hours < 0:
        return f'{_when(due)} <span class="late">overdue by {-hours:.0f} h</span>'
    return f'{_when(due)} <span class="muted">in {hours:.0f} h</span>'


def _badge(status: str) -> str:
    return (f'<span class="badge {escape(status)}">'
            f"{escape(STATUS_LABELS.get(status, status))}</span>")


def render_login(csrf: str, error: str | None = None) -> str:
    problem = f'<p class="error">{escape(error)}</p>' if error else ""
    return _layout("Seller portal: sign in", (
        f"<h1>Sign in</h1>{problem}<p>Enter the portal token you received for your seller "
        f'account.</p><form method="post" action="/seller/login">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}"><p><input type="password" '
        f'name="token" autocomplete="current-password" aria-label="Token" required></p>'
        f'<button class="primary">Sign in</button></form>'))


def render_cases(seller: str, cases: list[CasePublic], now: datetime) -> str:
    if not cases:
        rows = '<tr><td colspan="6" class="muted">No cases yet.</td></tr>'
    else:
        rows = "".join(
            f'<tr><td class="ref"><a href="/seller/cases/{escape(c.id)}">{escape(c.id)}</a></td>'
            f"<td>{_badge(c.status)}</td><td>{escape(c.category)}</td>"
            f"<td class=\"ref\">{escape(c.order_id or '-')}<br><span class=\"muted\">"
            f"{escape(', '.join(c.asins))}</span></td><td>{escape(c.question)}</td>"
            f"<td>{_due(c, now)}</td></tr>" for c in cases)
    waiting = sum(1 for c in cases if c.status == OPEN)
    return _layout("Your cases", (
        f"<h1>Your cases</h1><p class=\"muted\">{waiting} awaiting your answer. Answer within "
        f"24 hours; after that the service decides by the returns policy.</p>"
        f"<table><thead><tr><th>Case</th><th>Status</th><th>Category</th><th>Order</th>"
        f"<th>Question</th><th>Due</th></tr></thead><tbody>{rows}</tbody></table>"), seller)


def render_case(seller: str, case: CasePublic, now: datetime, csrf: str, *,
                confirmed: bool = False, error: str | None = None, draft: str = "") -> str:
    parts = [f"<h1>Case {escape(case.id)} {_badge(case.status)}</h1>"]
    if confirmed and case.status == "answered":
        added = " and added to the product page knowledge" if case.added_to_knowledge else ""
        parts.append(f'<p class="notice">Thank you: your answer was sent to the '
                     f"customer{added}.</p>")
    if error:
        parts.append(f'<p class="error">{escape(error)}</p>')
    products = ", ".join(
        f'<a href="/v1/knowledge/pages/{escape(a)}?marketplace={escape(case.marketplace)}">'
        f"{escape(a)}</a>" for a in case.asins) or "-"
    parts.append(
        f"<dl><dt>Order</dt><dd>{escape(case.order_id or '-')}</dd>"
        f"<dt>Marketplace</dt><dd>{escape(case.marketplace)}</dd>"
        f"<dt>Products</dt><dd>{products}</dd><dt>Category</dt><dd>{escape(case.category)}</dd>"
        f"<dt>Topic</dt><dd>{escape(case.topic or '-')}</dd>"
        f"<dt>Opened</dt><dd>{_when(case.created_at)}</dd><dt>Due</dt><dd>{_due(case, now)}</dd>"
        f"</dl><h2>Question</h2><div class=\"box\">{escape(case.question)}</div>"
        f"<h2>What we need from you</h2><div class=\"box\">{escape(case.needs)}</div>")
    if case.status == OPEN:
        consent = (
            '<label class="consent"><input type="checkbox" name="add_to_knowledge" value="1">'
            "Add this answer to the product page knowledge, so the next customer gets it at "
            "once</label>" if case.category == "product_question" else "")
        parts.append(
            f'<h2>Your answer</h2><form method="post" action="/seller/cases/{escape(case.id)}'
            f'/answer"><input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<textarea name="answer" maxlength="{MAX_TEXT_CHARS}" required '
            f'aria-label="Your answer">{escape(draft)}</textarea>{consent}'
            f'<button class="primary">Send answer to the customer</button></form>')
    elif case.answer:
        added = ('<p class="muted">Added to the product page knowledge.</p>'
                 if case.added_to_knowledge else "")
        answered = _when(case.answered_at) if case.answered_at else "-"
        parts.append(f"<h2>Your answer</h2><div class=\"box\">{escape(case.answer)}</div>"
                     f'<p class="muted">Sent {answered}.</p>{added}')
    elif case.status == "expired" and case.resolution:
        refund = case.resolution.get("refund") or {}
        paid = (f" Refund issued at your cost: {escape(str(refund.get('amount')))} "
                f"{escape(str(refund.get('currency')))}." if refund else "")
        outcome = case.resolution.get("on_expiry")
        # The expiry rule's outcome, in the words of the seller's notification mail.
        told = (" On expiry, " + render(f"seller_on_expiry_{outcome}", "en")
                if isinstance(outcome, str) and outcome in get_args(OnExpiry) else "")
        parts.append(f"<h2>Decided by the service</h2><div class=\"box\">No answer came by "
                     f"{escape(_when(case.due_at))}; the service decided by rule "
                     f"{escape(str(case.resolution.get('rule', '-')))}.{escape(told)}{paid}"
                     f"</div>")
    parts.append('<p><a href="/seller/cases">All cases</a></p>')
    return _layout(f"Case {case.id}", "".join(parts), seller)


def render_missing(seller: str, case_id: str, message: str | None = None) -> str:
    text = message or f"There is no case {case_id} for your account."
    return _layout("Case not found", f'<h1>Case not found</h1><p class="error">{escape(text)}'
                   f'</p><p><a href="/seller/cases">All cases</a></p>', seller)
