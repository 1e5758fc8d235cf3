"""Fitting and measuring the answer decision: the split, the figures, the fit, the bar, and
the candidates read through the agent's own retrieval."""

from __future__ import annotations

import io
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from agent.answer_decision import FieldSignals, calibrated, decision_for, features
from base.settings import Settings
from evals.answer_decision import (
    CUSTOMERS,
    TARGET_PRECISION,
    Labelled,
    choose_bar,
    customers_datasets,
    customers_part,
    figures,
    fit_logistic,
    measure,
    read_labelled,
    run_cross_bar,
    save_questions,
    training_rows,
)
from knowledge.e5 import E5_MODEL

BASE = FieldSignals(
    field="bullet_points[0]", similarity=0.85, best_other=0.85, mean=0.83, dense_rank=1,
    lexical_rank=1, covered=1.0, asked=2.0, words_asked=2, unknown_word=False,
    cross_lingual=False, length=80, quantity_asked=False, number_given=False,
    in_model_languages=True)


def _question(n: int, rng: random.Random) -> Labelled:
    """A synthetic question: where the page answers, the answering field stands out of its
    page by a margin; where it is silent, nothing does."""
    answerable = n % 2 == 0
    lift = rng.uniform(0.02, 0.06) if answerable else rng.uniform(-0.01, 0.015)
    right = replace(BASE, field="bullet_points[0]", similarity=0.85 + lift,
                    best_other=0.85, mean=0.83)
    other = replace(BASE, field="description[0]", similarity=0.85, best_other=0.85 + lift,
                    mean=0.83, dense_rank=2, lexical_rank=2)
    return Labelled(f"q{n}", "public", "en", answerable,
                    frozenset({"B0TEST0001:bullet_points[0]"}) if answerable else frozenset(),
                    (("B0TEST0001:bullet_points[0]", right),
                     ("B0TEST0001:description[0]", other)))


def test_the_customers_split_is_fixed_and_about_half() -> None:
    ids = [json.loads(line)["id"] for lang in ("de", "es", "en")
           for line in (CUSTOMERS / f"cases_{lang}.jsonl").read_text("utf-8").splitlines()]
    parts = [customers_part(i) for i in ids]
    assert parts == [customers_part(i) for i in ids]
    assert 0.4 < parts.count("tune") / len(parts) < 0.6


def test_figures_count_right_fields_cases_and_precision() -> None:
    rng = random.Random(1)
    questions = [_question(n, rng) for n in range(4)]  # q0, q2 answerable; q1, q3 silent
    picks = {"q0": "B0TEST0001:bullet_points[0]", "q1": None,
             "q2": "B0TEST0001:description[0]", "q3": "B0TEST0001:bullet_points[0]"}
    f = figures(questions, picks)
    assert (f.right_field, f.answerable, f.escalated_silent, f.silent) == (1, 2, 1, 2)
    assert f.answered == 3 and f.precision == pytest.approx(1 / 3)
    assert f.accuracy == pytest.approx(2 / 4)


def test_the_fit_folds_its_scaling_into_plain_weights() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = random.Random(2)
    questions = [_question(n, rng) for n in range(200)]
    fitted = fit_logistic(questions, "multilingual-e5-small", 0.5)
    x, y, w = training_rows(questions)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a feature constant over the data carries no weight
    reference = LogisticRegression(C=0.3, max_iter=5000).fit((x - mean) / scale, y,
                                                              sample_weight=w)
    expected = reference.predict_proba((x[:10] - mean) / scale)[:, 1]
    got = [fitted.probability(s) for q in questions[:5] for _, s in q.fields]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert len(fitted.weights) == len(features(BASE))


def test_the_bar_is_the_lowest_reaching_the_precision_and_learns_the_margin() -> None:
    rng = random.Random(3)
    questions = [_question(n, rng) for n in range(300)]
    bar, curves = choose_bar(questions, "multilingual-e5-small")
    curve = curves["public"]  # no customers' questions: the only source sets the bar
    assert curve[bar].precision >= TARGET_PRECISION
    assert all(curve[b].precision < TARGET_PRECISION for b in curve if b < bar)
    # The margin separates the two kinds of question: most are judged right.
    decision = fit_logistic(questions, "multilingual-e5-small", bar)
    assert measure(decision, questions).accuracy > 0.85


@pytest.mark.slow
def test_candidates_are_read_through_the_agents_retrieval(tmp_path: object) -> None:
    datasets = [d for d in customers_datasets("report") if d.cases.name == "cases_es.jsonl"]
    cross = decision_for(E5_MODEL, choice="cross")
    questions = read_labelled(datasets, Settings(), pairs=cross)
    assert len(questions) > 40
    assert {q.language for q in questions} >= {"es"}
    assert all(customers_part(q.id) == "report" for q in questions)
    answerable = [q for q in questions if q.answerable]
    # Retrieval offers a field that answers for nearly every answerable question.
    offered = sum(1 for q in answerable if q.answers & {ref for ref, _ in q.fields})
    assert offered / len(answerable) > 0.9
    assert all(s.similarity is not None for q in questions for _, s in q.fields)
    # The pairs the cross-checked decision reads are scored, and only those.
    pairs = [s for q in questions for _, s in q.fields]
    assert all((s.cross_score is not None) == cross.reads_pair(s) for s in pairs)
    assert 0 < sum(s.cross_score is not None for s in pairs) < len(pairs)


def test_the_cross_checked_bar_is_the_best_accuracy_on_the_slice(tmp_path: Path) -> None:
    fitted = calibrated()
    assert fitted is not None
    probability = fitted.probability(BASE)
    assert probability >= 0.3  # room for a cross-encoder score under 1 at each confidence

    def scored(n: int, answerable: bool, confidence: float) -> Labelled:
        # The cross-encoder's score that puts the geometric mean at ``confidence``.
        signals = replace(BASE, cross_score=confidence ** 2 / probability)
        ref = "B0TEST0001:bullet_points[0]"
        return Labelled(f"s{n}", "public", "en", answerable,
                        frozenset({ref}) if answerable else frozenset(), ((ref, signals),))

    # Answered right up to 0.5; a silent page's field answered (wrongly) up to 0.45.
    cache = tmp_path / "slice.jsonl"
    save_questions([scored(0, True, 0.52), scored(1, False, 0.47)], cache)
    result = run_cross_bar(Settings(_env_file=None), None,  # type: ignore[call-arg]
                           Console(file=io.StringIO()), cache)
    assert result["bar"] == 0.5
    assert result["by_bar"]["0.5"] == 1.0 and result["by_bar"]["0.45"] == 0.5
    assert result["by_bar"]["0.55"] == 0.5
