"""Building the long-lived parts (database store, knowledge index) from settings."""

from __future__ import annotations

from pathlib import Path

from agent.core import Agent
from agent.db import Store, make_engine
from agent.phrasing import Phrasing
from csba.settings import Settings
from knowledge.index import KnowledgeIndex

DEMO_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"


def open_store(settings: Settings) -> Store:
    return Store(make_engine(settings.resolved_database_url))


def open_index(settings: Settings) -> KnowledgeIndex:
    return KnowledgeIndex.open(settings)


def open_agent(settings: Settings, store: Store, index: KnowledgeIndex) -> Agent:
    phrasing = Phrasing.from_setting(settings.llm) if settings.llm else None
    portal = f"{str(settings.public_base_url).rstrip('/')}/seller"
    return Agent(store, index, portal_url=portal, phrasing=phrasing)


def load_demo_data(store: Store, index: KnowledgeIndex) -> None:
    """Load the bundled demo data (a fresh install has something to talk about)."""
    from csba.ingest import ingest, read_inputs

    data = read_inputs(catalogs=[DEMO_DATA_DIR / "catalog.jsonl"],
                       orders=DEMO_DATA_DIR / "orders.jsonl",
                       sellers=DEMO_DATA_DIR / "sellers.jsonl")
    ingest(data, store, index)
