"""Seller routes for hand-overs, resolution summaries and the page-gap report.

API under ``/v1/seller/...`` (the seller's bearer token) and portal pages under
``/seller/...`` (the portal's cookie). A seller reaches only its own orders; nothing here
shows a customer's conversation or contact details.
"""

# No ``from __future__ import annotations``: the routes' annotations name dependencies made
# inside the router factory, which FastAPI could not resolve from strings.
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import date, datetime
from html import escape
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from agent.db import Store
from agent.messages import MAX_TEXT_CHARS, MessageHandler
from agent.records import ORDER_ID_PATTERN
from agent.understanding import extract_order_ids
from base.clock import as_utc, wall_clock
from base.settings import DEFAULT_SELLER_SUPPORT_URL
from channels.seller_portal import (
    _csrf,
    _layout,
    cookie_seller,
    display_name,
    seller_from_bearer,
)
from seller.handover_desk import (
    UNKNOWN_ORDER,
    HandoverDesk,
    HandoverRequest,
    HandoverResult,
    handover_address_for,
    handovers_of,
)
from seller.page_gaps import Period, page_gap_chart, page_gap_report, page_gaps_csv
from seller.summaries import ResolutionSummary, UnknownOrder, resolution_summary

log = logging.getLogger(__name__)


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    order_id: str = Field(pattern=ORDER_ID_PATTERN)
    message: str = Field(min_length=1, max_length=MAX_TEXT_CHARS,
                         description="the customer's message, as the customer wrote it")
    subject: str = Field(default="", max_length=200,
                         description="the customer's subject, used for the answer by email")
    client_reference: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="your id for this hand-over: a retried POST with it is processed once")


class HandoverOut(BaseModel):
    handover_id: str
    status: Literal["taken_over", "refused"]
    message: str
    rule: str | None
    order_id: str | None
    outcome: str | None
    case_id: str | None
    answered_by: str | None  # "email" or "sms"; never the address or number


class PageGapOut(BaseModel):
    case_id: str
    page_field: str
    period: str
    opened_at: datetime
    question: str
    status: str
    answer: str | None
    answered_at: datetime | None
    added_to_page: bool


class ProductGapsOut(BaseModel):
    asin: str
    marketplace: str
    title: str
    questions: int
    answered: int
    by_field: dict[str, int]
    gaps: list[PageGapOut]


class PageGapsOut(BaseModel):
    period: Period
    by_period: dict[str, int]
    by_field: dict[str, int]
    products: list[ProductGapsOut]


def _out(result: HandoverResult) -> HandoverOut:
    return HandoverOut(handover_id=result.handover_id, status=result.status,
                       message=result.message, rule=result.rule, order_id=result.order_id,
                       outcome=result.outcome, case_id=result.case_id,
                       answered_by=result.answered_by)


def seller_reports_router(store: Store, handle: MessageHandler, *,
                          handover_addresses: dict[str, str],
                          clock: Callable[[], datetime] | None = None,
                          seller_support_url: str = DEFAULT_SELLER_SUPPORT_URL) -> APIRouter:
    """``handle`` is the handler every channel uses: a handed-over message gets the same turn.
    ``seller_support_url`` is where every resolution summary sends the seller's questions."""
    now = clock or wall_clock
    desk = HandoverDesk(store, clock=now)
    router = APIRouter()
    SellerId = Annotated[str, Depends(seller_from_bearer(store))]

    # --- shared by the API and the pages ---------------------------------------------------

    def hand_over(seller_id: str, body: HandoverIn, source: Literal["portal", "api"]
                  ) -> HandoverResult:
        seller = store.seller(seller_id)
        reference = body.client_reference or secrets.token_hex(12)
        request = HandoverRequest(source=source,
                                  source_key=f"{source}:{seller_id}:{reference}",
                                  text=body.message, subject=body.subject,
                                  order_ids=[body.order_id])
        return desk.take_over(seller, request, handle)

    def summary(seller_id: str, order_id: str) -> ResolutionSummary:
        try:
            return resolution_summary(store, seller_id, order_id,
                                      seller_support_url=seller_support_url)
        except UnknownOrder as exc:
            raise HTTPException(404, str(exc)) from exc

    def gaps(seller_id: str, period: Period, since: date | None,
             until: date | None) -> PageGapsOut:
        report = page_gap_report(store, seller_id, period=period, since=since, until=until)
        return PageGapsOut(period=report.period, by_period=report.by_period,
                           by_field=report.by_field, products=[ProductGapsOut(
                               asin=p.asin, marketplace=p.marketplace, title=p.title,
                               questions=len(p.gaps), answered=p.answered,
                               by_field=p.by_field, gaps=[PageGapOut(
                                   case_id=g.case_id, page_field=g.page_field,
                                   period=g.period, opened_at=g.opened_at,
                                   question=g.question, status=g.status, answer=g.answer,
                                   answered_at=g.answered_at, added_to_page=g.added_to_page)
                                   for g in p.gaps]) for p in report.products])

    def csv_response(seller_id: str, period: Period, since: date | None,
                     until: date | None) -> Response:
        report = page_gap_report(store, seller_id, period=period, since=since, until=until)
        return Response(page_gaps_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="page-gaps-{seller_id}.csv"'})

    # --- JSON API -------------------------------------------------------------------------

    @router.post("/v1/seller/handovers", status_code=201, tags=["seller"],
                 responses={404: {"description": "no such order of this seller"},
                            422: {"description": "refused: detail names the rule"}})
    def post_handover(seller_id: SellerId, body: HandoverIn) -> HandoverOut:
        """Hand a customer's message about one of your orders to the service: it answers the
        customer on your behalf, or refuses with the rule (then answer them yourself)."""
        result = hand_over(seller_id, body, "api")
        if result.status == "refused":
            detail = {"rule": result.rule, "message": result.message,
                      "handover_id": result.handover_id}
            raise HTTPException(404 if result.rule == UNKNOWN_ORDER else 422, detail)
        return _out(result)

    @router.get("/v1/seller/handovers", tags=["seller"])
    def list_handovers(seller_id: SellerId) -> list[HandoverOut]:
        """Your hand-overs, latest first."""
        return [_out(result) for _, result in handovers_of(store, seller_id)]

    @router.get("/v1/seller/orders/{order_id}/resolution", tags=["seller"],
                responses={404: {"description": "no such order of this seller"}})
    def read_resolution(seller_id: SellerId, order_id: str) -> ResolutionSummary:
        """How the inquiries about one of your orders were resolved: outcome, rules, cases,
        refunds and dates; never the conversation or the customer's contact details."""
        return summary(seller_id, order_id)

    @router.get("/v1/seller/page-gaps", tags=["seller"])
    def read_page_gaps(seller_id: SellerId, period: Period = "month",
                       since: date | None = None, until: date | None = None) -> PageGapsOut:
        """The product questions your pages could not answer, by product, page field and
        period, with your answers."""
        return gaps(seller_id, period, since, until)

    @router.get("/v1/seller/page-gaps/csv", tags=["seller"],
                responses={200: {"content": {"text/csv": {}}}})
    def read_page_gaps_csv(seller_id: SellerId, period: Period = "month",
                           since: date | None = None, until: date | None = None) -> Response:
        return csv_response(seller_id, period, since, until)

    # --- pages ----------------------------------------------------------------------------

    def page_seller(request: Request) -> tuple[str, str] | None:
        return cookie_seller(store, request)

    def seller_name(seller_id: str) -> str:
        return display_name(store, seller_id)

    def handover_html(seller_id: str, token: str, *, result: HandoverResult | None = None,
                      error: str | None = None, draft: tuple[str, str] = ("", ""),
                      status: int = 200) -> HTMLResponse:
        seller = store.seller(seller_id)
        address = handover_address_for(handover_addresses, seller) if seller else None
        return HTMLResponse(render_handover(
            seller_name(seller_id), address, [r for _, r in handovers_of(store, seller_id)],
            _csrf(token), result=result, error=error, draft=draft), status_code=status)

    @router.get("/seller/handover", response_class=HTMLResponse, include_in_schema=False)
    def handover_page(request: Request) -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        return handover_html(*auth)

    @router.post("/seller/handover", include_in_schema=False)
    def handover_form(request: Request, order_id: Annotated[str, Form(max_length=200)] = "",
                      message: Annotated[str, Form()] = "",
                      csrf: Annotated[str, Form()] = "") -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        seller_id, token = auth
        if not hmac.compare_digest(csrf, _csrf(token)):
            return handover_html(seller_id, token, error="This form has expired; send it "
                                 "again.", draft=(order_id, message), status=403)
        found = extract_order_ids(order_id)
        text = message.strip()
        error = ("Enter the order number, like 123-1234567-1234567." if not found else
                 "Paste the customer's message." if not text else
                 f"The message is {len(text)} characters long; at most {MAX_TEXT_CHARS} fit."
                 if len(text) > MAX_TEXT_CHARS else None)
        if error:
            return handover_html(seller_id, token, error=error, draft=(order_id, message),
                                 status=422)
        result = hand_over(seller_id, HandoverIn(order_id=found[0], message=text), "portal")
        return handover_html(seller_id, token, result=result,
                             status=200 if result.status == "taken_over" else 422)

    @router.get("/seller/resolution", response_class=HTMLResponse, include_in_schema=False)
    def resolution_page(request: Request, order_id: str = "") -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        seller_id, _ = auth
        found = extract_order_ids(order_id)
        try:
            found_summary = summary(seller_id, found[0]) if found else None
        except HTTPException:
            found_summary = None
        return HTMLResponse(render_resolution(seller_name(seller_id), order_id.strip(),
                                              found_summary),
                            status_code=200 if found_summary or not order_id else 404)

    @router.get("/seller/page-gaps", response_class=HTMLResponse, include_in_schema=False)
    def page_gaps_page(request: Request, period: Period = "month") -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        seller_id, _ = auth
        report = gaps(seller_id, period, None, None)
        chart = page_gap_chart(page_gap_report(store, seller_id, period=period))
        return HTMLResponse(render_page_gaps(seller_name(seller_id), report, chart))

    @router.get("/seller/page-gaps/csv", include_in_schema=False)
    def page_gaps_csv_page(request: Request, period: Period = "month") -> Response:
        auth = page_seller(request)
        if auth is None:
            return RedirectResponse("/seller", status_code=303)
        return csv_response(auth[0], period, None, None)

    return router


# --- HTML (server-rendered; every value passes through html.escape) --------------------------

_NAV = ('<p class="muted"><a href="/seller/handover">Hand-over</a> · '
        '<a href="/seller/resolution">Resolution of an order</a> · '
        '<a href="/seller/page-gaps">Page gaps</a></p>')


def render_handover(seller: str, address: str | None, results: list[HandoverResult],
                    csrf: str, *, result: HandoverResult | None = None,
                    error: str | None = None, draft: tuple[str, str] = ("", "")) -> str:
    parts = [f"<h1>Hand a customer's message over</h1>{_NAV}"]
    if result is not None:
        css = "notice" if result.status == "taken_over" else "error"
        parts.append(f'<p class="{css}">{escape(result.message)}</p>')
    if error:
        parts.append(f'<p class="error">{escape(error)}</p>')
    if address:
        parts.append(f"<p>Forward a customer's email about a covered order to "
                     f"<b>{escape(address)}</b> from your registered address, or paste it "
                     f"here. We answer the customer on your behalf and confirm it to you. "
                     f"Questions before buying, invoices and personalisation stay with "
                     f"you.</p>")
    parts.append(
        f'<form method="post" action="/seller/handover"><input type="hidden" name="csrf" '
        f'value="{escape(csrf)}"><p><label>Order number<br><input name="order_id" '
        f'value="{escape(draft[0])}" required maxlength="200" style="font:inherit;padding:8px;'
        f'width:260px"></label></p><p><label>The customer\'s message<br><textarea '
        f'name="message" maxlength="{MAX_TEXT_CHARS}" required>{escape(draft[1])}</textarea>'
        f'</label></p><button class="primary">Hand over to the service</button></form>')
    rows = "".join(
        f"<tr><td class=\"ref\">{escape(r.handover_id)}</td><td>{escape(r.status)}</td>"
        f"<td class=\"ref\">{_resolution_link(r.order_id)}</td>"
        f"<td>{escape(r.outcome or r.rule or '-')}</td>"
        f"<td class=\"ref\">{escape(r.case_id or '-')}</td></tr>" for r in results)
    if rows:
        parts.append("<h2>Your hand-overs</h2><table><thead><tr><th>Hand-over</th>"
                     "<th>Status</th><th>Order</th><th>Outcome or rule</th><th>Case</th>"
                     f"</tr></thead><tbody>{rows}</tbody></table>")
    return _layout("Hand-over", "".join(parts), seller)


def _resolution_link(order_id: str | None) -> str:
    if not order_id:
        return "-"
    return (f'<a href="/seller/resolution?order_id={escape(order_id)}">'
            f"{escape(order_id)}</a>")


def _when(value: datetime | None) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def render_resolution(seller: str, asked: str, summary: ResolutionSummary | None) -> str:
    parts = [f"<h1>How an inquiry was resolved</h1>{_NAV}",
             '<form method="get" action="/seller/resolution"><input name="order_id" '
             f'value="{escape(asked)}" placeholder="123-1234567-1234567" '
             'style="font:inherit;padding:8px;width:260px" aria-label="Order number"> '
             '<button class="primary">Show</button></form>']
    if asked and summary is None:
        parts.append(f'<p class="error">There is no order {escape(asked)} for your '
                     f"account.</p>")
    if summary is not None:
        parts.append(
            f"<h2>Order {escape(summary.order_id)}</h2><dl>"
            f"<dt>Resolution</dt><dd>{escape(summary.resolution.replace('_', ' '))}</dd>"
            f"<dt>Latest outcome</dt><dd>{escape(summary.outcome or '-')}</dd>"
            f"<dt>Deciding rule</dt><dd>{escape(summary.rule or '-')}</dd>"
            f"<dt>First contact</dt><dd>{_when(summary.first_contact_at)}</dd>"
            f"<dt>Last contact</dt><dd>{_when(summary.last_contact_at)}</dd></dl>"
            f'<p class="notice">Questions about this resolution: contact Seller Support at '
            f'<a href="{escape(summary.seller_support_url)}">'
            f"{escape(summary.seller_support_url)}</a></p>")
        if summary.decisions:
            rows = "".join(
                f"<tr><td>{_when(d.at)}</td><td>{escape(d.channel)}</td>"
                f"<td>{escape(d.intent)}</td><td>{escape(d.outcome)}</td>"
                f"<td>{escape(d.rule or '-')}</td><td>{escape(d.case_id or '-')}</td></tr>"
                for d in summary.decisions)
            parts.append("<h2>Answers</h2><table><thead><tr><th>When</th><th>Channel</th>"
                         "<th>Intent</th><th>Outcome</th><th>Rule</th><th>Case</th></tr>"
                         f"</thead><tbody>{rows}</tbody></table>")
        if summary.cases:
            rows = "".join(
                f'<tr><td><a href="/seller/cases/{escape(c.case_id)}">{escape(c.case_id)}</a>'
                f"</td><td>{escape(c.category)}</td><td>{escape(c.status)}</td>"
                f"<td>{escape(c.decided_by)}</td><td>{escape(c.rule or '-')}</td>"
                f"<td>{_when(c.opened_at)}</td></tr>" for c in summary.cases)
            parts.append("<h2>Cases</h2><table><thead><tr><th>Case</th><th>Category</th>"
                         "<th>Status</th><th>Decided by</th><th>Rule</th><th>Opened</th></tr>"
                         f"</thead><tbody>{rows}</tbody></table>")
        if summary.refunds:
            rows = "".join(
                f"<tr><td>{escape(r.asin)}</td><td class=\"num\">{r.amount} "
                f"{escape(r.currency)}</td><td>{escape(r.kind)}</td><td>{escape(r.rule)}</td>"
                f"<td>{_when(r.issued_at)}</td></tr>" for r in summary.refunds)
            parts.append("<h2>Refunds issued</h2><table><thead><tr><th>Product</th>"
                         "<th>Amount</th><th>Kind</th><th>Rule</th><th>Issued</th></tr>"
                         f"</thead><tbody>{rows}</tbody></table>")
    return _layout("Resolution", "".join(parts), seller)


def render_page_gaps(seller: str, report: PageGapsOut, chart: str) -> str:
    other = "week" if report.period == "month" else "month"
    parts = [f"<h1>Questions your pages could not answer</h1>{_NAV}",
             f'<p class="muted">Each is a case the service opened because the product detail '
             f"page did not say. Adding the missing fact to the page lets the next customer "
             f'get it at once. Per {report.period} · <a href="/seller/page-gaps?period={other}">'
             f'per {other}</a> · <a href="/seller/page-gaps/csv?period={report.period}">'
             f"CSV</a></p>"]
    if not report.products:
        parts.append('<p class="muted">No questions so far: your pages answered them all.</p>')
        return _layout("Page gaps", "".join(parts), seller)
    parts.append(f'<div class="chart">{chart}</div>')
    for product in report.products:
        fields = ", ".join(f"{escape(k)}: {v}" for k, v in product.by_field.items())
        rows = "".join(
            f"<tr><td>{escape(g.period)}</td><td>{escape(g.page_field)}</td>"
            f"<td>{escape(g.question)}</td><td>{escape(g.answer or '-')}"
            f"{' (added to the page)' if g.added_to_page else ''}</td>"
            f'<td class="ref"><a href="/seller/cases/{escape(g.case_id)}">'
            f"{escape(g.case_id)}</a></td></tr>" for g in product.gaps)
        parts.append(
            f'<h2 data-asin="{escape(product.asin)}">{escape(product.title)} '
            f'<span class="muted">{escape(product.asin)} · {escape(product.marketplace)} · '
            f"{product.questions} questions, {product.answered} answered by you</span></h2>"
            f'<p class="muted">By page field: {fields}</p><table><thead><tr><th>Period</th>'
            f"<th>Page field</th><th>Question</th><th>Your answer</th><th>Case</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>")
    return _layout("Page gaps", "".join(parts), seller)
