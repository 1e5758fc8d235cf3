"""The lexical leg on PostgreSQL (a real throwaway cluster) against the SQLite FTS5 leg: the
same tokens, the same rules and the same BM25, so both rank the retrieval questions' chunks
alike; and two hosts on one database share the index with no file between them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from base.settings import Settings
from knowledge.chunks import Chunk, chunk_page
from knowledge.index import KnowledgeIndex
from knowledge.lexical import LexicalIndex
from knowledge.lexical_postgres import PostgresLexicalIndex, document, postgres_url
from knowledge.pages import ProductPage
from knowledge.text import query_tokens
from tests.knowledge.test_index import page
from tests.support.chroma import running_chroma

QUESTIONS = Path(__file__).with_name("retrieval_questions.jsonl")


@pytest.fixture(scope="module")
def demo_chunks(demo_pages: list[ProductPage]) -> list[Chunk]:
    return [c for p in demo_pages for c in chunk_page(p)]


@pytest.fixture()
def legs(tmp_path: Path, postgres_url: str,
         demo_chunks: list[Chunk]) -> Iterator[tuple[LexicalIndex, PostgresLexicalIndex]]:
    """The demo catalog's chunks in both legs, added in the same batches as a sync adds them."""
    lite, postgres = LexicalIndex(tmp_path / "lexical.sqlite3"), PostgresLexicalIndex(postgres_url)
    try:
        for start in range(0, len(demo_chunks), 256):
            lite.add(demo_chunks[start:start + 256])
            postgres.add(demo_chunks[start:start + 256])
        yield lite, postgres
    finally:
        lite.close()
        postgres.close()


def test_only_a_postgresql_url_selects_the_postgresql_leg() -> None:
    assert postgres_url(None) is None
    assert postgres_url("sqlite:///var/csba.sqlite3") is None
    assert postgres_url("not a url") is None
    # Whatever driver the store's URL names, this leg speaks psycopg 3.
    assert postgres_url("postgresql://u:secret@db:5432/csba") == \
        "postgresql+psycopg://u:secret@db:5432/csba"
    assert postgres_url("postgresql+psycopg://u@db/csba") == "postgresql+psycopg://u@db/csba"


def test_a_document_holds_the_tokens_as_they_are() -> None:
    # The field's words weigh A, the product's name B, in order; a quote is escaped.
    assert document("de_lamp de_dimm de_lamp", "de_o'neil") == \
        "'de_lamp':1A,3A 'de_dimm':2A 'de_o''neil':4B"


def test_both_legs_rank_the_retrieval_questions_alike(
        legs: tuple[LexicalIndex, PostgresLexicalIndex]) -> None:
    """Measured: for all 74 questions, within the ordered product and across the marketplace
    (148 searches), the same 20 chunks in the same order with the same scores."""
    lite, postgres = legs
    assert lite.count() == postgres.count() > 1000
    searches = answered = 0
    for line in QUESTIONS.read_text("utf-8").splitlines():
        q = json.loads(line)
        for asins in ([q["asin"]], None):
            languages = lite.languages(q["marketplace"], asins) | {q["language"]}
            assert postgres.languages(q["marketplace"], asins) | {q["language"]} == languages
            terms = {lang: query_tokens(q["question"], lang) for lang in sorted(languages)}
            expected = lite.search(terms, k=20, marketplace=q["marketplace"], asins=asins)
            found = postgres.search(terms, k=20, marketplace=q["marketplace"], asins=asins)
            answered += bool(expected)
            assert [h.chunk_id for h in found] == [h.chunk_id for h in expected], (q["id"], asins)
            assert [h.score for h in found] == pytest.approx([h.score for h in expected],
                                                             rel=1e-9)
            for language, words in terms.items():
                assert postgres.informative_terms(language, words) == \
                    lite.informative_terms(language, words), q["id"]
                assert postgres.document_frequencies(language, words) == \
                    lite.document_frequencies(language, words), q["id"]
            searches += 1
    assert searches == 148 and answered > 140  # a few questions share no word with the pages


def test_term_counts_follow_added_and_removed_chunks(
        legs: tuple[LexicalIndex, PostgresLexicalIndex], demo_pages: list[ProductPage]) -> None:
    lite, postgres = legs
    words = ["lamp", "akku", "kabel", "dimmbar", "usb"]
    stems = [t for w in words for t in query_tokens(w, "de")]
    version = postgres.version()
    for leg in legs:
        removed = {c for p in demo_pages if p.marketplace == "DE" for c in
                   leg.page_chunk_ids(p.asin, p.marketplace)}
        leg.remove(sorted(removed)[: len(removed) // 2])
    assert postgres.version() == version + 1  # one change
    assert postgres.document_frequencies("de", stems) == lite.document_frequencies("de", stems)
    assert postgres.languages() == lite.languages()
    for leg in legs:
        leg.remove(sorted(leg.chunk_ids()))
    assert postgres.count() == 0 and postgres.document_frequencies("de", stems) == dict.fromkeys(
        stems, 0)
    # No count is left behind for a term, prefix or language no chunk holds any more.
    for table in ("lexical_terms", "lexical_prefixes", "lexical_sizes"):
        assert postgres._rows(f"SELECT count(*) FROM {table}") == [(0,)], table


def test_hosts_starting_at_once_make_the_tables_once(postgres_url: str) -> None:
    opened: list[PostgresLexicalIndex] = []
    errors: list[BaseException] = []

    def open_leg() -> None:
        try:
            opened.append(PostgresLexicalIndex(postgres_url))
        except BaseException as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=open_leg) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for leg in opened:
        leg.close()
    assert not errors and len(opened) == 4


@pytest.mark.slow
def test_two_hosts_on_one_database_share_the_index_with_no_file(
        tmp_path: Path, postgres_url: str, embeddings: Embeddings) -> None:
    def host(name: str) -> KnowledgeIndex:
        settings = Settings(data_dir=tmp_path / name, database_url=postgres_url,
                            chroma_url=chroma_url,  # type: ignore[arg-type]  # validated
                            _env_file=None)  # type: ignore[call-arg]
        return KnowledgeIndex.open(settings, embeddings=embeddings)

    with running_chroma(tmp_path / "chroma") as chroma_url:
        a, b = host("host-a"), host("host-b")
        try:
            a.sync([page("B0TEST0001"), page("B0TEST0002", description="Mit Akku für 8 h.")])
            # B finds what A ingested, by both legs.
            [hit] = b.search("Akku", marketplace="DE", k=1)
            assert (hit.asin, hit.lexical_rank) == ("B0TEST0002", 1) and hit.dense_rank
            # The registry is shared: B syncing the same pages embeds nothing.
            report = b.sync([page("B0TEST0001"), page("B0TEST0002",
                                                      description="Mit Akku für 8 h.")])
            assert (report.added, report.unchanged, report.removed) == (0, 13, 0)
            # What B removes, A no longer finds.
            assert b.delete_page("B0TEST0002", "DE") == 6  # one paragraph: a chunk fewer
            assert {h.asin for h in a.search("Akku", marketplace="DE", k=5)} == {"B0TEST0001"}
            assert a.lexical.pages() == {("B0TEST0001", "DE")}
        finally:
            a.close()
            b.close()
    for name in ("host-a", "host-b"):
        assert not (tmp_path / name / "lexical.sqlite3").exists()


@pytest.mark.slow
def test_a_data_dir_whose_store_moves_to_postgresql_registers_its_chunks_without_embedding(
        tmp_path: Path, postgres_url: str, embeddings: Embeddings,
        caplog: pytest.LogCaptureFixture) -> None:
    """A deployment moving its store to PostgreSQL finds the new lexical leg empty: its next
    ingest registers the pages there, and the vectors the collection holds stand."""
    pages = [page("B0TEST0001"), page("B0TEST0002")]
    before = KnowledgeIndex.open(Settings(data_dir=tmp_path, _env_file=None),  # type: ignore[call-arg]
                                 embeddings=embeddings)
    try:
        assert before.sync(pages).added == 14
    finally:
        before.close()
    moved = KnowledgeIndex.open(Settings(data_dir=tmp_path, database_url=postgres_url,
                                         _env_file=None),  # type: ignore[call-arg]
                                embeddings=embeddings)
    try:
        assert "run `csba ingest` once" in caplog.text  # the operator is told
        # Until then the products have no chunks to search.
        assert moved.search("Stufen", asins=["B0TEST0001"], k=1) == []

        def refuse(chunks: object) -> list[list[float]]:
            raise AssertionError(f"embedded again: {chunks}")

        calls: list[tuple[int, int]] = []
        report = moved.sync(pages, embed=refuse, progress=lambda *c: calls.append(c))
        assert (report.added, report.unchanged, report.removed) == (14, 0, 0)
        assert calls == []  # nothing to embed: no progress to show
        assert moved.lexical.chunk_ids() == moved.dense.ids()
        assert moved.search("Stufen", asins=["B0TEST0001"], k=1)[0].lexical_rank == 1
        assert moved.sync(pages, embed=refuse).unchanged == 14
    finally:
        moved.close()


def test_a_first_ingest_of_part_of_the_catalog_after_the_move_keeps_the_other_vectors(
        tmp_path: Path, postgres_url: str, embeddings: Embeddings) -> None:
    """The new leg's registry has never held the collection's chunks: a sync naming one page
    must not read the other pages' vectors as removed, and their own sync later embeds
    nothing."""
    pages = [page("B0TEST0001"), page("B0TEST0002")]
    before = KnowledgeIndex.open(Settings(data_dir=tmp_path, _env_file=None),  # type: ignore[call-arg]
                                 embeddings=embeddings)
    try:
        before.sync(pages)
        vectors = before.dense.ids()
    finally:
        before.close()

    def refuse(chunks: object) -> list[list[float]]:
        raise AssertionError(f"embedded again: {chunks}")

    moved = KnowledgeIndex.open(Settings(data_dir=tmp_path, database_url=postgres_url,
                                         _env_file=None),  # type: ignore[call-arg]
                                embeddings=embeddings)
    try:
        report = moved.sync(pages[:1], embed=refuse)
        assert (report.added, report.removed) == (7, 0)
        assert moved.dense.ids() == vectors  # the second page's vectors stand
        report = moved.sync(pages[1:], embed=refuse)
        assert (report.added, report.removed) == (7, 0)
        assert moved.lexical.chunk_ids() == moved.dense.ids() == vectors
        # Once in step, a page removed from the registry loses its vectors as before.
        assert moved.sync(pages[:1], prune=True).removed == 7
        assert moved.dense.ids() == moved.lexical.chunk_ids()
    finally:
        moved.close()
