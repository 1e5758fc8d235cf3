"""The index's tests on either lexical leg: a module marked ``on_every_database`` runs once
with the store on SQLite (the lexical leg in the data dir's FTS5 file) and once on PostgreSQL
(the lexical leg in that database), as ``KnowledgeIndex.open`` chooses from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from base.settings import Settings
from knowledge.chunks import chunk_page
from knowledge.index import KnowledgeIndex
from knowledge.lexical_postgres import PostgresLexicalIndex
from knowledge.pages import ProductPage
from tests.support.postgres import drop_database, fresh_database


@pytest.fixture()
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def postgres_demo_index(postgres_server: str, demo_index: KnowledgeIndex,
                        demo_pages: list[ProductPage]) -> Iterator[KnowledgeIndex]:
    """The demo index with its lexical leg on PostgreSQL: the same vectors (the demo index's
    dense leg, not embedded again), the same chunks registered in a database of its own."""
    url = fresh_database(postgres_server)
    lexical = PostgresLexicalIndex(url)
    lexical.add([c for p in demo_pages for c in chunk_page(p)])
    opened = KnowledgeIndex(demo_index.dense, lexical, demo_index.dense_languages)
    try:
        yield opened
    finally:
        opened.close()  # the lexical leg and the index's threads; the dense leg is shared
        drop_database(postgres_server, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_index_on(request: pytest.FixtureRequest) -> KnowledgeIndex:
    """The demo index with its lexical leg on each backend in turn."""
    name = "demo_index" if request.param == "sqlite" else "postgres_demo_index"
    index: KnowledgeIndex = request.getfixturevalue(name)
    return index
