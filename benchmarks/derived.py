"""Vectors for the filler pages of a large benchmark catalog, derived from embedded ones.

Building the 100,000-chunk catalog with the model would embed 100,000 texts: with
multilingual-e5-small on two cores, the better part of an hour. What the query benchmarks
measure of the index (Chroma's HNSW search, the lexical leg, reading rows) depends on how many
chunks there are and how their vectors spread, not on each filler vector being the model's own.
So a build embeds a first slice of the catalog for real (``REAL_CHUNKS``, the pages that make up
the 10,000-chunk scale: the smaller scales are wholly real), and gives every chunk beyond it a
vector derived from a real one:

- the donor is a chunk of the real slice with the same language, product category and kind of
  field (title, brand, a bullet, a description paragraph, the same attribute key), chosen by
  the chunk's id; failing that, one of the same language and category, then of the language;
- the vector is the donor's plus Gaussian noise of norm ``NOISE`` (seeded by the chunk's id:
  a rebuild gives the same vectors), renormalised to unit length as the model's are.

Generated pages recombine the demo catalog's text (``benchmarks.generate``), so a filler chunk's
text is close to that of chunks of the same field in the real slice; the noise keeps fillers
apart from their donor (and from each other) as distinct texts are. Every query is still
embedded by the model, and the text, metadata and lexical rows of every chunk are real.
``--embed-all`` (``benchmarks.run``) embeds every chunk instead.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from knowledge.chunks import Chunk, chunk_page
from knowledge.pages import ProductPage

if TYPE_CHECKING:  # Chroma is imported where an index is opened, not by the report's writer
    from knowledge.dense import DenseIndex

# The chunks embedded by the model in a catalog built with derived fillers: the 10k scale.
REAL_CHUNKS = 10_000
# The norm of the noise added to a unit donor vector: the filler's cosine to its donor is
# 1 / sqrt(1 + NOISE**2), 0.98. Generated pages reuse demo text, so real chunks have close
# neighbours: in a catalog of 3,000 chunks (1,000 embedded), a real chunk's nearest real chunk
# had a median cosine of 0.976 (two real chunks of one language, category and kind of field:
# 0.84). With noise of norm 0.3 the fillers' nearest neighbour was at a median 0.958; at 0.2,
# 0.981, and the real chunks' own nearest (among all 3,000) at 0.981 too.
NOISE = 0.2
_INDEX = re.compile(r"\[\d+\]")

Key = tuple[str, ...]


def field_kind(field: str) -> str:
    """The kind of a chunk's field: ``bullet_points[3]`` and ``bullet_points[0]`` are one."""
    return _INDEX.sub("", field)


def _keys(language: str, category: str, field: str) -> tuple[Key, Key, Key]:
    """From the closest donors to the widest."""
    return (language, category, field_kind(field)), (language, category), (language,)


def _seed(chunk_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"derived:{chunk_id}".encode()).digest()[:8], "big")


class DerivedVectors:
    """Makes filler vectors from the real vectors of ``donors`` (chunk ids by page)."""

    def __init__(self, vectors: dict[str, NDArray[np.float32]],
                 donors: Sequence[tuple[ProductPage, Sequence[Chunk]]],
                 categories: dict[tuple[str, str], str]) -> None:
        if not vectors:
            raise ValueError("no real vectors to derive from")
        self._vectors = vectors
        self._categories = categories  # (asin, marketplace) -> category, of the filler pages
        self._by_key: dict[Key, list[str]] = defaultdict(list)
        for page, chunks in donors:
            for chunk in chunks:
                if chunk.chunk_id in vectors:
                    for key in _keys(page.language, page.category, chunk.field):
                        self._by_key[key].append(chunk.chunk_id)
        self._everyone = sorted(vectors)
        self.derived = 0

    @classmethod
    def from_index(cls, dense: DenseIndex, real_pages: Sequence[ProductPage],
                   pages: Sequence[ProductPage]) -> DerivedVectors:
        """Donors: the stored vectors of the real pages' chunks (read from Chroma)."""
        donors = [(page, chunk_page(page)) for page in real_pages]
        ids = [c.chunk_id for _, chunks in donors for c in chunks]
        vectors: dict[str, NDArray[np.float32]] = {}
        for start in range(0, len(ids), 5000):
            vectors.update(dense.vectors(ids[start:start + 5000]))
        return cls(vectors, donors, {p.key: p.category for p in pages})

    def learn(self, pages: Sequence[ProductPage]) -> None:
        """Know the categories of more filler pages: a catalog built batch by batch gives
        each batch's pages before its chunks are asked for."""
        self._categories.update({p.key: p.category for p in pages})

    def donor(self, chunk: Chunk) -> str:
        """The real chunk whose vector ``chunk``'s is derived from."""
        category = self._categories.get((chunk.asin, chunk.marketplace), "")
        choices = self._everyone
        for key in _keys(chunk.language, category, chunk.field):
            if self._by_key.get(key):
                choices = self._by_key[key]
                break
        return choices[_seed(chunk.chunk_id) % len(choices)]

    def real_vector(self, chunk_id: str) -> NDArray[np.float32]:
        """The stored vector of a chunk of the real slice."""
        return self._vectors[chunk_id]

    def vector(self, chunk: Chunk) -> NDArray[np.float32]:
        base = self._vectors[self.donor(chunk)]
        rng = np.random.default_rng(_seed(chunk.chunk_id))
        noise = rng.standard_normal(base.shape[0]).astype(np.float32)
        noise *= NOISE / float(np.linalg.norm(noise))
        made = base + noise
        out: NDArray[np.float32] = made / np.float32(np.linalg.norm(made))
        return out

    def __call__(self, chunks: Sequence[Chunk]) -> list[list[float]]:
        """What ``KnowledgeIndex.sync(embed=...)`` asks for: one vector per chunk, the same as
        ``vector`` gives, made in bulk (a million chunks are one matrix sum per window, not a
        million small ones): only each chunk's noise is drawn alone, from its own seed."""
        self.derived += len(chunks)
        if not chunks:
            return []
        bases = np.stack([self._vectors[self.donor(chunk)] for chunk in chunks])
        noise = np.stack([np.random.default_rng(_seed(chunk.chunk_id))
                          .standard_normal(bases.shape[1]).astype(np.float32)
                          for chunk in chunks])
        noise *= (NOISE / np.linalg.norm(noise, axis=1, keepdims=True)).astype(np.float32)
        made = bases + noise
        made /= np.linalg.norm(made, axis=1, keepdims=True).astype(np.float32)
        out: list[list[float]] = made.tolist()
        return out
