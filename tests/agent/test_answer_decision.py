"""The answer decision: the coverage rule's semantics, the calibrated model's file and its
attribute path, and which of the two a retrieval model gets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources

import pytest

from agent.answer_decision import (
    DECISION_FILE,
    E5_DENSE_ANSWER_SIMILARITY,
    FEATURES,
    CalibratedDecision,
    CoverageRule,
    CrossChecked,
    FieldSignals,
    asks_quantity,
    calibrated,
    decision_for,
    features,
)

PAIR = FieldSignals(
    field="attributes.item_weight", similarity=0.88, best_other=0.86, mean=0.84,
    dense_rank=1, lexical_rank=1, covered=1.0, asked=2.0, words_asked=2, unknown_word=False,
    cross_lingual=False, length=12, quantity_asked=True, number_given=True,
    in_model_languages=True)


def test_the_rule_answers_on_half_the_words_or_a_close_meaning() -> None:
    rule = CoverageRule(E5_DENSE_ANSWER_SIMILARITY)
    assert rule.confidence(PAIR) >= rule.bar
    far = replace(PAIR, similarity=0.80)
    assert rule.confidence(far) >= rule.bar  # half the asked words are on the field
    assert rule.confidence(replace(far, covered=0.5)) < rule.bar
    # A word no page knows: the meaning alone no longer answers.
    assert rule.confidence(replace(PAIR, covered=0.5, unknown_word=True)) < rule.bar
    # Outside the model's languages, only words answer.
    assert rule.confidence(replace(PAIR, covered=0.5, in_model_languages=False)) < rule.bar


def test_the_shipped_decision_is_fitted_for_this_code_and_the_default_model() -> None:
    raw = json.loads(resources.files("agent").joinpath(DECISION_FILE).read_text("utf-8"))
    assert raw["features"] == list(FEATURES)
    assert len(raw["weights"]) == len(FEATURES) == len(features(PAIR))
    fitted = calibrated()
    assert fitted is not None and 0.0 < fitted.bar < 1.0
    # Fitted on German, Spanish and English questions, the public ones held apart.
    assert {"customers de", "customers es", "customers en", "public en"} <= set(raw["fitted_on"])
    # The calibrated decision unless the rule is chosen (CSBA_ANSWER_DECISION).
    assert decision_for("multilingual-e5-small") is fitted
    assert decision_for("multilingual-e5-small", choice="calibrated") is fitted
    rule = decision_for("multilingual-e5-small", choice="rule")
    assert isinstance(rule, CoverageRule)
    # Only the calibrated decision reads the cosines of the page's other fields.
    assert fitted.reads_neighbours
    assert not rule.reads_neighbours
    # Another model's cosines are not the ones it was fitted on: the rule judges them.
    assert isinstance(decision_for("all-MiniLM-L6-v2"), CoverageRule)


class FixedScores:
    def __init__(self, score: float) -> None:
        self.score = score

    def scores(self, question: str, fields: Sequence[str]) -> list[float]:
        return [self.score] * len(fields)


def test_the_cross_checked_decision_needs_both_readings_to_answer() -> None:
    fitted = calibrated()
    assert fitted is not None
    decision = CrossChecked(fitted, FixedScores(0.9))
    probability = fitted.probability(PAIR)
    # The geometric mean: a field answers only where both find it likely.
    assert decision.confidence(replace(PAIR, cross_score=0.9)) == pytest.approx(
        (0.9 * probability) ** 0.5)
    assert decision.confidence(replace(PAIR, cross_score=0.0)) == 0.0
    # An attribute holding every asked word answers surely, as in the calibrated decision.
    assert decision.confidence(replace(PAIR, covered=2.0, cross_score=0.0)) == 1.0
    # A pair is scored only where the mean could reach the bar.
    assert probability >= decision.bar ** 2 and decision.reads_pair(PAIR)
    assert not decision.reads_pair(replace(PAIR, covered=2.0))
    unlikely = replace(PAIR, similarity=0.5, covered=0.0, dense_rank=None, lexical_rank=None)
    assert fitted.probability(unlikely) < decision.bar ** 2
    assert not decision.reads_pair(unlikely)
    assert decision.confidence(unlikely) < decision.bar  # unscored: never an answer
    with pytest.raises(ValueError, match="not scored"):
        decision.confidence(PAIR)
    # Only this decision has the turn score pairs.
    assert decision.pair_scorer is not None
    assert fitted.pair_scorer is None
    assert CoverageRule(E5_DENSE_ANSWER_SIMILARITY).pair_scorer is None


def test_the_cross_checked_decision_is_chosen_by_name_for_the_default_model() -> None:
    decision = decision_for("multilingual-e5-small", choice="cross")
    assert isinstance(decision, CrossChecked) and decision.fitted is calibrated()
    # Another model's cosines are not the ones the calibrated model was fitted on.
    assert isinstance(decision_for("all-MiniLM-L6-v2", choice="cross"), CoverageRule)


def test_a_decision_of_other_features_is_refused() -> None:
    raw = calibrated().to_json()  # type: ignore[union-attr]
    raw["features"] = raw["features"][:-1]
    with pytest.raises(ValueError, match="fit it again"):
        CalibratedDecision.from_json(raw)


def test_the_calibrated_decision_reads_closeness_against_the_page() -> None:
    fitted = calibrated()
    assert fitted is not None
    # The same cosine answers more surely when the field stands out of its page, and a
    # quantity asked of a field without a number answers less surely.
    standing_out = fitted.confidence(replace(PAIR, best_other=0.80, mean=0.78))
    among_equals = fitted.confidence(replace(PAIR, best_other=0.88, mean=0.87))
    assert standing_out > among_equals
    assert fitted.confidence(replace(PAIR, number_given=False)) < fitted.confidence(PAIR)


def test_an_attribute_holding_every_asked_word_answers_surely() -> None:
    """"Wie schwer ist die Lampe?" asks for the weight and nothing else: the weight attribute
    answers, however the page's other fields lie in meaning; a field that holds only part of
    the question ("funktioniert" of "Funktioniert sie mit Alexa?" in the compatible plugs) is
    left to the fitted model, and so is a text field holding every word."""
    fitted = calibrated()
    assert fitted is not None
    asked = replace(PAIR, covered=2.0, asked=2.0, similarity=0.80, best_other=0.88, mean=0.87)
    assert asked.attribute_asked
    assert fitted.probability(asked) < fitted.bar  # the fitted model alone would not answer
    assert fitted.confidence(asked) == 1.0
    part = replace(asked, covered=1.0)
    assert not part.attribute_asked
    assert fitted.confidence(part) == fitted.probability(part)
    assert not replace(asked, field="bullet_points[2]").attribute_asked
    assert not replace(asked, covered=0.0, asked=0.0).attribute_asked
    # A quantity asked of an attribute without a number ("how many rounds" of a season given
    # as "year-round") is the fitted model's to judge; with a number it is answered.
    assert not replace(asked, quantity_asked=True, number_given=False).attribute_asked
    assert replace(asked, quantity_asked=True, number_given=True).attribute_asked


@pytest.mark.parametrize(("question", "quantity"), [
    ("Wie viel wiegt der Toaster?", True),
    ("Wie lange hält der Akku?", True),
    ("¿Cuántos vatios tiene?", True),
    ("how many cups does it hold", True),
    ("Combien pèse-t-il ?", True),
    ("Lässt sich der Roboter mit dem Handy steuern?", False),
    ("¿Qué material tiene la funda?", False),
    ("is it dishwasher safe", False),
])
def test_a_question_asking_for_a_quantity(question: str, quantity: bool) -> None:
    assert asks_quantity(question) is quantity
