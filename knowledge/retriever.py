"""What the agent asks of the product-page index, and nothing more.

The agent depends on this Protocol, not on ``KnowledgeIndex``: how the index is built (a dense
leg in Chroma, a lexical leg in SQLite FTS5, fused by rank) stays knowledge's own, and a turn
can be run against anything that answers these calls. Each member is one the agent calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from knowledge.index import Evidence, SyncReport
from knowledge.pages import ProductPage


class Retriever(Protocol):
    @property
    def model_name(self) -> str:
        """The embedding model's name: an answer decision's bars and whether a message's
        meaning may share the search's vector (e5) depend on it."""
        ...

    @property
    def dense_languages(self) -> frozenset[str]:
        """The languages the model was trained on: its similarities mean something there."""
        ...

    def prepare(self, query: str, *, if_idle: bool = False) -> None:
        """Start embedding a query that is about to be searched."""
        ...

    def query_vector(self, query: str) -> list[float]:
        """The model's vector of ``query``, kept for its search until ``forget``."""
        ...

    def forget(self, query: str) -> None:
        """Drop a kept vector: nothing of a message outlives its turn."""
        ...

    def search(self, query: str, *, marketplace: str | None = None,
               asins: Sequence[str] | None = None, language: str | None = None,
               k: int = 5) -> list[Evidence]:
        """The ``k`` best page fields for ``query`` in scope, with provenance."""
        ...

    def similarities(self, query: str, *, asins: Sequence[str],
                     marketplace: str | None = None) -> dict[str, float]:
        """The cosine of ``query`` to every chunk of ``asins``, by chunk id."""
        ...

    def closest_similarity(self, query: str, *, asins: Sequence[str]) -> float | None:
        """The highest cosine of ``query`` to any chunk of ``asins``; None without chunks."""
        ...

    def informative_terms(self, language: str, terms: Sequence[str]) -> list[str]:
        """``terms`` (stemmed) without those too common in ``language`` to tell fields apart."""
        ...

    def document_frequencies(self, language: str, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks in ``language`` use each of ``terms`` (0: no page uses it)."""
        ...

    def sync(self, pages: Iterable[ProductPage]) -> SyncReport:
        """Make the index hold these pages as they are now: a seller's published answer joins
        its product's knowledge this way."""
        ...
