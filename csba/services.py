"""Building the long-lived parts (database store, knowledge index) from settings."""

from __future__ import annotations

from pathlib import Path

from agent.db import Store, make_engine
from csba.settings import Settings
from knowledge.index import KnowledgeIndex

DEMO_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"


def open_store(settings: Settings) -> Store:
    return Store(make_engine(settings.resolved_database_url))


def open_index(settings: Settings) -> KnowledgeIndex:
    return KnowledgeIndex.open(settings)
