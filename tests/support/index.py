"""A knowledge index over a few chosen pages, for tests that need a question left unanswered
by every other page (a seller's consented answer elsewhere must not answer it)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from langchain_core.embeddings import Embeddings

from base.settings import Settings
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage


@contextmanager
def index_of(settings: Settings, embeddings: Embeddings,
             pages: Iterable[ProductPage], asins: set[str]) -> Iterator[KnowledgeIndex]:
    opened = KnowledgeIndex.open(settings, embeddings=embeddings)
    try:
        opened.sync([p for p in pages if p.asin in asins])
        yield opened
    finally:
        opened.close()
