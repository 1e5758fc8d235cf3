"""Seller reports: hand-overs, resolution summaries and the page-gap report, as the API
(``/v1/seller/...``, the seller's bearer token) and the pages both read them.

A seller reaches only its own orders; nothing here shows a customer's conversation or
contact details.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from agent.db import Store
from agent.messages import MAX_TEXT_CHARS, MessageHandler
from agent.records import ORDER_ID_PATTERN
from portal.deps import SellerDep
from seller.handover_desk import (
    UNKNOWN_ORDER,
    HandoverDesk,
    HandoverRequest,
    HandoverResult,
    handovers_of,
)
from seller.page_gaps import PageGapReport, Period, page_gap_report, page_gaps_csv
from seller.summaries import ResolutionSummary, UnknownOrder, resolution_summary


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

    @classmethod
    def of(cls, result: HandoverResult) -> HandoverOut:
        return cls(handover_id=result.handover_id, status=result.status,
                   message=result.message, rule=result.rule, order_id=result.order_id,
                   outcome=result.outcome, case_id=result.case_id,
                   answered_by=result.answered_by)


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

    @classmethod
    def of(cls, report: PageGapReport) -> PageGapsOut:
        return cls(period=report.period, by_period=report.by_period,
                   by_field=report.by_field, products=[ProductGapsOut(
                       asin=p.asin, marketplace=p.marketplace, title=p.title,
                       questions=len(p.gaps), answered=p.answered,
                       by_field=p.by_field, gaps=[PageGapOut(
                           case_id=g.case_id, page_field=g.page_field,
                           period=g.period, opened_at=g.opened_at,
                           question=g.question, status=g.status, answer=g.answer,
                           answered_at=g.answered_at, added_to_page=g.added_to_page)
                           for g in p.gaps]) for p in report.products])


class Reports:
    """A seller's hand-overs and reports; ``handle`` is the handler every channel uses, so a
    handed-over message gets the same turn."""

    def __init__(self, store: Store, handle: MessageHandler, *,
                 handover_addresses: Mapping[str, str], now: Callable[[], datetime],
                 seller_support_url: str) -> None:
        self.store = store
        self.handle = handle
        self.handover_addresses = handover_addresses
        self.seller_support_url = seller_support_url
        self.desk = HandoverDesk(store, clock=now)

    def hand_over(self, seller_id: str, body: HandoverIn,
                  source: Literal["portal", "api"]) -> HandoverResult:
        seller = self.store.seller(seller_id)
        reference = body.client_reference or secrets.token_hex(12)
        request = HandoverRequest(source=source,
                                  source_key=f"{source}:{seller_id}:{reference}",
                                  text=body.message, subject=body.subject,
                                  order_ids=[body.order_id])
        return self.desk.take_over(seller, request, self.handle)

    def summary(self, seller_id: str, order_id: str) -> ResolutionSummary:
        try:
            return resolution_summary(self.store, seller_id, order_id,
                                      seller_support_url=self.seller_support_url)
        except UnknownOrder as exc:
            raise HTTPException(404, str(exc)) from exc

    def gaps(self, seller_id: str, period: Period, since: date | None = None,
             until: date | None = None) -> PageGapReport:
        return page_gap_report(self.store, seller_id, period=period, since=since, until=until)

    def gaps_download(self, seller_id: str, period: Period, since: date | None = None,
                      until: date | None = None) -> Response:
        report = self.gaps(seller_id, period, since, until)
        return Response(page_gaps_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="page-gaps-{seller_id}.csv"'})


def reports_api(reports: Reports) -> APIRouter:
    router = APIRouter(tags=["seller"])

    @router.post("/v1/seller/handovers", status_code=201,
                 responses={404: {"description": "no such order of this seller"},
                            422: {"description": "refused: detail names the rule"}})
    def post_handover(seller_id: SellerDep, body: HandoverIn) -> HandoverOut:
        """Hand a customer's message about one of your orders to the service: it answers the
        customer on your behalf, or refuses with the rule (then answer them yourself)."""
        result = reports.hand_over(seller_id, body, "api")
        if result.status == "refused":
            detail = {"rule": result.rule, "message": result.message,
                      "handover_id": result.handover_id}
            raise HTTPException(404 if result.rule == UNKNOWN_ORDER else 422, detail)
        return HandoverOut.of(result)

    @router.get("/v1/seller/handovers")
    def list_handovers(seller_id: SellerDep) -> list[HandoverOut]:
        """Your hand-overs, latest first."""
        return [HandoverOut.of(result) for _, result in handovers_of(reports.store, seller_id)]

    @router.get("/v1/seller/orders/{order_id}/resolution",
                responses={404: {"description": "no such order of this seller"}})
    def read_resolution(seller_id: SellerDep, order_id: str) -> ResolutionSummary:
        """How the inquiries about one of your orders were resolved: outcome, rules, cases,
        refunds and dates; never the conversation or the customer's contact details."""
        return reports.summary(seller_id, order_id)

    @router.get("/v1/seller/page-gaps")
    def read_page_gaps(seller_id: SellerDep, period: Period = "month",
                       since: date | None = None, until: date | None = None) -> PageGapsOut:
        """The product questions your pages could not answer, by product, page field and
        period, with your answers."""
        return PageGapsOut.of(reports.gaps(seller_id, period, since, until))

    @router.get("/v1/seller/page-gaps/csv", responses={200: {"content": {"text/csv": {}}}})
    def read_page_gaps_csv(seller_id: SellerDep, period: Period = "month",
                           since: date | None = None, until: date | None = None) -> Response:
        return reports.gaps_download(seller_id, period, since, until)

    return router
