"""The dense leg against a real Chroma server (``chroma run``) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from base.settings import Settings
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage
from tests.support.chroma import running_chroma

pytestmark = pytest.mark.slow


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[str]:
    with running_chroma(tmp_path / "server") as url:
        yield url


def test_index_works_against_a_chroma_server(chroma_server: str, tmp_path: Path,
                                             embeddings: Embeddings,
                                             demo_pages: list[ProductPage]) -> None:
    settings = Settings(data_dir=tmp_path / "data", chroma_url=chroma_server,  # type: ignore[arg-type]
                        _env_file=None)  # type: ignore[call-arg]
    index = KnowledgeIndex.open(settings, embeddings=embeddings)
    pages = [p for p in demo_pages if p.marketplace == "UK"][:3]
    report = index.sync(pages)
    assert report.added > 0 and not (settings.data_dir / "chroma").exists()
    assert index.sync(pages).added == 0
    hits = index.search(pages[0].title, marketplace="UK", k=3)
    assert hits[0].asin == pages[0].asin and hits[0].dense_rank is not None
    index.close()
