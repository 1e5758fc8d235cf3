"""A seller's cases: read them and answer them, by JSON API (``/v1/seller/cases``) or pages.

A seller sees only its own cases, and never the customer: no conversation, transcript or
contact detail leaves through here (``CasePublic`` has no field for them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Form, HTTPException, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from agent.cases import CaseError, seller_case
from agent.core import Agent
from agent.messages import MAX_TEXT_CHARS
from agent.models import CaseRow
from agent.records import Customer
from agent.replies import render
from base.clock import as_utc
from knowledge.case_rules import OnExpiry
from portal.auth import SignedIn, to_sign_in
from portal.deps import PageSellerDep, SellerDep
from portal.pages import page
from portal.strings import FALLBACK, say
from seller.privacy import redact_customer

log = logging.getLogger(__name__)

OPEN = "awaiting_seller"
CaseStatus = Literal["awaiting_seller", "answered", "resolved", "expired"]


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
    def from_row(cls, row: CaseRow, customer: Customer | None = None) -> CasePublic:
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


class Cases:
    """A seller's cases, as the API and the pages both read and answer them."""

    def __init__(self, agent: Agent, now: Callable[[], datetime]) -> None:
        self.agent = agent
        self.store = agent.store
        self.now = now

    def public(self, row: CaseRow) -> CasePublic:
        order = self.store.order(row.order_id) if row.order_id else None
        return CasePublic.from_row(row, order.customer if order else None)

    def of(self, seller_id: str, status: str | None = None) -> list[CasePublic]:
        with self.store.reads() as session:
            query = select(CaseRow).where(CaseRow.seller_id == seller_id)
            if status:
                query = query.where(CaseRow.status == status)
            rows = list(session.scalars(query.order_by(CaseRow.due_at.desc())))
        return [self.public(row) for row in rows]

    def one(self, seller_id: str, case_id: str) -> CasePublic:
        with self.store.reads() as session:
            try:
                row = seller_case(session, case_id, seller_id)
            except CaseError as exc:
                raise HTTPException(404, str(exc)) from exc
        return self.public(row)

    def answer(self, seller_id: str, case_id: str, body: AnswerIn) -> CasePublic:
        case = self.one(seller_id, case_id)
        if case.status != OPEN:
            raise HTTPException(409, f"case {case_id} is {case.status}; it can no longer be "
                                     "answered")
        try:
            answered = self.agent.answer_case(case_id, seller_id, body.answer,
                                              add_to_knowledge=body.add_to_knowledge,
                                              now=self.now())
        except CaseError as exc:  # answered or expired since it was read
            raise HTTPException(409, str(exc)) from exc
        log.info("case %s answered by seller %s (chars=%d, knowledge=%s)", case_id, seller_id,
                 len(body.answer), answered.add_to_knowledge)
        return self.public(answered)


def case_api(cases: Cases) -> APIRouter:
    router = APIRouter(tags=["seller"])

    @router.get("/v1/seller/cases")
    def list_cases(seller_id: SellerDep,
                   status: Annotated[CaseStatus | None, Query()] = None) -> list[CasePublic]:
        """The seller's cases, latest due first."""
        return cases.of(seller_id, status)

    @router.get("/v1/seller/cases/{case_id}")
    def read_case(seller_id: SellerDep, case_id: str) -> CasePublic:
        return cases.one(seller_id, case_id)

    @router.post("/v1/seller/cases/{case_id}/answer", responses={
        409: {"description": "the case is answered or expired already"}})
    def post_answer(seller_id: SellerDep, case_id: str, body: AnswerIn) -> CasePublic:
        """Answer a case: the answer is relayed to the customer on their channel and, with
        consent, added to the product's knowledge."""
        return cases.answer(seller_id, case_id, body)

    return router


def expiry_told(case: CasePublic, language: str = FALLBACK) -> str:
    """The expiry rule's outcome, in the words of the seller's notification mail."""
    outcome = (case.resolution or {}).get("on_expiry")
    if isinstance(outcome, str) and outcome in get_args(OnExpiry):
        return (" " + say(language, "case_on_expiry") + " "
                + render(f"seller_on_expiry_{outcome}", language))
    return ""


def case_html(seller: SignedIn, case: CasePublic, now: datetime, *, status: int = 200,
              confirmed: bool = False, error: str | None = None,
              draft: str = "") -> HTMLResponse:
    refund = (case.resolution or {}).get("refund") or {}
    return page("case.html", status=status, seller=seller.name, lang=seller.language,
                case=case, now=now, csrf=seller.csrf("cases"), confirmed=confirmed,
                error=error, draft=draft, max_chars=MAX_TEXT_CHARS, refund=refund,
                expiry_told=expiry_told(case, seller.language))


def missing_html(seller: SignedIn, case_id: str, message: str | None = None,
                 status: int = 404) -> HTMLResponse:
    return page("case_missing.html", status=status, seller=seller.name,
                lang=seller.language, case_id=case_id, message=message)


def case_pages(cases: Cases) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/seller/cases", response_class=HTMLResponse)
    def cases_page(seller: PageSellerDep) -> Response:
        if seller is None:
            return to_sign_in(forget_cookie=True)
        return page("cases.html", seller=seller.name, lang=seller.language,
                    cases=cases.of(seller.seller_id), now=cases.now())

    @router.get("/seller/cases/{case_id}", response_class=HTMLResponse)
    def case_page(seller: PageSellerDep, case_id: str, answered: int = 0) -> Response:
        if seller is None:
            return to_sign_in(forget_cookie=True)
        try:
            case = cases.one(seller.seller_id, case_id)
        except HTTPException:
            return missing_html(seller, case_id)
        return case_html(seller, case, cases.now(), confirmed=bool(answered))

    @router.post("/seller/cases/{case_id}/answer")
    def answer_form(seller: PageSellerDep, case_id: str,
                    answer: Annotated[str, Form()] = "",
                    add_to_knowledge: Annotated[str | None, Form()] = None,
                    csrf: Annotated[str, Form()] = "") -> Response:
        if seller is None:
            return to_sign_in(forget_cookie=True)
        if not seller.sent(csrf, "cases"):
            return missing_html(seller, case_id, say(seller.language, "form_expired_case"),
                                status=403)
        text = answer.strip()
        error = (say(seller.language, "answer_empty") if not text else
                 say(seller.language, "answer_too_long", length=len(text), max=MAX_TEXT_CHARS)
                 if len(text) > MAX_TEXT_CHARS else None)
        try:
            if error is None:
                cases.answer(seller.seller_id, case_id, AnswerIn(
                    answer=text, add_to_knowledge=add_to_knowledge is not None))
                return RedirectResponse(f"/seller/cases/{case_id}?answered=1", status_code=303)
        except HTTPException as exc:
            if exc.status_code == 404:
                return missing_html(seller, case_id)
            error, status = str(exc.detail), exc.status_code
        else:
            status = 422
        return case_html(seller, cases.one(seller.seller_id, case_id), cases.now(),
                         status=status, error=error, draft=text)

    return router
