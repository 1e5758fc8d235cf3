"""The dense leg: Chroma through LangChain's vector store, embedded or a server by URL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings
from pydantic import HttpUrl

from knowledge.chunks import Chunk
from knowledge.labels import slug


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
        self.store = Chroma(collection_name=f"pages_{slug(model_name)}"[:60],
                            embedding_function=embeddings, client=client)
        self.embeddings = embeddings

    def add(self, chunks: Sequence[Chunk]) -> None:
        self.store.add_texts(texts=[c.index_text for c in chunks],
                             metadatas=[c.metadata() for c in chunks],
                             ids=[c.chunk_id for c in chunks])

    def remove(self, chunk_ids: Sequence[str]) -> None:
        if chunk_ids:
            self.store.delete(ids=list(chunk_ids))

    def ids(self) -> set[str]:
        return set(self.store.get(include=[])["ids"])

    def search(self, vector: list[float], *, k: int, marketplace: str | None = None,
               asins: Sequence[str] | None = None) -> list[DenseHit]:
        found = self.store.similarity_search_by_vector_with_relevance_scores(
            vector, k=k, filter=where_filter(marketplace, asins))
        return [DenseHit(chunk_id=str(doc.id), score=-distance) for doc, distance in found]
