"""``KnowledgeIndex`` is a ``Retriever``: every call the agent makes, made through the Protocol
against a real index (the model, Chroma, the lexical leg on SQLite FTS5 and on PostgreSQL),
answers what the legs themselves answer."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from base.settings import Settings
from knowledge.embeddings import dense_languages
from knowledge.index import (
    CANDIDATES_PER_LEG,
    OTHER_LANGUAGE_DENSE_WEIGHT,
    KnowledgeIndex,
    reciprocal_rank_fusion,
)
from knowledge.retriever import Retriever
from knowledge.text import query_tokens
from tests.knowledge.test_index import page

pytestmark = [pytest.mark.slow, pytest.mark.on_every_database]

LAMP, OTHER = "B0TEST0001", "B0TEST0002"
QUESTION = "Wie schwer ist die Lampe?"


@pytest.fixture()
def retriever(index: KnowledgeIndex) -> Retriever:
    index.sync([page(LAMP), page(OTHER, description="Aus Messing.\n\nMit Akku für 8 Stunden.")])
    return index


def test_the_model_and_its_languages_are_the_dense_legs(
        retriever: Retriever, index: KnowledgeIndex, settings: Settings) -> None:
    assert retriever.model_name == index.dense.model_name == settings.embedding_model
    assert retriever.dense_languages == dense_languages(settings)


def test_a_query_vector_is_the_models_embedded_once_until_forgotten(
        retriever: Retriever, index: KnowledgeIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    model = index.dense.embeddings
    expected = np.asarray(model.embed_query(QUESTION))
    embedded: list[str] = []
    embed_query = type(model).embed_query

    def counted(self: Embeddings, text: str) -> list[float]:
        embedded.append(text)
        return embed_query(self, text)

    monkeypatch.setattr(type(model), "embed_query", counted)
    retriever.prepare(QUESTION)
    first = retriever.query_vector(QUESTION)
    np.testing.assert_allclose(first, expected, atol=1e-6)
    assert retriever.query_vector(QUESTION) == first
    assert embedded == [QUESTION]  # kept: the turn's later reads share it
    retriever.forget(QUESTION)
    np.testing.assert_allclose(retriever.query_vector(QUESTION), expected, atol=1e-6)
    assert embedded == [QUESTION, QUESTION]
    retriever.forget(QUESTION)


def test_similarities_are_the_dense_legs_cosines_over_the_products(
        retriever: Retriever, index: KnowledgeIndex) -> None:
    scope = index.lexical.scope_chunk_ids("DE", [LAMP])
    hits = index.dense.among(index.dense.embeddings.embed_query(QUESTION), scope, k=len(scope))
    assert hits
    expected = {h.chunk_id: 1.0 + h.score / 2.0 for h in hits}  # l2² = 2 - 2cos
    found = retriever.similarities(QUESTION, asins=[LAMP], marketplace="DE")
    assert found.keys() == expected.keys() == set(scope)
    for chunk_id, cosine in expected.items():
        assert found[chunk_id] == pytest.approx(cosine, abs=1e-6)
    closest = retriever.closest_similarity(QUESTION, asins=[LAMP])
    assert closest == pytest.approx(max(expected.values()), abs=1e-6)
    assert retriever.closest_similarity(QUESTION, asins=["B0NOTINDEX"]) is None
    retriever.forget(QUESTION)


def test_search_fuses_the_legs_own_rankings(retriever: Retriever,
                                           index: KnowledgeIndex) -> None:
    found = retriever.search(QUESTION, marketplace="DE", asins=[LAMP], k=5)
    vector = index.dense.embeddings.embed_query(QUESTION)
    dense = index.dense.among(vector, index.lexical.scope_chunk_ids("DE", [LAMP]),
                              k=CANDIDATES_PER_LEG) or []
    lexical = index.lexical.search({"de": query_tokens(QUESTION, "de")}, k=CANDIDATES_PER_LEG,
                                   marketplace="DE", asins=[LAMP])
    dense_ids, lexical_ids = [h.chunk_id for h in dense], [h.chunk_id for h in lexical]
    weight = 1.0 if "de" in index.dense_languages else OTHER_LANGUAGE_DENSE_WEIGHT
    fused = reciprocal_rank_fusion([dense_ids, lexical_ids], weights=(weight, 1.0))
    assert [e.chunk_id for e in found] == sorted(fused, key=lambda c: -fused[c])[:5]
    rows = index.lexical.chunk_rows([e.chunk_id for e in found])
    for evidence in found:
        assert evidence.score == pytest.approx(fused[evidence.chunk_id])
        assert evidence.asin == LAMP and evidence.text == rows[evidence.chunk_id]["text"]
        assert evidence.field == rows[evidence.chunk_id]["field"]
        if evidence.dense_rank is not None:
            hit = dense[evidence.dense_rank - 1]
            assert hit.chunk_id == evidence.chunk_id
            assert evidence.similarity == pytest.approx(1.0 + hit.score / 2.0, abs=1e-6)
        if evidence.lexical_rank is not None:
            assert lexical_ids[evidence.lexical_rank - 1] == evidence.chunk_id
    assert any(e.dense_rank and e.lexical_rank for e in found)  # both legs spoke


def test_term_statistics_are_the_lexical_legs(retriever: Retriever,
                                              index: KnowledgeIndex) -> None:
    terms = [*query_tokens("Akku Messing Kabel Lampe Quantenschaum", "de")]
    assert retriever.informative_terms("de", terms) == index.lexical.informative_terms(
        "de", terms)
    frequencies = retriever.document_frequencies("de", terms)
    assert frequencies == index.lexical.document_frequencies("de", terms)
    assert frequencies[query_tokens("Quantenschaum", "de")[0]] == 0  # no page uses it
    assert frequencies[query_tokens("Akku", "de")[0]] == 1  # one page's one paragraph


def test_a_sync_through_the_protocol_writes_both_legs(retriever: Retriever,
                                                      index: KnowledgeIndex) -> None:
    report = retriever.sync([page(LAMP, bullet_points=["Warmweißes Licht mit 2700 K.",
                                                       "Dimmbar in fünf Stufen."])])
    assert (report.added, report.removed) == (1, 1)
    assert index.dense.ids() == index.lexical.chunk_ids()
    assert index.chunk_count() == len(index.lexical.chunk_ids()) == 14
