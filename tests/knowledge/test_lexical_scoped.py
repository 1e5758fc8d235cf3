"""A known product's question is ranked from its own chunks and the statistics kept with the
index, never by a search of the whole catalog: the same chunks, order and scores as FTS5's
query of the field column over every chunk, kept to the products; the statistics follow what
is added and removed, and an index written before they were kept counts them once."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.generate import catalog
from knowledge.chunks import Chunk, chunk_page
from knowledge.lexical import LexicalIndex
from knowledge.lexical_leg import (
    CONTEXT_WEIGHT,
    FIELD_WEIGHT,
    is_prefix_term,
    prefixes,
    rank_scoped,
)
from knowledge.lexical_postgres import PostgresLexicalIndex
from knowledge.pages import ProductPage
from knowledge.text import query_tokens

QUESTIONS = [json.loads(line) for line in
             Path(__file__).with_name("retrieval_questions.jsonl").read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def chunks(demo_pages: list[ProductPage]) -> list[Chunk]:
    """The demo catalog and generated pages about as many again: the statistics of a catalog
    larger than the products asked about."""
    pages = demo_pages + catalog(3_000, seed=11)
    return [c for p in pages for c in chunk_page(p)]


@pytest.fixture()
def lite(tmp_path: Path, chunks: list[Chunk]) -> Iterator[LexicalIndex]:
    leg = LexicalIndex(tmp_path / "lexical.sqlite3")
    for start in range(0, len(chunks), 256):
        leg.add(chunks[start:start + 256])
    # Some chunks of many pages leave again: the statistics must follow removals too.
    leg.remove([c.chunk_id for c in chunks[::29]])
    try:
        yield leg
    finally:
        leg.close()


def _searches(leg: LexicalIndex | PostgresLexicalIndex, chunks: list[Chunk]
              ) -> Iterator[tuple[dict[str, list[str]], str, list[str]]]:
    """Each labelled question on its product, and on it beside another product."""
    rng = random.Random(3)
    others = sorted({c.asin for c in chunks[-2000:]})
    for q in QUESTIONS:
        for asins in ([q["asin"]], [q["asin"], rng.choice(others)]):
            languages = leg.languages(q["marketplace"], asins) | {q["language"]}
            yield ({lang: query_tokens(q["question"], lang) for lang in sorted(languages)},
                   q["marketplace"], asins)


def _fts5_over_the_index(path: Path, terms: list[str], marketplace: str,
                         asins: list[str]) -> list[tuple[str, float]]:
    """What FTS5 itself ranks: a query of the field column over the whole index, kept to the
    products (what a product's search ran before it was scoped)."""
    match = " OR ".join(f'"{t}"*' if is_prefix_term(t) else f'"{t}"' for t in terms)
    with sqlite3.connect(path) as db:
        rows = db.execute(
            f"SELECT c.chunk_id, bm25(chunks_fts, {FIELD_WEIGHT}, {CONTEXT_WEIGHT}) FROM "
            "chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid WHERE chunks_fts MATCH ? "
            f"AND c.marketplace = ? AND c.asin IN ({','.join('?' * len(asins))}) "
            "ORDER BY 2, c.rowid LIMIT 20", [f"terms: ({match})", marketplace, *asins])
        return [(r[0], float(r[1])) for r in rows]


def test_a_prefix_term_is_every_beginning_of_four_letters_or_more() -> None:
    assert prefixes("de_lampen") == ["de_lamp", "de_lampe", "de_lampen"]
    assert prefixes("en_usb") == []  # too short to match as a prefix
    assert prefixes("en_abcd5x") == ["en_abcd"]  # a prefix term is all letters
    assert prefixes("en_ab5cdef") == []


def test_a_products_ranking_is_fts5s_over_the_whole_index(
        lite: LexicalIndex, chunks: list[Chunk], tmp_path: Path) -> None:
    """Every labelled question, on its product and on two products: the same chunks in the
    same order with the same scores as FTS5's own query (the question's terms as the leg keeps
    them: the informative ones, less those most of the products' fields share)."""
    compared = 0
    for terms, marketplace, asins in _searches(lite, chunks):
        tagged = lite._informative(terms)
        expected = _fts5_over_the_index(tmp_path / "lexical.sqlite3", tagged, marketplace, asins)
        found = _scoped(lite, tagged, marketplace, asins)
        assert [c for c, _ in found] == [c for c, _ in expected], (terms, asins)
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], rel=1e-12)
        compared += bool(expected)
    assert compared > 100


def _scoped(leg: LexicalIndex, terms: list[str], marketplace: str, asins: list[str]
            ) -> list[tuple[str, float]]:
    """The leg's scoped BM25 of exactly ``terms`` (no term dropped as common to the product)."""
    chunk_count, tokens = leg._totals()
    rows = [r for r in leg._scope_rows(asins) if r.marketplace == marketplace]
    return rank_scoped(terms, rows, leg._term_counts(terms), chunks=chunk_count,
                       tokens=tokens, k=20)


def test_a_products_search_reads_no_index_wide_match(lite: LexicalIndex,
                                                     chunks: list[Chunk]) -> None:
    """What the statement trace shows: a product's search reads the product's rows and the
    terms' counts; only a search of a whole marketplace runs an FTS5 MATCH."""
    statements: list[str] = []

    def searches_run() -> list[str]:
        # FTS5's own statements (reading a row by its id) are traced too, as "-- ...".
        return [s for s in statements if "MATCH" in s and not s.startswith("--")]

    lite._db.set_trace_callback(statements.append)
    try:
        for terms, marketplace, asins in list(_searches(lite, chunks))[:40]:
            lite.search(terms, k=20, marketplace=marketplace, asins=asins)
        assert statements and not searches_run()
        lite.search(next(_searches(lite, chunks))[0], k=20, marketplace="DE")
        assert searches_run()
    finally:
        lite._db.set_trace_callback(None)


def test_statistics_follow_added_and_removed_chunks(lite: LexicalIndex, tmp_path: Path,
                                                   chunks: list[Chunk]) -> None:
    path = tmp_path / "lexical.sqlite3"
    sample = sorted({p for c in chunks[::97] for t in c.terms.split()
                     for p in prefixes(f"{c.language}_{t}")})[:300]
    with sqlite3.connect(path) as db:
        for prefix in sample:
            expected = db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                                  (f'terms: "{prefix}"*',)).fetchone()[0]
            assert lite._term_counts([prefix]).get(prefix, 0) == expected, prefix
        db.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, chunks_fts, 'col')")
        vocabulary = dict(db.execute(
            "SELECT term, doc FROM temp.vocab WHERE col = 'terms'").fetchall())
        assert lite._counts("term_counts", "term", sorted(vocabulary)) == vocabulary
        fields = db.execute("SELECT terms, context FROM chunks_fts").fetchall()
    tokens = sum(len(terms.split()) + len(context.split()) for terms, context in fields)
    rows = len(fields)
    assert lite._totals() == (rows, tokens) == (lite.count(), tokens)
    with sqlite3.connect(path) as db:
        assert lite._language_sizes() == dict(db.execute(
            "SELECT language, count(*) FROM chunks GROUP BY language").fetchall())
    lite.remove(sorted(lite.chunk_ids()))
    assert lite._totals() == (0, 0)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM prefix_counts").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM term_counts").fetchone() == (0,)


def test_an_index_written_before_the_statistics_counts_them_once(
        lite: LexicalIndex, tmp_path: Path, chunks: list[Chunk]) -> None:
    path = tmp_path / "lexical.sqlite3"
    with sqlite3.connect(path) as db:
        kept = db.execute("SELECT prefix, chunks FROM prefix_counts ORDER BY 1").fetchall()
        words = db.execute("SELECT term, chunks FROM term_counts ORDER BY 1").fetchall()
        totals = db.execute("SELECT * FROM totals ORDER BY 1").fetchall()
        for table in ("term_counts", "prefix_counts", "totals"):
            db.execute(f"DROP TABLE {table}")
    lite.close()
    reopened = LexicalIndex(path)
    try:
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT prefix, chunks FROM prefix_counts ORDER BY 1"
                              ).fetchall() == kept
            assert db.execute("SELECT term, chunks FROM term_counts ORDER BY 1"
                              ).fetchall() == words
            assert db.execute("SELECT * FROM totals ORDER BY 1").fetchall() == totals
        terms, marketplace, asins = next(_searches(reopened, chunks))
        assert reopened.search(terms, k=5, marketplace=marketplace, asins=asins)
    finally:
        reopened.close()


def test_postgresql_keeps_the_same_statistics(lite: LexicalIndex, postgres_url: str,
                                              chunks: list[Chunk], tmp_path: Path) -> None:
    """The PostgreSQL leg counts prefixes as the FTS5 leg does, also when a database written
    before they were kept is opened, and so ranks a product's chunks alike."""
    postgres = PostgresLexicalIndex(postgres_url)
    try:
        for start in range(0, len(chunks), 256):
            postgres.add(chunks[start:start + 256])
        postgres.remove([c.chunk_id for c in chunks[::29]])
        with sqlite3.connect(tmp_path / "lexical.sqlite3") as db:
            expected = db.execute("SELECT prefix, chunks FROM prefix_counts ORDER BY 1"
                                  ).fetchall()
        counted = "SELECT prefix, chunks FROM lexical_prefixes ORDER BY 1"
        assert postgres._rows(counted) == expected
        sized = "SELECT * FROM lexical_sizes ORDER BY 1, 2"
        sizes = postgres._rows(sized)
        assert sizes == postgres._rows("SELECT marketplace, language, count(*), sum(length) "
                                       "FROM lexical_chunks GROUP BY 1, 2 ORDER BY 1, 2")
        with postgres._transaction() as cursor:
            cursor.execute("DROP TABLE lexical_prefixes")
            cursor.execute("DROP TABLE lexical_sizes")
    finally:
        postgres.close()
    reopened = PostgresLexicalIndex(postgres_url)
    try:
        assert reopened._rows(counted) == expected
        assert reopened._rows(sized) == sizes
        for terms, marketplace, asins in _searches(reopened, chunks):
            found = reopened.search(terms, k=20, marketplace=marketplace, asins=asins)
            assert found == lite.search(terms, k=20, marketplace=marketplace, asins=asins)
    finally:
        reopened.close()
