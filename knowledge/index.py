"""The product-page index: a dense leg (Chroma) and a lexical leg (SQLite FTS5, or PostgreSQL
full text search when the store is on PostgreSQL), fused by rank.

``sync`` makes the index hold exactly the chunks of the given pages, embedding only chunks
it has not seen; ``search`` returns evidence with provenance, filtered by marketplace/ASIN.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from langchain_core.embeddings import Embeddings

from base.money import MARKETPLACE_LANGUAGE
from base.settings import Settings
from knowledge.chunks import Chunk, Provenance, chunk_page
from knowledge.dense import DenseHit, DenseIndex, chroma_client
from knowledge.e5 import E5Embeddings
from knowledge.embedding_process import EmbeddingProcessDied
from knowledge.embeddings import dense_languages, load_embeddings
from knowledge.lexical import LexicalIndex
from knowledge.lexical_leg import LexicalLeg
from knowledge.lexical_postgres import PostgresLexicalIndex, postgres_url
from knowledge.pages import ProductPage
from knowledge.text import query_tokens

log = logging.getLogger(__name__)

RRF_K = 60  # the constant of Cormack et al.; damps the weight of the very first ranks
CANDIDATES_PER_LEG = 20
# A marketplace's dense candidates come from an unfiltered search this many times wider,
# widened fourfold while too few of them are in the marketplace, up to the widest.
DENSE_WIDEN = 5
DENSE_WIDEST = 1600
EMBED_BATCH = 256
# Chunks embedded per call of the model, which sorts a call's texts by length into batches:
# in calls of 256 chunks the batches pad about 20% more than in calls of 1024.
EMBED_WINDOW = 1024
OTHER_LANGUAGE_DENSE_WEIGHT = 0.5
# Query embeddings made ahead of their search (``prepare``) and not searched yet.
PREPARED_QUERIES_KEPT = 64
EMBEDDING_WORKERS = 2

# How far a sync's embedding is: called with the chunks embedded so far and how many it embeds
# in all, once with 0 before the first batch and after each batch; never when nothing is to be
# embedded. The caller shows it (a bar, log lines): this layer prints nothing.
Progress = Callable[[int, int], None]
Embed = Callable[[Sequence[Chunk]], Sequence[Sequence[float]]]


@runtime_checkable
class EmbedsAhead(Protocol):
    """Embeddings that start a query's embedding and return at once (a model running
    elsewhere: ``knowledge.embedding_process``)."""

    @property
    def idle(self) -> bool: ...

    def submit_query(self, text: str) -> Future[list[float]]: ...


@dataclass(frozen=True, slots=True)
class Evidence(Provenance):
    """One retrieved chunk: what the page says, where, and how it ranked."""

    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    # Cosine similarity of the query and the chunk (vectors are normalised), when retrieved
    # by the dense leg: lets a caller judge whether the page really speaks to the question.
    similarity: float | None = None


@dataclass(slots=True)
class SyncReport:
    pages: int = 0
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    pages_removed: int = 0
    seconds: float = 0.0
    to_embed: int = field(default=0, repr=False)
    # Chunks to add whose vectors this model's collection already holds: only registered.
    held: frozenset[str] = field(default=frozenset(), repr=False)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], weights: Sequence[float] = (),
                           k: int = RRF_K) -> dict[str, float]:
    scores: dict[str, float] = {}
    for i, ranking in enumerate(rankings):
        weight = weights[i] if i < len(weights) else 1.0
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return scores


def _model_threads(embeddings: Embeddings) -> int:
    """The cores one call of the model spreads over: the e5 engine's own, else torch's."""
    if isinstance(embeddings, E5Embeddings):
        return embeddings.threads
    import torch

    return torch.get_num_threads()


def _embeds_beside(embeddings: Embeddings) -> bool:
    """Whether a query embedded ahead costs the caller nothing: a model process with nothing
    else to do, or the e5 engine here on one thread. The engine's one C call leaves the
    interpreter to the caller, so the vector is worked out on the other core while the
    caller stores the message; and since the message's intent is read from that vector, it
    is rarely embedded in vain (only a message decided before it is read by meaning, as an
    instruction to the assistant). A sentence-transformers model here runs its forward pass in
    Python, which would take the interpreter from the caller's own work."""
    if isinstance(embeddings, EmbedsAhead):
        return embeddings.idle
    return isinstance(embeddings, E5Embeddings) and _model_threads(embeddings) == 1


def _cosine(hit: DenseHit) -> float:
    # Chroma's l2 space returns the squared distance: 2 - 2cos for unit vectors.
    return 1.0 + hit.score / 2.0


def open_lexical(settings: Settings) -> LexicalLeg:
    """The lexical leg where the records are: in the PostgreSQL database when the store is
    there (every host shares it), else in the data dir's SQLite FTS5 file."""
    url = postgres_url(settings.database_url)
    if url is None:
        return LexicalIndex(settings.lexical_path)
    leg = PostgresLexicalIndex(url)
    if settings.lexical_path.exists() and leg.count() == 0:
        log.warning("the lexical index is in PostgreSQL now and holds no page yet; %s is no "
                    "longer read: run `csba ingest` once to register the pages there (the "
                    "vectors are kept, nothing is embedded again)", settings.lexical_path)
    return leg


class KnowledgeIndex:
    def __init__(self, dense: DenseIndex, lexical: LexicalLeg,
                 dense_languages: frozenset[str] = frozenset({"en"})) -> None:
        self.dense = dense
        self.lexical = lexical
        self.dense_languages = dense_languages
        self._prepared: OrderedDict[str, Future[list[float]]] = OrderedDict()
        self._prepared_lock = threading.Lock()
        # Queries are embedded here while their turn goes on (one model thread each, one
        # per core): the turn's reads and the lexical leg run meanwhile.
        self._embedder = ThreadPoolExecutor(max_workers=EMBEDDING_WORKERS,
                                            thread_name_prefix="embed-query")

    @classmethod
    def open(cls, settings: Settings, embeddings: Embeddings | None = None) -> KnowledgeIndex:
        embeddings = embeddings or load_embeddings(settings.embedding_model,
                                                   batch_size=settings.embedding_batch_size)
        client = chroma_client(settings.chroma_url, settings.chroma_dir)
        return cls(DenseIndex(client, embeddings, settings.embedding_model),
                   open_lexical(settings), dense_languages=dense_languages(settings))

    def close(self) -> None:
        self._embedder.shutdown(wait=True)
        self.lexical.close()

    @property
    def model_name(self) -> str:
        """The embedding model's name: what the similarities are measured with."""
        return self.dense.model_name

    def chunk_count(self) -> int:
        """How many chunks the index holds (the lexical leg is their registry)."""
        return self.lexical.count()

    # --- writing ------------------------------------------------------------------------

    def plan(self, pages: Iterable[ProductPage], *, prune: bool = False
             ) -> tuple[list[Chunk], list[str], SyncReport]:
        """What ``sync`` would do: chunks to embed, chunk ids to remove, and the counts."""
        report = SyncReport()
        to_add: list[Chunk] = []
        to_remove: list[str] = []
        wanted: set[tuple[str, str]] = set()
        unembedded, stale = self._out_of_step()
        for page in pages:
            report.pages += 1
            wanted.add(page.key)
            chunks = {c.chunk_id: c for c in chunk_page(page)}
            existing = self.lexical.page_chunk_ids(page.asin, page.marketplace)
            to_add += [c for cid, c in chunks.items() if cid not in existing or cid in unembedded]
            to_remove += sorted(existing - chunks.keys())
            report.unchanged += len((existing - unembedded) & chunks.keys())
        if prune:
            for asin, marketplace in sorted(self.lexical.pages() - wanted):
                to_remove += sorted(self.lexical.page_chunk_ids(asin, marketplace))
                report.pages_removed += 1
        if unembedded or stale:
            # This model's collection missed what was indexed under another model: the
            # registered chunks it lacks are embedded (those of pages not synced now too),
            # the vectors of chunks since removed are dropped.
            handled = {c.chunk_id for c in to_add} | set(to_remove)
            to_add += self.lexical.chunks(sorted(unembedded - handled))
            to_remove += sorted(stale - handled)
            log.info("index sync: collection %s lacked %d chunks and held %d removed ones",
                     self.dense.name, len(unembedded), len(stale))
        # Chunks the collection holds and the registry lacks (a registry started afresh, as
        # when the store, and so the lexical leg, moves to PostgreSQL; or a crash between the
        # two writes): an id hashes what was embedded, so their vectors stand.
        report.held = frozenset(self.dense.held([c.chunk_id for c in to_add]))
        report.to_embed = len(to_add) - len(report.held)
        return to_add, to_remove, report

    def _out_of_step(self) -> tuple[set[str], set[str]]:
        """The registered chunks this model's collection lacks, and the chunks it holds that
        are no longer registered: both empty when it matched the registry's last version
        (read from the registry, not compared: a sync of one page must stay cheap)."""
        matched = self.lexical.matched_version(self.dense.name)
        if matched == self.lexical.version():
            return set(), set()
        registered, stored = self.lexical.chunk_ids(), self.dense.ids()
        if matched is None:
            # The registry never held this collection's chunks (it started afresh: the store
            # moved to PostgreSQL, or a new registry beside a shared Chroma server): what the
            # collection holds beyond it is not known to be removed. It stays, and a page
            # synced later registers its chunks without embedding them again (``held``); a
            # sync of part of the catalog must not drop the vectors of the rest.
            return registered - stored, set()
        return registered - stored, stored - registered

    def sync(self, pages: Iterable[ProductPage], *, prune: bool = False,
             progress: Progress | None = None, embed: Embed | None = None) -> SyncReport:
        """``embed``: what makes the vectors of the chunks to add (default: the model; the
        benchmarks give filler pages vectors derived from real ones)."""
        started = time.perf_counter()
        embed = embed or self.dense.embed
        planned, to_remove, report = self.plan(pages, prune=prune)
        held = [c for c in planned if c.chunk_id in report.held]
        for start in range(0, len(held), EMBED_BATCH):
            self.lexical.add(held[start:start + EMBED_BATCH])
            report.added += len(held[start:start + EMBED_BATCH])
        to_add = [c for c in planned if c.chunk_id not in report.held]
        if progress and to_add:
            progress(0, len(to_add))
        embedded = 0
        for window_start in range(0, len(to_add), EMBED_WINDOW):
            window = to_add[window_start:window_start + EMBED_WINDOW]
            vectors = embed(window)
            for start in range(0, len(window), EMBED_BATCH):
                batch = window[start:start + EMBED_BATCH]
                # Vectors first: a crash between the two writes leaves a chunk the lexical
                # registry does not know, which the next sync upserts again (idempotent ids).
                self.dense.add(batch, vectors[start:start + EMBED_BATCH])
                self.lexical.add(batch)
                report.added += len(batch)
                embedded += len(batch)
                if progress:
                    progress(embedded, len(to_add))
        self.remove_chunks(to_remove)
        self.lexical.mark_matched(self.dense.name, self.lexical.version())
        report.removed = len(to_remove)
        report.seconds = time.perf_counter() - started
        log.info("index sync: pages=%d added=%d unchanged=%d removed=%d in %.1fs", report.pages,
                 report.added, report.unchanged, report.removed, report.seconds)
        return report

    def remove_chunks(self, chunk_ids: Sequence[str]) -> None:
        self.dense.remove(chunk_ids)
        self.lexical.remove(chunk_ids)

    def delete_page(self, asin: str, marketplace: str) -> int:
        ids = sorted(self.lexical.page_chunk_ids(asin, marketplace))
        self.remove_chunks(ids)
        return len(ids)

    # --- reading ------------------------------------------------------------------------

    def _dense_search(self, vector: list[float], marketplace: str | None,
                      asins: Sequence[str] | None) -> list[DenseHit]:
        """The dense leg's candidates in scope, found without Chroma's metadata filter where
        the lexical registry knows the scope: that filter reads every chunk of the marketplace
        on each query (about 150 ms at 100k chunks). The products' chunks are ranked exactly;
        a marketplace is searched unfiltered, wider until enough of its chunks are found."""
        k = CANDIDATES_PER_LEG
        if asins:
            hits = self.dense.among(vector, self.lexical.scope_chunk_ids(marketplace, asins), k=k)
            if hits is not None:
                return hits
        elif marketplace:
            n = k * DENSE_WIDEN
            while n <= DENSE_WIDEST:
                nearest = self.dense.nearest(vector, n=n)
                where = self.lexical.marketplaces([h.chunk_id for h in nearest])
                kept = [h for h in nearest if where.get(h.chunk_id) == marketplace]
                if len(kept) >= k or len(nearest) < n:  # enough, or the whole collection
                    return kept[:k]
                n *= 4
        return self.dense.search(vector, k=k, marketplace=marketplace, asins=asins)

    def prepare(self, query: str, *, if_idle: bool = False) -> None:
        """Start embedding a query that is about to be searched, and return: the caller goes
        on with its own work (its reads, the lexical leg) on the other core meanwhile. The next
        ``search`` of exactly this query waits for the vector, and uses it once.

        ``if_idle``: a query that may not be searched at all, embedded only where that costs
        the caller nothing (``_embeds_beside``)."""
        if not query.strip():
            return
        with self._prepared_lock:
            if query in self._prepared:  # already on its way
                return
        embeddings = self.dense.embeddings
        future: Future[list[float]]
        if if_idle and not _embeds_beside(embeddings):
            return
        if isinstance(embeddings, EmbedsAhead):
            # The model has a process of its own: the request leaves from this thread now.
            future = embeddings.submit_query(query)
        elif _model_threads(embeddings) > 1:
            # A model call spread over every core would wait at each layer for the core the
            # caller is using: embed here and now instead (`csba serve` runs one thread).
            future = Future()
            future.set_result(embeddings.embed_query(query))
        else:
            future = self._embedder.submit(embeddings.embed_query, query)
        self._keep_prepared(query, future)

    def _keep_prepared(self, query: str, future: Future[list[float]]) -> None:
        with self._prepared_lock:
            self._prepared[query] = future
            while len(self._prepared) > PREPARED_QUERIES_KEPT:
                self._prepared.popitem(last=False)

    def _query_vector(self, query: str) -> list[float]:
        with self._prepared_lock:
            future = self._prepared.pop(query, None)
        if future is not None:
            try:
                return future.result()
            except EmbeddingProcessDied:
                log.warning("a prepared query's model process died; embedding it again")
        return self.dense.embeddings.embed_query(query)

    def query_vector(self, query: str) -> list[float]:
        """The model's vector of ``query``, embedded once: a preparation on its way is waited
        for, and the vector stays prepared, so a ``search`` of the same query afterwards does
        not embed it again (the agent reads a message's meaning with the vector its search
        uses) until ``forget``."""
        self.prepare(query)  # a no-op when on its way
        vector = self._query_vector(query)
        done: Future[list[float]] = Future()
        done.set_result(vector)
        self._keep_prepared(query, done)
        return vector

    def forget(self, query: str) -> None:
        """Drop a prepared vector the turn did not search with: nothing of a message is kept
        past its turn, and a repeated message is embedded again, as any other."""
        with self._prepared_lock:
            self._prepared.pop(query, None)

    def closest_similarity(self, query: str, *, asins: Sequence[str]) -> float | None:
        """The highest cosine similarity between ``query`` and any chunk of ``asins`` (the
        dense leg alone), or None when they have no chunk. The vector stays prepared
        (``query_vector``)."""
        if not query.strip() or not asins:
            return None
        hits = self._dense_search(self.query_vector(query), None, asins)
        return max((_cosine(h) for h in hits), default=None)

    def similarities(self, query: str, *, asins: Sequence[str],
                     marketplace: str | None = None) -> dict[str, float]:
        """The cosine similarity of ``query`` to every chunk of ``asins`` (the dense leg
        alone, ranked exactly), by chunk id; empty when the products have too many chunks
        to rank exactly. How close one field lies is read against its neighbours on the same
        page: a question lies close to every field of a page about its product. The vector
        stays prepared (``query_vector``)."""
        if not query.strip() or not asins:
            return {}
        scope = self.lexical.scope_chunk_ids(marketplace, asins)
        hits = self.dense.among(self.query_vector(query), scope, k=len(scope))
        return {h.chunk_id: _cosine(h) for h in hits or []}

    def informative_terms(self, language: str, terms: Sequence[str]) -> list[str]:
        """``terms`` (stemmed in ``language``) without those too common in the catalog's
        pages in that language to tell one field from another."""
        return self.lexical.informative_terms(language, terms)

    def document_frequencies(self, language: str, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks in ``language`` use each of ``terms`` (stemmed), as written or as
        the start of a longer word (0: no page uses it)."""
        return self.lexical.document_frequencies(language, terms)

    def plain_search(self, query: str, *, k: int, marketplace: str | None = None
                     ) -> list[Evidence]:
        """The ``k`` nearest chunks of the marketplace by the dense leg alone (Chroma's
        filtered search; no lexical leg, no fusion, nothing prepared): what a bare retrieval
        bot finds, for the evals' baseline."""
        hits = self.dense.search(self.dense.embeddings.embed_query(query), k=k,
                                 marketplace=marketplace)
        rows = self.lexical.chunk_rows([h.chunk_id for h in hits]) if hits else {}
        return [Evidence(chunk_id=h.chunk_id, score=h.score, dense_rank=rank,
                         lexical_rank=None, similarity=_cosine(h), **rows[h.chunk_id])
                for rank, h in enumerate(hits, start=1) if h.chunk_id in rows]

    def search(self, query: str, *, marketplace: str | None = None,
               asins: Sequence[str] | None = None, language: str | None = None,
               k: int = 5) -> list[Evidence]:
        if k <= 0:
            raise ValueError(f"k must be > 0, got {k}")
        if not query.strip():
            return []
        # Stem the query as the customer wrote it and as the target pages are written.
        languages = self.lexical.languages(marketplace, asins)
        if language is None and len(languages) == 1:
            language = next(iter(languages))
        if language:
            languages.add(language)
        terms = {lang: query_tokens(query, lang) for lang in sorted(languages)}
        lexical = self.lexical.search(terms, k=CANDIDATES_PER_LEG, marketplace=marketplace,
                                      asins=asins)
        vector = self._query_vector(query)
        dense = self._dense_search(vector, marketplace, asins)
        dense_ranks = {h.chunk_id: i for i, h in enumerate(dense, start=1)}
        lexical_ranks = {h.chunk_id: i for i, h in enumerate(lexical, start=1)}
        # The dense leg is trusted fully only in the languages its model was trained on.
        query_language = language or MARKETPLACE_LANGUAGE.get(marketplace or "")
        dense_weight = (1.0 if query_language in self.dense_languages or query_language is None
                        else OTHER_LANGUAGE_DENSE_WEIGHT)
        fused = reciprocal_rank_fusion([[h.chunk_id for h in dense],
                                        [h.chunk_id for h in lexical]], weights=(dense_weight, 1.0))
        best = sorted(fused, key=lambda cid: -fused[cid])[:k]
        rows = self.lexical.chunk_rows(best) if best else {}
        similarity = {h.chunk_id: _cosine(h) for h in dense}
        return [Evidence(chunk_id=cid, score=fused[cid], dense_rank=dense_ranks.get(cid),
                         lexical_rank=lexical_ranks.get(cid), similarity=similarity.get(cid),
                         **rows[cid])
                for cid in best if cid in rows]
