"""Loading the marketplace's data files (catalogs, orders, sellers) into the database and the
index: validate everything, then write; and the bundled demo data.

Nothing is written unless every given file is valid, so a bad line never leaves half a
catalog behind; re-running with unchanged pages embeds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from agent.db import Store
from agent.enrolment import seed_enrolments
from agent.records import Order, Seller
from agent.seller_answers import pages_as_indexed
from base.jsonl import read_jsonl
from knowledge.index import KnowledgeIndex, Progress, SyncReport
from knowledge.loaders import load_catalogs
from knowledge.pages import ProductPage
from seller.tracking import seed_rates

DEMO_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
# The day the demo data was written for: its orders are pending, shipped, overdue and within or
# past their return windows as seen from this day.
DEMO_DATA_DAY = date(2026, 11, 25)

M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class IngestInput:
    pages: list[ProductPage] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    sellers: list[Seller] = field(default_factory=list)


def read_inputs(*, catalogs: Sequence[Path] = (), orders: Path | Sequence[Path] | None = None,
                sellers: Path | None = None, seller_id: str | None = None,
                marketplace: str | None = None) -> IngestInput:
    """Parse and validate every file; raises ``DataFileError`` before anything is written.
    ``orders`` may be several files (an eval's own orders beside the demo's)."""
    order_files = [orders] if isinstance(orders, Path) else list(orders or [])
    return IngestInput(
        pages=load_catalogs(catalogs, seller_id=seller_id, marketplace=marketplace),
        orders=[o for path in order_files for o in read_jsonl(path, Order)],
        sellers=read_jsonl(sellers, Seller) if sellers else [],
    )


def ingest(data: IngestInput, store: Store, index: KnowledgeIndex, *, prune: bool = False,
           progress: Progress | None = None, now: datetime | None = None) -> SyncReport:
    """``now`` is the service's clock when the files are read: a seller's current valid
    tracking rate is recorded for its month (without it, only the dated history is)."""
    store.save(sellers=data.sellers, orders=data.orders)
    seed_enrolments(store, data.sellers)  # the csba blocks start the enrolment history
    if data.sellers:
        with store.sessions.begin() as session:
            seed_rates(session, data.sellers, today=now.date() if now else None,
                       at=now or datetime.now(UTC))
    report = SyncReport()
    if data.pages or prune:
        removed = (sorted(store.page_keys() - {p.key for p in data.pages}) if prune else [])
        # Index first: a page is in the database only once the agent can retrieve it. The
        # index holds each page with the answers its seller published (their own table, so
        # a page record overwritten by the catalog loses none of them).
        report = index.sync(pages_as_indexed(store, data.pages), prune=prune,
                            progress=progress)
        store.save(pages=data.pages)
        store.delete_pages(removed)
    return report


def load_demo_data(store: Store, index: KnowledgeIndex, *, today: date = DEMO_DATA_DAY,
                   progress: Progress | None = None) -> SyncReport:
    """Load the bundled demo data (a fresh install has something to talk about); the sellers'
    valid tracking rates are recorded for the month of ``today``. ``progress`` follows the
    embedding of its page fields (``KnowledgeIndex.sync``)."""
    return ingest(demo_data(today), store, index, progress=progress,
                  now=datetime.combine(today, time(12), UTC))


def demo_day_of(store: Store) -> date | None:
    """The day the demo data in ``store`` was dated for when it was loaded (``demo_data``'s
    ``today``; ``DEMO_DATA_DAY`` for the files as they are), or None when the store does not
    hold the demo's orders."""
    written = read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order)[0]
    stored = store.order(written.order_id)
    if stored is None:
        return None
    return DEMO_DATA_DAY + (stored.purchase_date - written.purchase_date)


def demo_data(today: date = DEMO_DATA_DAY) -> IngestInput:
    """The demo data, its dates moved so that ``today`` stands where ``DEMO_DATA_DAY`` stood:
    on any day it is loaded, its orders are as recent as when it was written."""
    data = read_inputs(catalogs=[DEMO_DATA_DIR / "catalog.jsonl"],
                       orders=DEMO_DATA_DIR / "orders.jsonl",
                       sellers=DEMO_DATA_DIR / "sellers.jsonl")
    by = today - DEMO_DATA_DAY
    data.orders = [shift_dates(order, by) for order in data.orders]
    data.sellers = [shift_dates(seller, by) for seller in data.sellers]
    return data


def shift_dates(model: M, by: timedelta) -> M:
    """A copy of ``model`` with every date in it (nested models included) moved by ``by``."""
    updates: dict[str, object] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, date) and not isinstance(value, datetime):
            updates[name] = value + by
        elif isinstance(value, BaseModel):
            updates[name] = shift_dates(value, by)
    return model.model_copy(update=updates) if updates else model
