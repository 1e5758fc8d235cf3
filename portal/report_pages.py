"""The report pages (``/seller/...``, the portal's cookie): hand a customer's message over,
how an order's inquiries were resolved, and the questions the product pages could not
answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import HTMLResponse, Response

from agent.messages import MAX_TEXT_CHARS
from agent.understanding import extract_order_ids
from portal.auth import SignedIn, to_sign_in
from portal.charts import page_gap_chart
from portal.deps import PageSellerDep
from portal.pages import page
from portal.reports import HandoverIn, PageGapsOut, Reports
from portal.strings import say
from seller.handover_desk import HandoverResult, handover_address_for, handovers_of
from seller.page_gaps import Period


def report_pages(reports: Reports) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    store = reports.store

    def handover_html(seller: SignedIn, *, result: HandoverResult | None = None,
                      error: str | None = None, draft: tuple[str, str] = ("", ""),
                      status: int = 200) -> HTMLResponse:
        found = store.seller(seller.seller_id)
        address = handover_address_for(reports.handover_addresses, found) if found else None
        return page("handover.html", status=status, seller=seller.name,
                    lang=seller.language, address=address,
                    results=[r for _, r in handovers_of(store, seller.seller_id)],
                    csrf=seller.csrf("cases"), result=result, error=error, draft=draft,
                    max_chars=MAX_TEXT_CHARS)

    @router.get("/seller/handover", response_class=HTMLResponse)
    def handover_page(seller: PageSellerDep) -> Response:
        if seller is None:
            return to_sign_in()
        return handover_html(seller)

    @router.post("/seller/handover")
    def handover_form(seller: PageSellerDep,
                      order_id: Annotated[str, Form(max_length=200)] = "",
                      message: Annotated[str, Form()] = "",
                      csrf: Annotated[str, Form()] = "") -> Response:
        if seller is None:
            return to_sign_in()
        if not seller.sent(csrf, "cases"):
            return handover_html(seller, error=say(seller.language, "form_expired"),
                                 draft=(order_id, message), status=403)
        found = extract_order_ids(order_id)
        text = message.strip()
        error = (say(seller.language, "handover_no_order") if not found else
                 say(seller.language, "handover_no_message") if not text else
                 say(seller.language, "handover_too_long", length=len(text),
                     max=MAX_TEXT_CHARS)
                 if len(text) > MAX_TEXT_CHARS else None)
        if error:
            return handover_html(seller, error=error, draft=(order_id, message), status=422)
        result = reports.hand_over(seller.seller_id,
                                   HandoverIn(order_id=found[0], message=text), "portal")
        return handover_html(seller, result=result,
                             status=200 if result.status == "taken_over" else 422)

    @router.get("/seller/resolution", response_class=HTMLResponse)
    def resolution_page(seller: PageSellerDep, order_id: str = "") -> Response:
        if seller is None:
            return to_sign_in()
        found = extract_order_ids(order_id)
        try:
            summary = reports.summary(seller.seller_id, found[0]) if found else None
        except HTTPException:
            summary = None
        return page("resolution.html", status=200 if summary or not order_id else 404,
                    seller=seller.name, lang=seller.language, asked=order_id.strip(),
                    summary=summary)

    @router.get("/seller/page-gaps", response_class=HTMLResponse)
    def page_gaps_page(seller: PageSellerDep, period: Period = "month") -> Response:
        if seller is None:
            return to_sign_in()
        report = reports.gaps(seller.seller_id, period)
        return page("page_gaps.html", seller=seller.name, lang=seller.language,
                    report=PageGapsOut.of(report),
                    other="week" if report.period == "month" else "month",
                    chart=page_gap_chart(report, seller.language))

    @router.get("/seller/page-gaps/csv")
    def page_gaps_csv_page(seller: PageSellerDep, period: Period = "month") -> Response:
        if seller is None:
            return to_sign_in()
        return reports.gaps_download(seller.seller_id, period)

    return router
