"""Building the long-lived parts (database store, knowledge index) from settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from agent.core import Agent
from agent.db import Store, make_engine
from agent.phrasing import Phrasing
from csba.ingest import IngestInput, ingest, read_inputs
from csba.settings import Settings
from knowledge.index import KnowledgeIndex

DEMO_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
# The day the demo data was written for: its orders are pending, shipped, overdue and within or
# past their return windows as seen from this day.
DEMO_DATA_DAY = date(2026, 11, 25)

M = TypeVar("M", bound=BaseModel)


def open_store(settings: Settings) -> Store:
    return Store(make_engine(settings.resolved_database_url))


def open_index(settings: Settings) -> KnowledgeIndex:
    return KnowledgeIndex.open(settings)


def open_agent(settings: Settings, store: Store, index: KnowledgeIndex) -> Agent:
    phrasing = Phrasing.from_setting(settings.llm) if settings.llm else None
    portal = f"{str(settings.public_base_url).rstrip('/')}/seller"
    return Agent(store, index, portal_url=portal, phrasing=phrasing)


def load_demo_data(store: Store, index: KnowledgeIndex, *, today: date = DEMO_DATA_DAY) -> None:
    """Load the bundled demo data (a fresh install has something to talk about); the sellers'
    valid tracking rates are recorded for the month of ``today``."""
    ingest(demo_data(today), store, index, now=datetime.combine(today, time(12), UTC))


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
