"""The dense leg: a Chroma collection, embedded or a server by URL."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from langchain_core.embeddings import Embeddings
from numpy.typing import NDArray
from pydantic import HttpUrl

from knowledge.chunks import Chunk
from knowledge.labels import slug

# Chroma resolves a metadata filter ("marketplace": "DE") by reading every matching row of its
# SQLite file before the vector search: about 150 ms at 100k chunks. So a search in a scope
# whose chunks the caller knows (the lexical registry) is done without Chroma's filter:
# ``among`` ranks a few given chunks exactly, ``nearest`` asks the HNSW index unfiltered.
EXACT_SEARCH_MAX = 2000  # ``among`` reads at most this many vectors; more, and Chroma filters
# Vectors ``among`` read lately, by chunk id (an id names its text, so its vector never
# changes): questions come back to the same products, whose vectors Chroma would read each time
# (about 1 ms for 20 chunks). 20,000 vectors of 384 floats are 30 MiB.
VECTORS_KEPT = 20_000
# Ids asked of Chroma in one ``get``: they become one SQL ``IN`` list (and, against a server,
# one request body), so a catalog's worth goes in batches.
IDS_PER_GET = 5000


@dataclass(frozen=True, slots=True)
class DenseHit:
    chunk_id: str
    score: float  # higher is better (negated distance)


def chroma_client(url: HttpUrl | None, path: Path) -> ClientAPI:
    # A fresh settings object each time: the client constructors write into the one they get.
    settings = ChromaSettings(anonymized_telemetry=False)
    if url is not None:
        return chromadb.HttpClient(host=url.host or "127.0.0.1", port=url.port or 8000,
                                   ssl=url.scheme == "https", settings=settings)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def where_filter(marketplace: str | None, asins: Sequence[str] | None) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if marketplace:
        clauses.append({"marketplace": marketplace})
    if asins:
        clauses.append({"asin": {"$in": list(asins)}} if len(asins) > 1 else {"asin": asins[0]})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class DenseIndex:
    def __init__(self, client: ClientAPI, embeddings: Embeddings, model_name: str):
        # One collection per model: vectors of two models must never be compared.
        self.model_name = model_name
        self.name = f"pages_{slug(model_name)}"[:60]
        # Opened as LangChain's ``Chroma`` opened it while the leg went through that store
        # (same name, no metadata, no configuration, no embedding function of Chroma's), so
        # collections written then are these. We upsert vectors made here and query by
        # vector, which the store only did through its private ``_collection``. Chroma's own
        # default embedding function would be recorded in a new collection's configuration.
        self.collection: Collection = client.get_or_create_collection(
            name=self.name, embedding_function=None)
        self.embeddings = embeddings
        self._vectors: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._vectors_lock = threading.Lock()

    def embed(self, chunks: Sequence[Chunk]) -> list[list[float]]:
        return self.embeddings.embed_documents([c.index_text for c in chunks])

    def add(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]] | None = None
            ) -> None:
        """Store ``chunks``, embedding them unless their ``vectors`` are given."""
        if vectors is None:
            vectors = self.embed(chunks)
        # The document beside its vector, as LangChain's store wrote it: collections written
        # by either hold the same rows.
        self.collection.upsert(
            ids=[c.chunk_id for c in chunks], embeddings=np.asarray(vectors, dtype=np.float32),
            metadatas=[c.metadata() for c in chunks],
            documents=[c.index_text for c in chunks])

    def remove(self, chunk_ids: Sequence[str]) -> None:
        if chunk_ids:
            self.collection.delete(ids=list(chunk_ids))
            with self._vectors_lock:
                for chunk_id in chunk_ids:
                    self._vectors.pop(chunk_id, None)

    def ids(self) -> set[str]:
        return set(self.collection.get(include=[])["ids"])

    def held(self, chunk_ids: Sequence[str]) -> set[str]:
        """Those of ``chunk_ids`` the collection holds a vector for."""
        found: set[str] = set()
        for start in range(0, len(chunk_ids), IDS_PER_GET):
            batch = list(chunk_ids[start:start + IDS_PER_GET])
            found.update(self.collection.get(ids=batch, include=[])["ids"])
        return found

    def search(self, vector: list[float], *, k: int, marketplace: str | None = None,
               asins: Sequence[str] | None = None) -> list[DenseHit]:
        """The ``k`` nearest chunks within the marketplace/ASINs, by Chroma's filtered search."""
        return self._query(vector, k, where_filter(marketplace, asins))

    def nearest(self, vector: list[float], *, n: int) -> list[DenseHit]:
        """The ``n`` nearest chunks of the whole collection (unfiltered HNSW search)."""
        return self._query(vector, n, None)

    def among(self, vector: list[float], chunk_ids: Sequence[str], *, k: int
              ) -> list[DenseHit] | None:
        """The ``k`` nearest of the given chunks, exactly; None when there are too many of
        them or the collection's distance is not one computed here."""
        space = (self.collection.configuration_json.get("hnsw") or {}).get("space", "l2")
        if len(chunk_ids) > EXACT_SEARCH_MAX or space not in _DISTANCES:
            return None
        if not chunk_ids:
            return []
        known = self._stored_vectors(chunk_ids)
        present = [chunk_id for chunk_id in dict.fromkeys(chunk_ids) if chunk_id in known]
        if not present:
            return []
        vectors = np.stack([known[chunk_id] for chunk_id in present])
        distances = _DISTANCES[space](vectors, np.asarray(vector, dtype=np.float32))
        order = np.argsort(distances, kind="stable")[:k]
        return [DenseHit(chunk_id=present[i], score=-float(distances[i])) for i in order]

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """The stored vectors of those of ``chunk_ids`` that exist, read from Chroma (not
        kept: a reader of many, such as the benchmarks' donors, would evict the cache)."""
        if not chunk_ids:
            return {}
        got = self.collection.get(ids=list(chunk_ids), include=["embeddings"])
        if got["embeddings"] is None:
            return {}
        return {str(chunk_id): np.asarray(vector, dtype=np.float32)
                for chunk_id, vector in zip(got["ids"], got["embeddings"], strict=True)}

    def _stored_vectors(self, chunk_ids: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """The stored vectors of the chunks that exist, from the cache or read from Chroma."""
        known: dict[str, NDArray[np.float32]] = {}
        with self._vectors_lock:
            for chunk_id in chunk_ids:
                if (cached := self._vectors.get(chunk_id)) is not None:
                    self._vectors.move_to_end(chunk_id)
                    known[chunk_id] = cached
        missing = [chunk_id for chunk_id in chunk_ids if chunk_id not in known]
        if not missing:
            return known
        read = self.vectors(missing)
        known.update(read)
        with self._vectors_lock:
            self._vectors.update(read)
            while len(self._vectors) > VECTORS_KEPT:
                self._vectors.popitem(last=False)
        return known

    def _query(self, vector: list[float], n: int, where: dict[str, Any] | None
               ) -> list[DenseHit]:
        # Ids and distances only: the documents and metadata Chroma returns by default would
        # be read from its SQLite file for nothing (the lexical registry has the rows).
        query: list[Sequence[float] | Sequence[int]] = [vector]
        found = self.collection.query(query_embeddings=query, n_results=n, where=where,
                                      include=["distances"])
        ids, distances = found["ids"][0], (found["distances"] or [[]])[0]
        return [DenseHit(chunk_id=str(i), score=-float(d))
                for i, d in zip(ids, distances, strict=True)]


Vectors = NDArray[np.float32]


def _l2(vectors: Vectors, query: Vectors) -> Vectors:
    difference = vectors - query
    squared: Vectors = np.einsum("ij,ij->i", difference, difference)  # as hnswlib's "l2"
    return squared


def _ip(vectors: Vectors, query: Vectors) -> Vectors:
    distance: Vectors = 1.0 - vectors @ query
    return distance


def _cosine(vectors: Vectors, query: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query)
    distance: Vectors = 1.0 - (vectors @ query) / np.maximum(norms, 1e-30)
    return distance


# Chroma's distance functions, as its HNSW index computes them.
_DISTANCES = {"l2": _l2, "ip": _ip, "cosine": _cosine}
