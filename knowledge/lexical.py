"""The lexical leg on SQLite FTS5 (the embedded default; a file per host): stemmed tokens,
and the registry of every indexed chunk.

Chroma's local mode has no keyword search, no embedding model matches exact codes well, and an
English-only one cannot match German or Spanish wording, so this leg carries those. The
``chunks`` table is also the record of what is indexed: ingestion diffs against it to embed only
what changed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from knowledge.chunks import Chunk
from knowledge.lexical_leg import (
    CONTEXT_WEIGHT,
    FIELD_WEIGHT,
    REGISTRY,
    LexicalHit,
    ScopedRow,
    is_prefix_term,
    keep_informative,
    prefix_counts,
    query_terms,
    rank_products,
    tagged,
    untagged,
    word_counts,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    asin TEXT NOT NULL, marketplace TEXT NOT NULL, language TEXT NOT NULL,
    seller_id TEXT NOT NULL, field TEXT NOT NULL, text TEXT NOT NULL, index_text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_page ON chunks (marketplace, asin);
CREATE INDEX IF NOT EXISTS chunks_language ON chunks (language);
-- Searches restricted to products (asin alone) and the languages of a marketplace are found
-- by index seeks rather than by reading every chunk: that matters at 100k chunks.
CREATE INDEX IF NOT EXISTS chunks_asin ON chunks (asin);
CREATE INDEX IF NOT EXISTS chunks_marketplace_language ON chunks (marketplace, language);
-- Terms are stored as language_term ("de_lamp"): the term counts below then count, per
-- language, how many chunks hold a term, so "die" or "el" can be told apart from a rare word.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    terms, context, prefix='4 5', tokenize="unicode61 tokenchars '_'");
-- The registry is shared by every model's vector collection (one per model), so it counts its
-- changes: name '' holds the registry's version, each collection's name the version it last
-- matched. A collection behind (another model indexed meanwhile) is compared chunk by chunk.
CREATE TABLE IF NOT EXISTS versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
-- The statistics a question's terms are weighed with, kept on add and remove (FTS5's
-- vocabulary table, fts5vocab, counts a term by reading its whole list of chunks on each
-- question, which grows with the catalog): how many chunks' fields (not the product's name: a
-- word in many product titles is not a common word of the field text) hold each term, and a
-- word beginning with each prefix term; and the index's size: its tokens, its chunks in all
-- and per language ("chunks:de"). A known product's question is ranked with them
-- (``lexical_leg.rank_products``) instead of a query over the whole index.
CREATE TABLE IF NOT EXISTS term_counts (term TEXT PRIMARY KEY, chunks INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS prefix_counts (prefix TEXT PRIMARY KEY, chunks INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# The totals' row that says the statistics were counted for this file's chunks: a file
# written before they were kept has its chunks and no such row, and is counted once on open.
STATISTICS = "statistics"
_BUMP = ("INSERT INTO versions (name, version) VALUES ('', 1) "
         "ON CONFLICT (name) DO UPDATE SET version = version + 1")


def _match_term(term: str) -> str:
    """An FTS5 query term; words match as prefixes (a stem meets its longer forms)."""
    return f'"{term}"*' if is_prefix_term(term) else f'"{term}"'


class LexicalIndex:
    """The ``LexicalLeg`` on SQLite FTS5, in the file at ``path``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._count_statistics()

    def close(self) -> None:
        self._db.close()

    # --- statistics -----------------------------------------------------------------------

    def _count_statistics(self) -> None:
        """Count the statistics of a file written before they were kept (once)."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM totals WHERE name = ?",
                                (STATISTICS,)).fetchone():
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._db.execute("SELECT 1 FROM totals WHERE name = ?",
                                        (STATISTICS,)).fetchone():
                    self._db.execute("DELETE FROM term_counts")
                    self._db.execute("DELETE FROM prefix_counts")
                    self._db.execute("DELETE FROM totals")
                    rows = self._db.execute(
                        "SELECT c.language, f.terms, f.context FROM chunks c "
                        "JOIN chunks_fts f ON f.rowid = c.rowid")
                    while batch := rows.fetchmany(10_000):
                        self._update_statistics(batch, 1)
                    self._db.execute("INSERT INTO totals (name, value) VALUES (?, 1)",
                                     (STATISTICS,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _update_statistics(self, fields: Iterable[tuple[str, str, str]], sign: int) -> None:
        """Count chunks (each its language, its tagged field and name tokens) in (1) or out
        (-1), in the caller's transaction."""
        fields = list(fields)
        totals = Counter({"chunks": len(fields)})
        for language, terms, context in fields:
            totals[f"chunks:{language}"] += 1
            totals["tokens"] += len(terms.split()) + len(context.split())
        self._db.executemany(
            "INSERT INTO totals (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            [(name, sign * n) for name, n in sorted(totals.items())])
        for table, key, counts in (("term_counts", "term",
                                    word_counts(terms for _, terms, _ in fields)),
                                   ("prefix_counts", "prefix",
                                    prefix_counts(terms for _, terms, _ in fields))):
            self._db.executemany(
                f"INSERT INTO {table} ({key}, chunks) VALUES (?, ?) "
                f"ON CONFLICT ({key}) DO UPDATE SET chunks = chunks + excluded.chunks",
                [(k, sign * n) for k, n in sorted(counts.items())])
            if sign < 0:
                self._db.execute(f"DELETE FROM {table} WHERE chunks <= 0")

    def _totals(self) -> tuple[int, int]:
        """The index's size: chunks and tokens."""
        totals = dict(self._db.execute(
            "SELECT name, value FROM totals WHERE name IN ('chunks', 'tokens')").fetchall())
        return int(totals.get("chunks", 0)), int(totals.get("tokens", 0))

    def _term_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """``TermCounts`` from the terms' and the prefixes' counts."""
        prefix = [t for t in terms if is_prefix_term(t)]
        counts = self._counts("prefix_counts", "prefix", prefix)
        counts.update(self._counts("term_counts", "term",
                                   [t for t in terms if not is_prefix_term(t)]))
        return counts

    def _counts(self, table: str, key: str, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        return dict(self._db.execute(
            f"SELECT {key}, chunks FROM {table} WHERE {key} IN ({','.join('?' * len(keys))})",
            list(keys)).fetchall())

    def _scope_rows(self, asins: Sequence[str]) -> list[ScopedRow]:
        """Every chunk of the given products, in index order."""
        rows = self._db.execute(
            f"SELECT c.chunk_id, c.asin, c.marketplace, f.terms, f.context FROM chunks c "
            f"JOIN chunks_fts f ON f.rowid = c.rowid WHERE c.asin IN "
            f"({','.join('?' * len(asins))}) ORDER BY c.rowid", list(asins)).fetchall()
        return [ScopedRow(chunk_id=r[0], asin=r[1], marketplace=r[2],
                          terms=tuple(r[3].split()), context=tuple(r[4].split()))
                for r in rows]

    def page_chunk_ids(self, asin: str, marketplace: str) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT chunk_id FROM chunks WHERE asin = ? AND marketplace = ?",
                (asin, marketplace)).fetchall()
        return {r[0] for r in rows}

    def pages(self) -> set[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT asin, marketplace FROM chunks").fetchall()
        return {(r[0], r[1]) for r in rows}

    def languages(self, marketplace: str | None = None,
                  asins: Sequence[str] | None = None) -> set[str]:
        """Languages of the indexed pages in scope."""
        if not asins:
            return self._languages_of(marketplace)
        sql, params = "SELECT DISTINCT language FROM chunks WHERE 1=1", []
        if marketplace:
            # "+": find the products by their ASINs, not by reading the whole marketplace.
            sql += " AND +marketplace = ?"
            params.append(marketplace)
        if asins:
            sql += f" AND asin IN ({','.join('?' * len(asins))})"
            params += list(asins)
        with self._lock:
            return {r[0] for r in self._db.execute(sql, params).fetchall()}

    def informative_terms(self, language: str, terms: Sequence[str]) -> list[str]:
        """``terms`` (stemmed in ``language``) without those too common there to mean much."""
        with self._lock:
            kept = self._informative({language: list(terms)})
        return untagged(language, kept)

    def document_frequencies(self, language: str, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks in ``language`` use each of ``terms`` (stemmed), as written or as
        the start of a longer word: how specific a question's word is (0: no page uses it)."""
        counts: dict[str, int] = {}
        with self._lock:
            for term in dict.fromkeys(terms):
                tagged_term = f"{language}_{term}"
                row = self._db.execute(
                    "SELECT max(chunks) FROM term_counts WHERE term >= ? AND term < ?",
                    (tagged_term, tagged_term + "\uffff")).fetchone()
                counts[term] = int(row[0] or 0) if row else 0
        return counts

    def _languages_of(self, marketplace: str | None) -> set[str]:
        """Distinct languages by one index seek per language (a skip scan), not by reading
        every chunk of the marketplace."""
        scope, params = ("WHERE marketplace = ?", [marketplace]) if marketplace else ("", [])
        further = "AND" if marketplace else "WHERE"
        sql = ("WITH RECURSIVE seen(language) AS ("
               f"SELECT min(language) FROM chunks {scope} "
               f"UNION ALL SELECT (SELECT min(language) FROM chunks {scope} {further} "
               "language > seen.language) FROM seen WHERE seen.language IS NOT NULL) "
               "SELECT language FROM seen WHERE language IS NOT NULL")
        with self._lock:
            return {r[0] for r in self._db.execute(sql, params * 2).fetchall()}

    def version(self) -> int:
        """The registry's version: it counts the changes of its chunks."""
        matched = self.matched_version(REGISTRY)
        return matched or 0

    def matched_version(self, name: str) -> int | None:
        """The registry's version collection ``name`` last matched; None: never."""
        with self._lock:
            row = self._db.execute("SELECT version FROM versions WHERE name = ?",
                                   (name,)).fetchone()
        return None if row is None else int(row[0])

    def mark_matched(self, name: str, version: int) -> None:
        """Record that collection ``name`` holds exactly the registry's chunks at ``version``."""
        if name == REGISTRY:
            raise ValueError("a collection needs a name")
        with self._lock:
            self._db.execute("INSERT INTO versions (name, version) VALUES (?, ?) "
                             "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                             (name, version))

    def chunk_ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT chunk_id FROM chunks").fetchall()}

    def chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        """The registered chunks as a vector collection stores them (their lexical terms,
        which only this index uses, are left empty)."""
        found: list[Chunk] = []
        with self._lock:
            for start in range(0, len(chunk_ids), 500):
                batch = list(chunk_ids[start:start + 500])
                rows = self._db.execute(
                    f"SELECT chunk_id, asin, marketplace, language, seller_id, field, text, "
                    f"index_text FROM chunks WHERE chunk_id IN ({','.join('?' * len(batch))})",
                    batch).fetchall()
                found += [Chunk(chunk_id=r[0], asin=r[1], marketplace=r[2], language=r[3],
                                seller_id=r[4], field=r[5], text=r[6], index_text=r[7],
                                terms="", context_terms="") for r in rows]
        return found

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def add(self, chunks: Sequence[Chunk]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            added: list[tuple[str, str, str]] = []
            try:
                for c in chunks:
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO chunks (chunk_id, asin, marketplace, language, "
                        "seller_id, field, text, index_text) VALUES (?,?,?,?,?,?,?,?)",
                        (c.chunk_id, c.asin, c.marketplace, c.language, c.seller_id, c.field,
                         c.text, c.index_text))
                    if cursor.rowcount:
                        terms = tagged(c.language, c.terms)
                        context = tagged(c.language, c.context_terms)
                        self._db.execute(
                            "INSERT INTO chunks_fts (rowid, terms, context) VALUES (?, ?, ?)",
                            (cursor.lastrowid, terms, context))
                        added.append((c.language, terms, context))
                if added:
                    self._update_statistics(added, 1)
                    self._db.execute(_BUMP)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def remove(self, chunk_ids: Iterable[str]) -> None:
        ids = list(chunk_ids)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for start in range(0, len(ids), 500):
                    batch = ids[start:start + 500]
                    marks = ",".join("?" * len(batch))
                    inner = f"SELECT rowid FROM chunks WHERE chunk_id IN ({marks})"
                    removed = self._db.execute(
                        f"SELECT c.language, f.terms, f.context FROM chunks c JOIN chunks_fts f "
                        f"ON f.rowid = c.rowid WHERE c.chunk_id IN ({marks})", batch).fetchall()
                    self._update_statistics(removed, -1)
                    self._db.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({inner})", batch)
                    deleted = self._db.execute(
                        f"DELETE FROM chunks WHERE chunk_id IN ({marks})", batch).rowcount
                    if deleted:
                        self._db.execute(_BUMP)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def scope_chunk_ids(self, marketplace: str | None, asins: Sequence[str]) -> list[str]:
        """Ids of the chunks of the given products (in ``marketplace``, when given)."""
        sql = f"SELECT chunk_id FROM chunks WHERE asin IN ({','.join('?' * len(asins))})"
        params = list(asins)
        if marketplace:
            sql += " AND marketplace = ?"
            params.append(marketplace)
        with self._lock:
            return [r[0] for r in self._db.execute(sql, params).fetchall()]

    def marketplaces(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """The marketplace of each of the given chunks that is indexed."""
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(chunk_ids), 500):
                batch = list(chunk_ids[start:start + 500])
                found.update(self._db.execute(
                    f"SELECT chunk_id, marketplace FROM chunks "
                    f"WHERE chunk_id IN ({','.join('?' * len(batch))})", batch).fetchall())
        return found

    def chunk_rows(self, chunk_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Provenance of the given chunks, keyed by id."""
        marks = ",".join("?" * len(chunk_ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT chunk_id, asin, marketplace, language, seller_id, field, text "
                f"FROM chunks WHERE chunk_id IN ({marks})", list(chunk_ids)).fetchall()
        keys = ("asin", "marketplace", "language", "seller_id", "field", "text")
        return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}

    def _language_sizes(self) -> dict[str, int]:
        """Chunks per language, from the statistics (another process may have written)."""
        return {name.removeprefix("chunks:"): int(value) for name, value in self._db.execute(
            "SELECT name, value FROM totals WHERE name LIKE 'chunks:%' AND value > 0")}

    def _informative(self, terms: dict[str, list[str]]) -> list[str]:
        """Tagged query terms, without the ones too common in their language to tell much."""
        unique = query_terms(terms)
        if not unique:
            return []
        return keep_informative(unique, self._counts("term_counts", "term", unique),
                                self._language_sizes())

    def _query(self, terms: list[str], k: int, marketplace: str | None
               ) -> list[tuple[str, float]]:
        """FTS5's ranking of the whole index (of ``marketplace``) for ``terms``."""
        if not terms:
            return []
        match = " OR ".join(_match_term(t) for t in terms)
        sql = (f"SELECT c.chunk_id, bm25(chunks_fts, {FIELD_WEIGHT}, {CONTEXT_WEIGHT}) "
               "FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid "
               "WHERE chunks_fts MATCH ?")
        params: list[object] = [match]
        if marketplace:
            sql += " AND c.marketplace = ?"
            params.append(marketplace)
        sql += " ORDER BY 2 LIMIT ?"
        params.append(k)
        return [(r[0], float(r[1])) for r in self._db.execute(sql, params).fetchall()]

    def search(
        self, terms: dict[str, list[str]], *, k: int, marketplace: str | None = None,
        asins: Sequence[str] | None = None,
    ) -> list[LexicalHit]:
        """Best chunks for query ``terms`` given per language (each stemmed in its language)."""
        if k <= 0:
            raise ValueError(f"k must be > 0, got {k}")
        with self._lock:
            kept = self._informative(terms)
            if not asins:
                rows = self._query(kept, k, marketplace)
            else:
                chunks, tokens = self._totals()
                rows = rank_products(kept, self._scope_rows(asins), self._term_counts,
                                     chunks=chunks, tokens=tokens, marketplace=marketplace,
                                     k=k)
        # FTS5's bm25() is lower-is-better; negate so every leg ranks higher-is-better.
        return [LexicalHit(chunk_id=r[0], score=-float(r[1])) for r in rows]
