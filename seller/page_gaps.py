"""The page-gap report: the product questions a seller's detail pages could not answer.

Each case opened because a page lacked the fact (category ``product_question``) is one gap,
grouped by product and by the page field that would have answered it, counted per week or
month, beside the seller's own answer. It turns "keep your pages current" into a list of
fields to fill. It reads cases only: no conversation, no customer contact detail.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import select

from agent.db import Store
from agent.models import CaseRow
from agent.seller_answers import published_case_ids
from base.clock import as_utc
from seller.privacy import redact_customer

Period = Literal["week", "month"]
PRODUCT_QUESTION = "product_question"
UNKNOWN_FIELD = "unknown"  # the agent could not tell which field would have answered


@dataclass(frozen=True, slots=True)
class PageGap:
    """One question a page could not answer, and what the seller did about it."""

    case_id: str
    asin: str
    marketplace: str
    page_field: str
    period: str
    opened_at: datetime
    question: str  # restated by the agent from the question's content words
    status: str
    answer: str | None
    answered_at: datetime | None
    added_to_page: bool


@dataclass(slots=True)
class ProductGaps:
    asin: str
    marketplace: str
    title: str
    gaps: list[PageGap] = field(default_factory=list)

    @property
    def by_field(self) -> dict[str, int]:
        return dict(Counter(g.page_field for g in self.gaps).most_common())

    @property
    def answered(self) -> int:
        return sum(1 for g in self.gaps if g.answer)


@dataclass(frozen=True, slots=True)
class PageGapReport:
    seller_id: str
    period: Period
    periods: list[str]  # every period from the first gap to the last, empty ones included
    products: list[ProductGaps]  # most gaps first

    @property
    def gaps(self) -> list[PageGap]:
        return [g for p in self.products for g in p.gaps]

    @property
    def by_period(self) -> dict[str, int]:
        counts = Counter(g.period for g in self.gaps)
        return {p: counts.get(p, 0) for p in self.periods}

    @property
    def by_field(self) -> dict[str, int]:
        return dict(Counter(g.page_field for g in self.gaps).most_common())


def period_of(day: date, period: Period) -> str:
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _periods(first: date, last: date, period: Period) -> list[str]:
    found: list[str] = []
    day = first
    while day <= last:
        label = period_of(day, period)
        if label not in found:
            found.append(label)
        day += timedelta(days=7 if period == "week" else 28)
    if period_of(last, period) not in found:
        found.append(period_of(last, period))
    return found


def page_gap_report(store: Store, seller_id: str, *, period: Period = "month",
                    since: date | None = None, until: date | None = None) -> PageGapReport:
    """The seller's gaps, opened on ``since`` .. ``until`` (inclusive, UTC days)."""
    if period not in ("week", "month"):
        raise ValueError(f"period must be 'week' or 'month', got {period!r}")
    with store.reads() as session:
        rows = list(session.scalars(select(CaseRow).where(
            CaseRow.seller_id == seller_id, CaseRow.category == PRODUCT_QUESTION)
            .order_by(CaseRow.created_at, CaseRow.id)))
    # Whether an answer is on the page is read from the published answers themselves, which
    # a re-ingest of the catalog keeps: not from the consent the case recorded.
    on_page = published_case_ids(store, [r.id for r in rows if r.add_to_knowledge])
    products: dict[tuple[str, str], ProductGaps] = {}
    days: list[date] = []
    for row in rows:
        opened = as_utc(row.created_at)
        if (since and opened.date() < since) or (until and opened.date() > until):
            continue
        asin = row.asins[0] if row.asins else "-"
        key = (asin, row.marketplace)
        if key not in products:
            page = store.page(asin, row.marketplace) if row.asins else None
            products[key] = ProductGaps(asin, row.marketplace, page.title if page else asin)
        order = store.order(row.order_id) if row.order_id else None
        days.append(opened.date())
        products[key].gaps.append(PageGap(
            case_id=row.id, asin=asin, marketplace=row.marketplace,
            page_field=row.topic or UNKNOWN_FIELD, period=period_of(opened.date(), period),
            opened_at=opened,
            # The portal's own guard: a restated question never names the customer.
            question=redact_customer(row.question, order.customer if order else None),
            status=row.status, answer=row.answer,
            answered_at=as_utc(row.answered_at) if row.answered_at else None,
            added_to_page=row.id in on_page))
    ordered = sorted(products.values(), key=lambda p: (-len(p.gaps), p.asin, p.marketplace))
    return PageGapReport(seller_id, period,
                         _periods(min(days), max(days), period) if days else [], ordered)


CSV_COLUMNS = ("period", "opened_at", "case_id", "marketplace", "asin", "title", "page_field",
               "question", "status", "seller_answer", "answered_at", "added_to_page")


def page_gaps_csv(report: PageGapReport) -> str:
    """One row per question, so a spreadsheet can pivot by product, field or period."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for product in report.products:
        for g in product.gaps:
            writer.writerow([g.period, g.opened_at.isoformat(), g.case_id, g.marketplace,
                             g.asin, _cell(product.title), g.page_field, _cell(g.question),
                             g.status, _cell(g.answer or ""),
                             g.answered_at.isoformat() if g.answered_at else "",
                             "yes" if g.added_to_page else "no"])
    return out.getvalue()


def _cell(text: str) -> str:
    # A cell starting with = + - @ runs as a formula in a spreadsheet: keep it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
