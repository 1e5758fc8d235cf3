"""Shared fixtures: the real embedding model (loaded once) and an index over the demo data."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from langchain_huggingface import HuggingFaceEmbeddings  # noqa: E402

from csba.services import DEMO_DATA_DIR  # noqa: E402
from csba.settings import Settings  # noqa: E402
from knowledge.embeddings import load_embeddings  # noqa: E402
from knowledge.index import KnowledgeIndex  # noqa: E402
from knowledge.loaders import load_catalog  # noqa: E402
from knowledge.pages import ProductPage  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def embeddings() -> HuggingFaceEmbeddings:
    return load_embeddings("all-MiniLM-L6-v2")


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture()
def index(settings: Settings, embeddings: HuggingFaceEmbeddings) -> Iterator[KnowledgeIndex]:
    opened = KnowledgeIndex.open(settings, embeddings=embeddings)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def demo_pages() -> list[ProductPage]:
    return load_catalog(DEMO_DATA_DIR / "catalog.jsonl")


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory, embeddings: HuggingFaceEmbeddings,
               demo_pages: list[ProductPage]) -> Iterator[KnowledgeIndex]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("demo"), _env_file=None)  # type: ignore[call-arg]
    opened = KnowledgeIndex.open(settings, embeddings=embeddings)
    opened.sync(demo_pages)
    yield opened
    opened.close()
