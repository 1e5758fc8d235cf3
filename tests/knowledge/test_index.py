"""The index with the real model, real Chroma and its real lexical leg: SQLite FTS5, and
PostgreSQL when the store is there (each test runs on both)."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.embeddings import Embeddings

from base.settings import DEFAULT_EMBEDDING_MODEL, Settings
from knowledge.e5 import E5Embeddings
from knowledge.embeddings import MINILM_MODEL
from knowledge.index import KnowledgeIndex, reciprocal_rank_fusion
from knowledge.lexical_postgres import PostgresLexicalIndex
from knowledge.pages import ProductPage

pytestmark = [pytest.mark.slow, pytest.mark.on_every_database]


def page(asin: str, marketplace: str = "DE", **changes: object) -> ProductPage:
    base: dict[str, object] = {
        "asin": asin, "marketplace": marketplace, "language": "de", "seller_id": "S1",
        "title": f"Lichtwerk Lampe {asin}",
        "bullet_points": ["Warmweißes Licht mit 2700 K.", "Dimmbar in drei Stufen."],
        "description": "Aus Aluminium gefertigt.\n\nMit 1,5 m Kabel und EU-Stecker.",
        "attributes": {"item_weight": "320 g", "model_number": f"LW-{asin[-4:]}"},
        "price": {"amount": 24.99, "currency": "EUR"}}
    return ProductPage.model_validate({**base, **changes})


def both_legs(index: KnowledgeIndex) -> set[str]:
    dense = index.dense.ids()
    lexical = {cid for a, m in index.lexical.pages() for cid in index.lexical.page_chunk_ids(a, m)}
    assert dense == lexical, "the two legs must hold the same chunks"
    return dense


def test_reingesting_unchanged_pages_embeds_nothing(index: KnowledgeIndex) -> None:
    pages = [page("B0TEST0001"), page("B0TEST0002")]
    calls: list[tuple[int, int]] = []
    first = index.sync(pages, progress=lambda done, total: calls.append((done, total)))
    assert (first.added, first.unchanged, first.removed) == (14, 0, 0)
    assert calls == [(0, 14), (14, 14)]  # before the first batch, then after each (one here)
    calls.clear()
    second = index.sync(pages, progress=lambda done, total: calls.append((done, total)))
    assert (second.added, second.unchanged, second.removed) == (0, 14, 0)
    assert calls == []  # nothing to embed: no progress to show
    assert len(both_legs(index)) == 14


def test_changing_one_bullet_reembeds_one_chunk(index: KnowledgeIndex) -> None:
    index.sync([page("B0TEST0001")])
    before = both_legs(index)
    report = index.sync([page("B0TEST0001", bullet_points=["Warmweißes Licht mit 2700 K.",
                                                            "Dimmbar in fünf Stufen."])])
    assert (report.added, report.unchanged, report.removed) == (1, 6, 1)
    after = both_legs(index)
    assert len(after - before) == 1 and len(before - after) == 1
    hits = index.search("Stufen", asins=["B0TEST0001"], k=1)
    assert hits[0].text == "Dimmbar in fünf Stufen."


def test_deleting_and_pruning_pages_removes_their_chunks(index: KnowledgeIndex) -> None:
    index.sync([page("B0TEST0001"), page("B0TEST0002"), page("B0TEST0003")])
    assert index.delete_page("B0TEST0001", "DE") == 7
    assert len(both_legs(index)) == 14
    report = index.sync([page("B0TEST0002")], prune=True)
    assert (report.pages_removed, report.removed) == (1, 7)
    assert index.lexical.pages() == {("B0TEST0002", "DE")}
    assert len(both_legs(index)) == 7


def test_exact_model_number_is_found_by_the_lexical_leg(index: KnowledgeIndex) -> None:
    index.sync([page(f"B0TEST{n:04d}") for n in range(1, 9)])
    hits = index.search("Passt das LW-0005 Netzteil?", marketplace="DE", k=3)
    assert hits[0].asin == "B0TEST0005" and hits[0].field == "attributes.model_number"
    assert hits[0].lexical_rank == 1


def test_filters_by_marketplace_and_asin(index: KnowledgeIndex) -> None:
    index.sync([page("B0TEST0001", "DE"), page("B0TEST0002", "ES", language="es"),
                page("B0TEST0003", "DE")])
    assert {h.marketplace for h in index.search("Licht Kabel", marketplace="ES", k=10)} == {"ES"}
    hits = index.search("Licht Kabel", marketplace="DE", asins=["B0TEST0003"], k=10)
    assert hits and {h.asin for h in hits} == {"B0TEST0003"}
    assert index.search("Licht", asins=["B0NOTTHERE"], k=3) == []


def test_evidence_carries_provenance_for_citations(index: KnowledgeIndex) -> None:
    index.sync([page("B0TEST0001")])
    [hit] = index.search("Wie schwer ist die Lampe?", asins=["B0TEST0001"], k=1)
    assert (hit.asin, hit.marketplace, hit.language, hit.field, hit.text) == (
        "B0TEST0001", "DE", "de", "attributes.item_weight", "320 g")


def test_bad_arguments_are_refused(index: KnowledgeIndex) -> None:
    with pytest.raises(ValueError, match="k must be > 0"):
        index.search("x", k=0)
    assert index.search("   ") == []


def test_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "a"]])
    assert max(fused, key=fused.__getitem__) == "b"
    weighted = reciprocal_rank_fusion([["a"], ["b"]], weights=(0.5, 1.0))
    assert weighted["b"] > weighted["a"]


def test_a_prepared_query_is_searched_with_its_vector_once(
        demo_index: KnowledgeIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    query = "Wie schwer ist die Schreibtischlampe?"
    scope = {"marketplace": "DE", "asins": ["B0DE4LT7K2"]}
    expected = demo_index.search(query, **scope)  # type: ignore[arg-type]
    embedded: list[str] = []
    embeddings = type(demo_index.dense.embeddings)
    embed_query = embeddings.embed_query

    def counted(self: object, text: str) -> list[float]:
        embedded.append(text)
        return embed_query(self, text)  # type: ignore[arg-type]

    monkeypatch.setattr(embeddings, "embed_query", counted)
    demo_index.prepare(query)
    # The vector may still be on its way (a thread of the index embeds it): the search waits.
    assert demo_index.search(query, **scope) == expected  # type: ignore[arg-type]
    assert embedded == [query]  # embedded once: the search used the prepared vector
    assert demo_index.search(query, **scope) == expected  # type: ignore[arg-type]
    assert embedded == [query, query]  # once: a later search embeds again


def test_a_message_is_embedded_ahead_only_where_that_costs_its_turn_nothing(
        tmp_path: Path, minilm_embeddings: Embeddings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The e5 engine here on one thread embeds on the other core while the turn stores the
    message (its C call leaves the interpreter to the turn): the message is embedded ahead.
    Spread over every core, it would wait for the core the turn uses; a sentence-transformers
    model here runs its forward pass in Python, under the turn's interpreter: neither is."""
    # The engine writes its thread count to the environment; put back after the test.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    models: dict[str, Embeddings] = {"e5, one thread": E5Embeddings(threads=1),
                                     "e5, two threads": E5Embeddings(threads=2),
                                     "sentence-transformers": minilm_embeddings}
    ahead = {}
    question = "Wie schwer ist die Schreibtischlampe?"
    for name, model in models.items():
        index = KnowledgeIndex.open(Settings(data_dir=tmp_path / name.replace(" ", "-"),
                                             _env_file=None), embeddings=model)  # type: ignore[call-arg]
        try:
            index.prepare(question, if_idle=True)
            ahead[name] = question in index._prepared
            if ahead[name]:  # the vector embedded ahead is the model's own
                assert index.query_vector(question) == pytest.approx(
                    model.embed_query(question), abs=1e-6)
        finally:
            index.close()
    assert ahead == {"e5, one thread": True, "e5, two threads": False,
                     "sentence-transformers": False}


def test_each_model_has_its_own_collection_filled_when_the_data_dir_switches_models(
        tmp_path: Path, database_url: str, embeddings: Embeddings,
        minilm_embeddings: Embeddings) -> None:
    """The lexical registry is shared by every model's collection: a model opened on a data
    dir another model indexed must still embed every page, and on coming back catch up with
    what changed meanwhile (added and removed chunks), even for pages not synced then."""
    def opened(model: str, vectors: Embeddings) -> KnowledgeIndex:
        settings = Settings(data_dir=tmp_path, embedding_model=model, database_url=database_url,
                            _env_file=None)  # type: ignore[call-arg]
        return KnowledgeIndex.open(settings, embeddings=vectors)

    minilm = opened(MINILM_MODEL, minilm_embeddings)
    try:
        assert minilm.dense_languages == frozenset({"en"})
        minilm.sync([page("B0TEST0001"), page("B0TEST0002")])
        assert len(both_legs(minilm)) == 14
    finally:
        minilm.close()

    e5 = opened(DEFAULT_EMBEDDING_MODEL, embeddings)
    try:
        assert e5.dense.name != minilm.dense.name
        assert {"de", "es", "en"} <= e5.dense_languages
        assert e5.dense.ids() == set()
        # One page synced; the other, registered under MiniLM, is embedded too.
        report = e5.sync([page("B0TEST0001")])
        assert (report.added, report.unchanged, report.removed) == (14, 0, 0)
        assert len(both_legs(e5)) == 14
        assert e5.search("Wie schwer ist die Lampe?", asins=["B0TEST0002"], k=1)[0].similarity
        # Changed under e5: one bullet of the first page, the second page deleted.
        e5.sync([page("B0TEST0001", bullet_points=["Warmweißes Licht mit 2700 K.",
                                                   "Dimmbar in fünf Stufen."])])
        assert e5.delete_page("B0TEST0002", "DE") == 7
        now = both_legs(e5)
        assert e5.sync([]).added == 0  # matched: nothing more to do
    finally:
        e5.close()

    back = opened(MINILM_MODEL, minilm_embeddings)
    try:
        report = back.sync([])  # no page given: the collection still catches up
        assert (report.added, report.removed) == (1, 8)
        assert both_legs(back) == now
        hits = back.search("Stufen", asins=["B0TEST0001"], k=1)
        assert hits[0].text == "Dimmbar in fünf Stufen."
    finally:
        back.close()


def test_the_lexical_leg_is_where_the_store_is(index: KnowledgeIndex, settings: Settings) -> None:
    """On PostgreSQL every host shares the lexical leg in the database: no file is made."""
    index.sync([page("B0TEST0001")])
    on_postgres = (settings.database_url or "").startswith("postgresql")
    assert isinstance(index.lexical, PostgresLexicalIndex) == on_postgres
    assert settings.lexical_path.exists() != on_postgres
    assert index.search("Stufen", asins=["B0TEST0001"], k=1)[0].lexical_rank == 1
