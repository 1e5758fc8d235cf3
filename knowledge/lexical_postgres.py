"""The lexical leg on PostgreSQL full text search, in the store's database: several hosts
share it (as they share the records and the Chroma server), with no file copied between them.

Tokens: both legs index the tokens of ``knowledge/text.py`` (Snowball stems, the algorithms
PostgreSQL's own ``german``, ``spanish``, ``english``, ``french`` and ``italian``
configurations use, plus what those configurations lack: accents folded, codes indexed whole
and in parts, German compounds by their tails), so a question finds the same chunks on either
backend. Each chunk's language has a ``tsvector`` column of its own, named for that language's
configuration and with its own GIN index; languages PostgreSQL has no configuration for here
share ``document_simple``. The column is built from the tokens as they are (a ``tsvector``
literal, no parser in between): ``to_tsvector`` with a language configuration would stem
the stems again and split codes its own way, and the two backends would part. As in the FTS5
table, a term is tagged with its language (``de_lamp``), so one form of term serves both legs,
the term counts and the shared ``simple`` column; the field's words have weight A, the product
name's weight B.

Ranking: ``ts_rank`` has no inverse document frequency, so a word in every page weighed as
much as a model number; the rank here is FTS5's own BM25, computed in SQL from the
``tsvector`` positions (the same k1, b, weights and IDF), so both legs order chunks alike.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError

from knowledge.chunks import Chunk
from knowledge.lexical_leg import (
    CONTEXT_WEIGHT,
    FIELD_WEIGHT,
    K1,
    REGISTRY,
    B,
    LexicalHit,
    ScopedRow,
    idf,
    is_prefix_term,
    keep_informative,
    prefix_counts,
    query_terms,
    rank_products,
    tagged,
    untagged,
    word_counts,
)

# The languages with a column of their own: PostgreSQL's configuration of each language.
CONFIGURATIONS = {"de": "german", "es": "spanish", "en": "english", "fr": "french",
                  "it": "italian"}
OTHER_CONFIGURATION = "simple"
_COLUMNS = [f"document_{c}" for c in (*CONFIGURATIONS.values(), OTHER_CONFIGURATION)]
# A chunk has exactly one of the columns: its document, whatever its language.
_DOCUMENT = f"coalesce({', '.join(_COLUMNS)})"
# A tsvector keeps positions up to 16383 and 256 per lexeme; chunks are far shorter.
_MAX_POSITION = 16383
# Writers of every host take this lock (pg_advisory_xact_lock) before changing the leg:
# term counts and the version row are then updated in one order, never deadlocking.
_WRITE_LOCK = 0x6C657869  # "lexi"
POOL_CONNECTIONS = 20

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS lexical_chunks (
    id bigserial PRIMARY KEY,
    chunk_id text NOT NULL UNIQUE,
    asin text NOT NULL, marketplace text NOT NULL, language text NOT NULL,
    seller_id text NOT NULL, field text NOT NULL, text text NOT NULL, index_text text NOT NULL,
    -- The tagged tokens of the field and of the product's name, as the FTS5 table holds them.
    terms text NOT NULL, context text NOT NULL,
    -- How many tokens both hold: BM25's document length.
    length integer NOT NULL,
    {", ".join(f"{c} tsvector" for c in _COLUMNS)},
    CHECK (num_nonnulls({", ".join(_COLUMNS)}) = 1)
);
CREATE INDEX IF NOT EXISTS lexical_chunks_page ON lexical_chunks (marketplace, asin);
CREATE INDEX IF NOT EXISTS lexical_chunks_asin ON lexical_chunks (asin);
CREATE INDEX IF NOT EXISTS lexical_chunks_marketplace_language
    ON lexical_chunks (marketplace, language);
{"".join(f"CREATE INDEX IF NOT EXISTS lexical_chunks_{c} ON lexical_chunks USING gin ({c});"
         for c in _COLUMNS)}
-- How many chunks hold each tagged term in their field (not the product's name): a word in
-- many product titles is not a common word of the field text. Kept on add and remove, as the
-- FTS5 vocabulary is: ts_stat would read every document on each question. "C": terms compare
-- byte by byte, so a prefix is a range of the primary key.
CREATE TABLE IF NOT EXISTS lexical_terms (
    term text COLLATE "C" PRIMARY KEY, chunks integer NOT NULL);
-- How many chunks hold a word beginning with each prefix term in their field: with the terms'
-- counts, what a known product's question is ranked with (``lexical_leg.rank_products``)
-- instead of a search of every chunk.
CREATE TABLE IF NOT EXISTS lexical_prefixes (
    prefix text COLLATE "C" PRIMARY KEY, chunks integer NOT NULL);
-- The chunks and their tokens per marketplace and language: BM25's sizes and the common-term
-- rule's, read after each change without counting every chunk.
CREATE TABLE IF NOT EXISTS lexical_sizes (
    marketplace text NOT NULL, language text NOT NULL, chunks bigint NOT NULL,
    tokens bigint NOT NULL, PRIMARY KEY (marketplace, language));
-- The registry's version ('') and the version each vector collection last matched.
CREATE TABLE IF NOT EXISTS lexical_versions (name text PRIMARY KEY, version bigint NOT NULL);
"""
_BUMP = ("INSERT INTO lexical_versions (name, version) VALUES ('', 1) "
         "ON CONFLICT (name) DO UPDATE SET version = lexical_versions.version + 1")
_ROW = ("chunk_id, asin, marketplace, language, seller_id, field, text, index_text")


def postgres_url(url: str | None) -> str | None:
    """``url`` for this leg's driver (psycopg 3, as the store's) when it names a PostgreSQL
    database, else None."""
    if not url:
        return None
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "postgresql":
        return None
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def column(language: str) -> str:
    """The ``tsvector`` column of a chunk in ``language``."""
    return f"document_{CONFIGURATIONS.get(language, OTHER_CONFIGURATION)}"


def _lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def document(terms: str, context: str) -> str:
    """The ``tsvector`` literal of a chunk's tagged tokens: the field's at weight A, the
    product name's after them at weight B."""
    positions: dict[str, list[str]] = {}
    words = [(t, "A") for t in terms.split()] + [(t, "B") for t in context.split()]
    for position, (term, weight) in enumerate(words, start=1):
        held = positions.setdefault(term, [])
        if len(held) < 256:
            held.append(f"{min(position, _MAX_POSITION)}{weight}")
    return " ".join(f"{_lexeme(t)}:{','.join(p)}" for t, p in positions.items())


def _operand(term: str) -> str:
    return f"{_lexeme(term)}:*" if is_prefix_term(term) else _lexeme(term)


@dataclass(frozen=True, slots=True)
class _Stats:
    """What BM25 and the common-term rule need of the whole index, read once per version."""

    version: int
    chunks: int
    tokens: int
    sizes: dict[str, int]  # chunks per language
    languages: dict[str, set[str]]  # per marketplace


class PostgresLexicalIndex:
    """The ``LexicalLeg`` on PostgreSQL, in the database at ``url`` (its ``lexical_`` tables
    are made when missing)."""

    def __init__(self, url: str) -> None:
        driver_url = postgres_url(url)
        if driver_url is None:
            raise ValueError(f"not a PostgreSQL URL: {make_url(url).render_as_string()}")
        # hide_parameters: a failed statement's error never carries a customer's words.
        # A host's server searches from many threads at once; a pool, not one locked
        # connection, lets them. A search holds one connection only while its statements run,
        # so a few suffice: up to POOL_CONNECTIONS per process (README, Deploying).
        self._engine: Engine = create_engine(driver_url, pool_pre_ping=True,
                                             hide_parameters=True, pool_size=4,
                                             max_overflow=POOL_CONNECTIONS - 4)
        self._stats: _Stats | None = None
        self._stats_lock = threading.Lock()
        # Under the write lock: two hosts starting at once would race on CREATE IF NOT EXISTS.
        with self._transaction(write=True) as cursor:
            # Tables a database written before they were kept lacks: counted once, here.
            cursor.execute("SELECT to_regclass('lexical_prefixes') IS NULL, "
                           "to_regclass('lexical_sizes') IS NULL")
            prefixes_missing, sizes_missing = cursor.fetchone()
            cursor.execute(_SCHEMA)
            if prefixes_missing:
                self._count_prefixes(cursor)
            if sizes_missing:
                cursor.execute("INSERT INTO lexical_sizes SELECT marketplace, language, "
                               "count(*), sum(length) FROM lexical_chunks "
                               "GROUP BY marketplace, language")

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Any]:
        """A cursor in a transaction, committed when the block ends (rolled back on error);
        ``write``: after the leg's write lock."""
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            if write:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            yield cursor
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()

    def _rows(self, sql: str, params: Sequence[object] = (),
              cursor: Any = None) -> list[tuple[Any, ...]]:
        """The rows of one statement: in ``cursor``'s transaction, else in one of its own."""
        if cursor is not None:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        with self._transaction() as own:
            own.execute(sql, params)
            return list(own.fetchall())

    # --- the registry ---------------------------------------------------------------------

    def page_chunk_ids(self, asin: str, marketplace: str) -> set[str]:
        return {r[0] for r in self._rows(
            "SELECT chunk_id FROM lexical_chunks WHERE asin = %s AND marketplace = %s",
            (asin, marketplace))}

    def pages(self) -> set[tuple[str, str]]:
        return {(r[0], r[1]) for r in self._rows(
            "SELECT DISTINCT asin, marketplace FROM lexical_chunks")}

    def languages(self, marketplace: str | None = None,
                  asins: Sequence[str] | None = None) -> set[str]:
        """Languages of the indexed pages in scope."""
        if not asins:
            by_marketplace = self._read_stats().languages
            if marketplace:
                return set(by_marketplace.get(marketplace, set()))
            return set().union(*by_marketplace.values())
        sql = "SELECT DISTINCT language FROM lexical_chunks WHERE asin = ANY(%s)"
        params: list[object] = [list(asins)]
        if marketplace:
            sql += " AND marketplace = %s"
            params.append(marketplace)
        return {r[0] for r in self._rows(sql, params)}

    def version(self) -> int:
        """The registry's version: it counts the changes of its chunks."""
        return self.matched_version(REGISTRY) or 0

    def matched_version(self, name: str) -> int | None:
        """The registry's version collection ``name`` last matched; None: never."""
        rows = self._rows("SELECT version FROM lexical_versions WHERE name = %s", (name,))
        return int(rows[0][0]) if rows else None

    def mark_matched(self, name: str, version: int) -> None:
        """Record that collection ``name`` holds exactly the registry's chunks at ``version``."""
        if name == REGISTRY:
            raise ValueError("a collection needs a name")
        with self._transaction() as cursor:
            cursor.execute("INSERT INTO lexical_versions (name, version) VALUES (%s, %s) "
                           "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
                           (name, version))

    def chunk_ids(self) -> set[str]:
        return {r[0] for r in self._rows("SELECT chunk_id FROM lexical_chunks")}

    def chunks(self, chunk_ids: Sequence[str]) -> list[Chunk]:
        """The registered chunks as a vector collection stores them (their lexical terms,
        which only this index uses, are left empty)."""
        rows = self._rows(f"SELECT {_ROW} FROM lexical_chunks WHERE chunk_id = ANY(%s)",
                          (list(chunk_ids),))
        return [Chunk(chunk_id=r[0], asin=r[1], marketplace=r[2], language=r[3],
                      seller_id=r[4], field=r[5], text=r[6], index_text=r[7], terms="",
                      context_terms="") for r in rows]

    def count(self) -> int:
        return int(self._rows("SELECT count(*) FROM lexical_chunks")[0][0])

    def _count_prefixes(self, cursor: Any) -> None:
        """Count the prefix terms of every registered chunk (under the write lock)."""
        last = 0
        while True:
            cursor.execute("SELECT id, terms FROM lexical_chunks WHERE id > %s ORDER BY id "
                           "LIMIT 10000", (last,))
            rows = cursor.fetchall()
            if not rows:
                return
            last = rows[-1][0]
            self._count(cursor, "lexical_prefixes", "prefix",
                        prefix_counts(r[1] for r in rows), 1)

    def add(self, chunks: Sequence[Chunk]) -> None:
        fields: list[str] = []
        sizes: Counter[tuple[str, str, str]] = Counter()
        with self._transaction(write=True) as cursor:
            for c in chunks:
                terms, context = tagged(c.language, c.terms), tagged(c.language, c.context_terms)
                length = len(terms.split()) + len(context.split())
                cursor.execute(
                    f"INSERT INTO lexical_chunks ({_ROW}, terms, context, length, "
                    f"{column(c.language)}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s::tsvector) ON CONFLICT (chunk_id) DO NOTHING RETURNING id",
                    (c.chunk_id, c.asin, c.marketplace, c.language, c.seller_id, c.field,
                     c.text, c.index_text, terms, context, length, document(terms, context)))
                if cursor.fetchone() is not None:
                    fields.append(terms)
                    sizes[(c.marketplace, c.language, "chunks")] += 1
                    sizes[(c.marketplace, c.language, "tokens")] += length
            self._count(cursor, "lexical_terms", "term", word_counts(fields), 1)
            self._count(cursor, "lexical_prefixes", "prefix", prefix_counts(fields), 1)
            self._count_sizes(cursor, sizes, 1)
            if fields:
                cursor.execute(_BUMP)

    def remove(self, chunk_ids: Iterable[str]) -> None:
        ids = list(chunk_ids)
        if not ids:
            return
        with self._transaction(write=True) as cursor:
            cursor.execute("DELETE FROM lexical_chunks WHERE chunk_id = ANY(%s) "
                           "RETURNING terms, marketplace, language, length", (ids,))
            sizes: Counter[tuple[str, str, str]] = Counter()
            deleted = cursor.fetchall()
            for _, marketplace, language, length in deleted:
                sizes[(marketplace, language, "chunks")] += 1
                sizes[(marketplace, language, "tokens")] += length
            fields = [terms for terms, *_ in deleted]
            self._count(cursor, "lexical_terms", "term", word_counts(fields), -1)
            self._count(cursor, "lexical_prefixes", "prefix", prefix_counts(fields), -1)
            self._count_sizes(cursor, sizes, -1)
            if deleted:
                cursor.execute(_BUMP)

    @staticmethod
    def _count(cursor: Any, table: str, key: str, counts: Counter[str], sign: int) -> None:
        """Add (1) or take (-1) ``counts`` to the chunk counts of ``table``."""
        if not counts:
            return
        keys = sorted(counts)
        cursor.execute(
            f"INSERT INTO {table} ({key}, chunks) "
            "SELECT * FROM unnest(%s::text[], %s::integer[]) ORDER BY 1 "
            f"ON CONFLICT ({key}) DO UPDATE SET chunks = {table}.chunks + excluded.chunks",
            (keys, [sign * counts[k] for k in keys]))
        if sign < 0:
            cursor.execute(f"DELETE FROM {table} WHERE {key} = ANY(%s) AND chunks <= 0",
                           (keys,))

    @staticmethod
    def _count_sizes(cursor: Any, sizes: Counter[tuple[str, str, str]], sign: int) -> None:
        """Add (1) or take (-1) chunks and tokens per marketplace and language."""
        pairs = sorted({(m, lang) for m, lang, _ in sizes})
        if not pairs:
            return
        cursor.execute(
            "INSERT INTO lexical_sizes SELECT * FROM unnest(%s::text[], %s::text[], "
            "%s::bigint[], %s::bigint[]) ORDER BY 1, 2 ON CONFLICT (marketplace, language) DO "
            "UPDATE SET chunks = lexical_sizes.chunks + excluded.chunks, "
            "tokens = lexical_sizes.tokens + excluded.tokens",
            ([m for m, _ in pairs], [lang for _, lang in pairs],
             [sign * sizes[(m, lang, "chunks")] for m, lang in pairs],
             [sign * sizes[(m, lang, "tokens")] for m, lang in pairs]))
        if sign < 0:
            cursor.execute("DELETE FROM lexical_sizes WHERE chunks <= 0")

    def scope_chunk_ids(self, marketplace: str | None, asins: Sequence[str]) -> list[str]:
        """Ids of the chunks of the given products (in ``marketplace``, when given)."""
        sql = "SELECT chunk_id FROM lexical_chunks WHERE asin = ANY(%s)"
        params: list[object] = [list(asins)]
        if marketplace:
            sql += " AND marketplace = %s"
            params.append(marketplace)
        return [r[0] for r in self._rows(sql + " ORDER BY id", params)]

    def marketplaces(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """The marketplace of each of the given chunks that is indexed."""
        return {r[0]: r[1] for r in self._rows(
            "SELECT chunk_id, marketplace FROM lexical_chunks WHERE chunk_id = ANY(%s)",
            (list(chunk_ids),))}

    def chunk_rows(self, chunk_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Provenance of the given chunks, keyed by id."""
        rows = self._rows(
            "SELECT chunk_id, asin, marketplace, language, seller_id, field, text "
            "FROM lexical_chunks WHERE chunk_id = ANY(%s)", (list(chunk_ids),))
        keys = ("asin", "marketplace", "language", "seller_id", "field", "text")
        return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}

    # --- term statistics ------------------------------------------------------------------

    def _read_stats(self, cursor: Any = None) -> _Stats:
        """The index's sizes, read again only when its version moved (another host may have
        written since: the version row is read on each call, one primary-key lookup)."""
        rows = self._rows("SELECT version FROM lexical_versions WHERE name = ''", (), cursor)
        version = int(rows[0][0]) if rows else 0
        with self._stats_lock:
            if self._stats is not None and self._stats.version == version:
                return self._stats
        groups = self._rows("SELECT marketplace, language, chunks, tokens FROM lexical_sizes",
                            (), cursor)
        sizes: Counter[str] = Counter()
        languages: dict[str, set[str]] = {}
        for marketplace, language, chunks, _ in groups:
            sizes[language] += int(chunks)
            languages.setdefault(marketplace, set()).add(language)
        stats = _Stats(version=version,
                       chunks=sum(int(g[2]) for g in groups),
                       tokens=sum(int(g[3] or 0) for g in groups),
                       sizes=dict(sizes), languages=languages)
        with self._stats_lock:
            self._stats = stats
        return stats

    def informative_terms(self, language: str, terms: Sequence[str]) -> list[str]:
        """``terms`` (stemmed in ``language``) without those too common there to mean much."""
        kept = self._informative({language: list(terms)})
        return untagged(language, kept)

    def document_frequencies(self, language: str, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks in ``language`` use each of ``terms`` (stemmed), as written or as
        the start of a longer word: how specific a question's word is (0: no page uses it)."""
        counts: dict[str, int] = {}
        with self._transaction() as cursor:
            for term in dict.fromkeys(terms):
                tagged_term = f"{language}_{term}"
                cursor.execute("SELECT max(chunks) FROM lexical_terms "
                               "WHERE term >= %s AND term < %s",
                               (tagged_term, tagged_term + "\uffff"))
                row = cursor.fetchone()
                counts[term] = int(row[0] or 0) if row else 0
        return counts

    def _informative(self, terms: dict[str, list[str]], cursor: Any = None) -> list[str]:
        """Tagged query terms, without the ones too common in their language to tell much."""
        unique = query_terms(terms)
        if not unique:
            return []
        df = {r[0]: int(r[1]) for r in self._rows(
            "SELECT term, chunks FROM lexical_terms WHERE term = ANY(%s)", (unique,), cursor)}
        return keep_informative(unique, df, self._read_stats(cursor).sizes)

    def _term_counts(self, cursor: Any, terms: Sequence[str]) -> dict[str, int]:
        """``TermCounts`` from the terms' and the prefixes' counts."""
        prefix = [t for t in terms if is_prefix_term(t)]
        whole = [t for t in terms if not is_prefix_term(t)]
        counts = {r[0]: int(r[1]) for r in self._rows(
            "SELECT prefix, chunks FROM lexical_prefixes WHERE prefix = ANY(%s)",
            (prefix,), cursor)} if prefix else {}
        if whole:
            counts.update({r[0]: int(r[1]) for r in self._rows(
                "SELECT term, chunks FROM lexical_terms WHERE term = ANY(%s)", (whole,),
                cursor)})
        return counts

    def _scope_rows(self, cursor: Any, asins: Sequence[str]) -> list[ScopedRow]:
        """Every chunk of the given products, in index order."""
        return [ScopedRow(chunk_id=r[0], asin=r[1], marketplace=r[2], terms=tuple(r[3].split()),
                          context=tuple(r[4].split()))
                for r in self._rows("SELECT chunk_id, asin, marketplace, terms, context "
                                    "FROM lexical_chunks WHERE asin = ANY(%s) ORDER BY id",
                                    (list(asins),), cursor)]

    # --- ranking --------------------------------------------------------------------------

    def _query(self, cursor: Any, terms: list[str], k: int, marketplace: str | None
               ) -> list[tuple[str, float]]:
        """FTS5's ``bm25()`` (lower is better) of the chunks (of ``marketplace``) holding any
        of ``terms``, over the field's words and the product's name."""
        if not terms:
            return []
        by_column: dict[str, list[str]] = {}
        for term in terms:
            by_column.setdefault(column(term.split("_", 1)[0]), []).append(term)
        queries = {c: " | ".join(_operand(t) for t in ts)
                   for c, ts in by_column.items()}
        match = " OR ".join(f"{c} @@ %s::tsquery" for c in queries)
        stats = self._read_stats(cursor)
        if not stats.chunks:
            return []
        # How many chunks of the whole index each term matches (FTS5's IDF counts the
        # table, not the scope).
        hits_sql = ", ".join(f"count(*) FILTER (WHERE {column(t.split('_', 1)[0])} "
                             "@@ %s::tsquery)" for t in terms)
        # The planner misjudges how many chunks a tsquery matches and reads the whole
        # table; the GIN indexes find them in a fraction of the time.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"SELECT {hits_sql} FROM lexical_chunks WHERE {match}",
                       [_operand(t) for t in terms] + list(queries.values()))
        hits = cursor.fetchone()
        cursor.execute("SET LOCAL enable_seqscan = on")
        weights = [idf(stats.chunks, int(n)) for n in hits]
        sql = (
            "WITH p AS (SELECT * FROM unnest(%s::text[], %s::boolean[], %s::float8[]) "
            "AS t(lexeme, prefix, idf)) "
            "SELECT c.chunk_id, -coalesce((SELECT sum(m.idf * m.freq * %s / (m.freq + %s * "
            "(1 - %s + %s * c.length / %s))) FROM (SELECT p.idf, sum(CASE u.weight WHEN 'A' "
            "THEN %s ELSE %s END) AS freq "
            # The chunk's lexemes are read once, and only those a term matches are
            # paired with the terms.
            f"FROM (SELECT u.lexeme, w.weight FROM unnest("
            f"{_DOCUMENT.replace('document_', 'c.document_')}) "
            "AS u(lexeme, positions, weights) CROSS JOIN unnest(u.weights) AS w(weight) "
            "WHERE u.lexeme = ANY(%s) OR u.lexeme ^@ ANY(%s)) AS u "
            "JOIN p ON (u.lexeme = p.lexeme OR (p.prefix AND starts_with(u.lexeme, p.lexeme))) "
            "GROUP BY p.lexeme, p.idf) m), 0) AS rank "
            f"FROM lexical_chunks c WHERE ({match.replace('document_', 'c.document_')})")
        params: list[object] = [
            terms, [is_prefix_term(t) for t in terms], weights, K1 + 1.0, K1, B, B,
            stats.tokens / stats.chunks, FIELD_WEIGHT, CONTEXT_WEIGHT, terms,
            [t for t in terms if is_prefix_term(t)], *queries.values()]
        if marketplace:
            sql += " AND c.marketplace = %s"
            params.append(marketplace)
        sql += " ORDER BY rank, c.id LIMIT %s"
        params.append(k)
        cursor.execute(sql, params)
        return [(r[0], float(r[1])) for r in cursor.fetchall()]

    def search(
        self, terms: dict[str, list[str]], *, k: int, marketplace: str | None = None,
        asins: Sequence[str] | None = None,
    ) -> list[LexicalHit]:
        """Best chunks for query ``terms`` given per language (each stemmed in its language)."""
        if k <= 0:
            raise ValueError(f"k must be > 0, got {k}")
        # One transaction, one connection of the pool: a search is several statements.
        with self._transaction() as cursor:
            kept = self._informative(terms, cursor)
            if not asins:
                rows = self._query(cursor, kept, k, marketplace)
            else:
                stats = self._read_stats(cursor)
                rows = rank_products(
                    kept, self._scope_rows(cursor, asins),
                    lambda ts: self._term_counts(cursor, ts), chunks=stats.chunks,
                    tokens=stats.tokens, marketplace=marketplace, k=k)
        return [LexicalHit(chunk_id=r[0], score=-float(r[1])) for r in rows]

