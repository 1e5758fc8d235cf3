"""What every lexical leg answers, and the ranking rules they share.

Two implementations: SQLite FTS5 in a file of the host's data dir (``knowledge/lexical.py``,
the embedded default) and PostgreSQL full text search in the store's database
(``knowledge/lexical_postgres.py``, for several hosts). Both index the same tokens
(``knowledge/text.py``, tagged with their language) and apply the rules here, so a question
ranks the same chunks on either.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from knowledge.chunks import Chunk

# The registry's own row in the versions table; each vector collection has a row by its name.
REGISTRY = ""
# A term in more than this share of its language's chunks ("die", "el", "the") says little
# and slows the query; it is dropped unless it is all the query has.
COMMON_TERM_SHARE = 0.12
MIN_CHUNKS_FOR_COMMON_TERMS = 100
PREFIX_MIN_LEN = 4
LOCAL_COMMON_SHARE = 0.25
# The field's own words count fully; the product's name only helps pick the right product.
FIELD_WEIGHT, CONTEXT_WEIGHT = 1.0, 0.4
# FTS5's bm25() constants.
K1, B = 1.2, 0.75


@dataclass(frozen=True, slots=True)
class LexicalHit:
    chunk_id: str
    score: float  # higher is better


class LexicalLeg(Protocol):
    """The lexical leg of the product-page index and the registry of every indexed chunk:
    ingestion diffs against it (with its version counter) to embed only what changed."""

    def close(self) -> None: ...

    def page_chunk_ids(self, asin: str, marketplace: str) -> set[str]: ...

    def pages(self) -> set[tuple[str, str]]: ...

    def languages(self, marketplace: str | None = None,
                  asins: Sequence[str] | None = None) -> set[str]: ...

    def informative_terms(self, language: str, terms: Sequence[str]) -> list[str]: ...

    def document_frequencies(self, language: str, terms: Sequence[str]) -> dict[str, int]: ...

    def version(self) -> int: ...

    def matched_version(self, name: str) -> int | None: ...

    def mark_matched(self, name: str, version: int) -> None: ...

    def chunk_ids(self) -> set[str]: ...

    def chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]: ...

    def count(self) -> int: ...

    def add(self, chunks: Sequence[Chunk]) -> None: ...

    def remove(self, chunk_ids: Iterable[str]) -> None: ...

    def scope_chunk_ids(self, marketplace: str | None, asins: Sequence[str]) -> list[str]: ...

    def marketplaces(self, chunk_ids: Sequence[str]) -> dict[str, str]: ...

    def chunk_rows(self, chunk_ids: Sequence[str]) -> dict[str, dict[str, str]]: ...

    def search(self, terms: dict[str, list[str]], *, k: int, marketplace: str | None = None,
               asins: Sequence[str] | None = None) -> list[LexicalHit]: ...


def tagged(language: str, terms: str) -> str:
    """Terms as both legs store them, ``de_lamp``: the vocabulary then counts, per language,
    how many chunks hold a term, so "die" or "el" can be told apart from a rare word."""
    return " ".join(f"{language}_{t}" for t in terms.split())


def untagged(language: str, terms: Sequence[str]) -> list[str]:
    """The ``language`` terms among tagged ones, without their tag (``de_lamp`` -> ``lamp``)."""
    prefix = f"{language}_"
    return [t.removeprefix(prefix) for t in terms if t.startswith(prefix)]


def is_prefix_term(term: str) -> bool:
    """Whether a tagged query term matches as a prefix (a stem meets its longer forms)."""
    word = term.split("_", 1)[1]
    return len(word) >= PREFIX_MIN_LEN and word.isalpha()


def matches(term: str, field_terms: frozenset[str]) -> bool:
    """Whether a tagged query term matches a column holding ``field_terms``: indexed terms
    are already folded and split as the index stores them, so a match is equality, or a shared
    beginning for a prefix term."""
    if is_prefix_term(term):
        return any(t.startswith(term) for t in field_terms)
    return term in field_terms


def query_terms(terms: dict[str, list[str]]) -> list[str]:
    """The tagged, distinct terms of a query given per language."""
    return list(dict.fromkeys(f"{lang}_{t}" for lang, ts in terms.items() for t in ts if t))


def keep_informative(unique: list[str], df: dict[str, int], sizes: dict[str, int]) -> list[str]:
    """Tagged query terms without those in too many of their language's chunks (``df``: the
    chunks whose field holds each term; ``sizes``: chunks per language)."""
    if not unique:
        return []

    def common(term: str) -> bool:
        size = sizes.get(term.split("_", 1)[0], 0)
        return size >= MIN_CHUNKS_FOR_COMMON_TERMS and df.get(term, 0) > COMMON_TERM_SHARE * size

    kept = [t for t in unique if not common(t)]
    return kept or sorted(unique, key=lambda t: df.get(t, 0))[:1]


def keep_discriminative(terms: list[str], fields: list[frozenset[str]]) -> list[str]:
    """Within known products (``fields``: the terms of each of their chunks), drop terms most
    of their chunks share ("Teller" on a tableware page): they tell no field from another,
    only the product, which is known."""
    kept = [term for term in terms
            if sum(matches(term, f) for f in fields) <= LOCAL_COMMON_SHARE * len(fields)]
    return kept or terms


def prefixes(token: str) -> list[str]:
    """The prefix terms a tagged token of a field matches (``de_lampen``: ``de_lamp``,
    ``de_lampe``, ``de_lampen``): every beginning a query's prefix term can be."""
    language, _, word = token.partition("_")
    letters = next((i for i, ch in enumerate(word) if not ch.isalpha()), len(word))
    return [f"{language}_{word[:end]}" for end in range(PREFIX_MIN_LEN, letters + 1)]


def word_counts(fields: Iterable[str]) -> Counter[str]:
    """How many of the given fields (each its tagged tokens) hold each token: a whole word's
    document frequency, kept with the index as chunks come and go."""
    counts: Counter[str] = Counter()
    for field in fields:
        counts.update(set(field.split()))
    return counts


def prefix_counts(fields: Iterable[str]) -> Counter[str]:
    """How many of the given fields (each its tagged tokens) hold a token beginning with each
    prefix term: a prefix term's document frequency, kept with the index as chunks come and go
    (summing its longer words' counts would count a field holding two of them twice)."""
    counts: Counter[str] = Counter()
    for field in fields:
        counts.update({p for token in set(field.split()) for p in prefixes(token)})
    return counts


def idf(chunks: int, hits: int) -> float:
    """FTS5's IDF: log((N - n + 0.5) / (n + 0.5)), at least 1e-6."""
    value = math.log((chunks - hits + 0.5) / (hits + 0.5))
    return value if value > 0 else 1e-6


@dataclass(frozen=True, slots=True)
class ScopedRow:
    """A chunk of a known product as the scoped ranking reads it: its field's and its product
    name's tagged tokens."""

    chunk_id: str
    asin: str
    marketplace: str
    terms: tuple[str, ...]
    context: tuple[str, ...]

    @property
    def length(self) -> int:
        """BM25's document length: the tokens of both columns."""
        return len(self.terms) + len(self.context)


# The chunks of the whole index whose field holds each of the given tagged terms (a prefix
# term: any word it begins, each chunk once).
TermCounts = Callable[[Sequence[str]], dict[str, int]]


def rank_scoped(terms: Sequence[str], rows: Sequence[ScopedRow], hits: dict[str, int], *,
                chunks: int, tokens: int, k: int) -> list[tuple[str, float]]:
    """FTS5's ``bm25()`` (lower is better) of the ``rows`` whose field holds any of ``terms``,
    as a query restricted to the field column ranks them, computed from statistics alone:
    ``hits`` (``TermCounts`` of the terms), ``chunks`` and ``tokens`` (the index's size).
    Ties keep the rows' order (index order), as both legs' queries do."""
    if not terms or not rows or not chunks:
        return []
    average = tokens / chunks
    weights = [(term, is_prefix_term(term), idf(chunks, hits.get(term, 0))) for term in terms]
    ranked: list[tuple[float, int, str]] = []
    for position, row in enumerate(rows):
        score, matched = 0.0, False
        for term, prefix, weight in weights:
            freq = FIELD_WEIGHT * sum(1 for t in row.terms
                                      if (t.startswith(term) if prefix else t == term))
            if freq:
                matched = True
                score += weight * (freq * (K1 + 1.0)
                                   / (freq + K1 * (1 - B + B * row.length / average)))
        if matched:
            ranked.append((-score, position, row.chunk_id))
    ranked.sort()
    return [(chunk_id, score) for score, _, chunk_id in ranked[:k]]


def rank_products(terms: list[str], rows: Sequence[ScopedRow], counts: TermCounts, *,
                  chunks: int, tokens: int, marketplace: str | None, k: int
                  ) -> list[tuple[str, float]]:
    """The best chunks of known products (``rows``: all their chunks, in index order) for a
    question's informative ``terms``, lower is better. Only the products' rows and the
    counts of the question's terms are read: a known product's question costs the same in a
    catalog of any size. The rank is what a query of the field column over the whole index,
    kept to the products, gives."""
    terms = keep_discriminative(terms, [frozenset(r.terms) for r in rows])
    # The products are known, so words naming them ("die Lampe") tell little about which
    # field answers: a ranking without them votes beside the full one.
    names: set[str] = set()
    seen: set[str] = set()
    for row in rows:
        if row.asin not in seen:
            seen.add(row.asin)
            names.update(row.context)
    unnamed = [t for t in terms if t not in names]
    scope = [r for r in rows if marketplace is None or r.marketplace == marketplace]
    if not terms or not scope:
        return []
    hits = counts(terms)
    ranked = rank_scoped(terms, scope, hits, chunks=chunks, tokens=tokens, k=k)
    if unnamed and len(unnamed) < len(terms):
        # Titles carry facts too ("nicht dimmbar"), so both rankings vote.
        ranked = merge(rank_scoped(unnamed, scope, hits, chunks=chunks, tokens=tokens, k=k),
                       ranked, k)
    return ranked


def merge(first: list[tuple[str, float]], second: list[tuple[str, float]],
          k: int) -> list[tuple[str, float]]:
    """Reciprocal-rank merge of two rankings, as (chunk id, rank score lower-is-better)."""
    score: dict[str, float] = {}
    for ranking in (first, second):
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            score[chunk_id] = score.get(chunk_id, 0.0) - 1.0 / (60 + rank)
    return sorted(score.items(), key=lambda kv: kv[1])[:k]
