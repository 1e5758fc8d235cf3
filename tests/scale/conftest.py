"""Fixtures of the tests that run the service beyond one process and one machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.db import Store, make_engine
from agent.records import Order, Seller
from base.jsonl import read_jsonl
from knowledge.pages import ProductPage
from seller.ingest import DEMO_DATA_DIR


@pytest.fixture()
def postgres_store(postgres_url: str, demo_pages: list[ProductPage]) -> Iterator[Store]:
    """The demo records in a fresh PostgreSQL database (what ``store`` is on SQLite)."""
    store = Store(make_engine(postgres_url))
    store.save(sellers=read_jsonl(DEMO_DATA_DIR / "sellers.jsonl", Seller),
               orders=read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order), pages=demo_pages)
    yield store
    store.engine.dispose()  # the database is dropped next; its pooled connections go first
