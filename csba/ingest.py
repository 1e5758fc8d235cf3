"""Loading data files into the database and the index: validate everything, then write.

Nothing is written unless every given file is valid, so a bad line never leaves half a
catalog behind; re-running with unchanged pages embeds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agent.db import Store
from agent.enrolment import seed_enrolments
from agent.records import Order, Seller
from agent.seller_answers import pages_as_indexed
from csba.jsonl import read_jsonl
from knowledge.index import KnowledgeIndex, Progress, SyncReport
from knowledge.loaders import load_catalogs
from knowledge.pages import ProductPage
from seller.tracking import seed_rates


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
