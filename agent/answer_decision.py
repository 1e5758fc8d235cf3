"""Whether one page field answers a question: one decision over everything known of the pair.

The signals are the question's closeness in meaning to the field (the embedding model's
cosine, read against the other fields of the same products: a question lies close to every
field of a page about its product), how the two retrieval legs ranked it, how much of what is
asked the field's words cover, whether a word asked is one no page uses, the field's kind, and
whether a question asking for a quantity meets a field that gives a number.

Three decisions read them (``CSBA_ANSWER_DECISION``): a logistic model calibrated on labelled
questions (``evals/answer_decision.py`` fits it; its weights and bar are data,
``agent/data/answer_decision.json``), the default, which judges the cosines of the model it was
fitted on; the coverage rule (a field covering half of the asked words, or in the model's
languages a cosine over a fixed bar), which judges any other retrieval model's; and the
calibrated model read together with a cross-encoder (``knowledge/cross_encoder/``: the
question and the field read by one encoder at once, not compared as two vectors). On held-out
questions in German, Spanish and English the calibrated decision is more often right and more
precise than the rule; the cross-checked one more often right again, at a cost per turn
(README, Evals).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol

from knowledge.embeddings import is_e5

log = logging.getLogger(__name__)

DECISION_FILE = "data/answer_decision.json"

# Cosine similarity at which the model's match counts as an answer on its own (in the model's
# languages) under the coverage rule; below it, the page must share a content word with the
# question. e5's cosines are compressed (0.8-0.9 between a question and a page that cannot
# answer it), so its bar is its own (docs/benchmarks.md, section e).
DENSE_ANSWER_SIMILARITY = 0.5
E5_DENSE_ANSWER_SIMILARITY = 0.86
MIN_COVERAGE = 0.5
# A field the dense leg did not rank among its candidates counts as ranked just past them.
UNRANKED = 25
# The confidence of an attribute that holds every word the question asks ("Wie schwer ist
# die Lampe?" of `Gewicht: 1,35 kg`): the question asks for that attribute and nothing else.
ATTRIBUTE_ASKED = 1.0

# The cross-checked decision's bar on the geometric mean of the two probabilities: the best
# accuracy on the 352 tune questions kept out of the cross-encoder's training
# (``python -m evals.answer_decision cross-bar``): 0.798 there, 0.793 at 0.45, 0.790 at 0.55,
# 0.781 at 0.4.
CROSS_CHECKED_BAR = 0.5

# A question asking for a quantity ("wie viel wiegt", "cuántos vatios", "how long does it
# last"): a field without a number rarely answers it.
_NUMBER = re.compile(r"\d")


@cache
def _quantity_question() -> re.Pattern[str]:
    text = resources.files("agent").joinpath("data/quantity_questions.json").read_text("utf-8")
    phrases = [p for language, ps in json.loads(text).items() if language != "about" for p in ps]
    return re.compile(r"\b(" + "|".join(f"(?:{p})" for p in phrases) + r")\b", re.IGNORECASE)


def asks_quantity(question: str) -> bool:
    return bool(_quantity_question().search(question))


@dataclass(frozen=True, slots=True)
class FieldSignals:
    """What is known of one (question, page field) pair."""

    field: str  # the page field, e.g. attributes.weight or bullet_points[2]
    similarity: float | None  # the model's cosine, question to field
    best_other: float | None  # the highest cosine of any other field of the same products
    mean: float | None  # the mean cosine over every field of the same products
    dense_rank: int | None
    lexical_rank: int | None
    covered: float  # weight of the asked words the field has (an unknown word counts double)
    asked: float  # weight of every asked word the field is judged on
    words_asked: int
    unknown_word: bool  # the question has a word no page of the catalog uses
    cross_lingual: bool  # the page is in another language than the question
    length: int  # characters of the field's text
    quantity_asked: bool
    number_given: bool
    in_model_languages: bool  # the question's language is one the model was trained on
    # The cross-encoder's probability that the field answers; read only for a decision that
    # reads pairs (``AnswerDecision.pair_scorer``).
    cross_score: float | None = None

    @property
    def coverage(self) -> float:
        return self.covered / self.asked if self.asked else 0.0

    @property
    def kind(self) -> str:
        return self.field.split("[", 1)[0].split(".", 1)[0]

    @property
    def attribute_asked(self) -> bool:
        """An attribute holding every asked word, in its value, its name or the words
        customers use for it: the question asks for that attribute and nothing else. Not
        when a quantity is asked and the attribute gives no number: "how many rounds does
        it take?" is not answered by `Seasons: year-round`."""
        return self.kind == "attributes" and self.asked > 0 and self.covered >= self.asked \
            and not (self.quantity_asked and not self.number_given)


def gives_number(text: str) -> bool:
    return bool(_NUMBER.search(text))


KINDS = ("attributes", "bullet_points", "description", "title")


def features(s: FieldSignals) -> list[float]:
    """The calibrated model's inputs, in the order of its weights (``FEATURES``)."""
    similarity = s.similarity if s.similarity is not None else (s.mean or 0.0)
    best_other = s.best_other if s.best_other is not None else similarity
    mean = s.mean if s.mean is not None else similarity
    quantity, number = float(s.quantity_asked), float(s.number_given)
    return [
        similarity, similarity - best_other, similarity - mean,
        1.0 / (s.dense_rank or UNRANKED), 1.0 / (s.lexical_rank or UNRANKED),
        s.coverage, s.covered, s.asked, float(s.words_asked),
        float(s.unknown_word), float(s.cross_lingual), math.log1p(s.length),
        quantity, number, quantity * number, quantity * (1.0 - number),
        *(float(s.kind == k) for k in KINDS),
    ]


FEATURES = (
    "similarity", "margin_over_best_other", "lift_over_mean", "dense_rank_inverse",
    "lexical_rank_inverse", "coverage", "covered", "asked", "words_asked", "unknown_word",
    "cross_lingual", "log_length", "quantity_asked", "number_given", "quantity_with_number",
    "quantity_without_number", *(f"kind_{k}" for k in KINDS),
)


class PairScorer(Protocol):
    """Reads a question and each field together: the probability that the field answers."""

    def scores(self, question: str, fields: Sequence[str]) -> list[float]: ...


class AnswerDecision(Protocol):
    """How sure it is that a field answers the question; it answers from ``bar`` up."""

    @property
    def bar(self) -> float: ...

    @property
    def reads_neighbours(self) -> bool:
        """Whether it reads ``best_other`` and ``mean``: the question's cosine to every field
        of the products, which the turn computes only for a decision that reads them."""
        ...

    @property
    def pair_scorer(self) -> PairScorer | None:
        """What scores each (question, field) pair into ``cross_score``, for a decision that
        reads it; None: the turn does not score pairs."""
        ...

    def reads_pair(self, signals: FieldSignals) -> bool:
        """Whether the pair's ``cross_score`` can change the decision: the turn scores only
        those pairs."""
        ...

    def confidence(self, signals: FieldSignals) -> float: ...


@dataclass(frozen=True, slots=True)
class CoverageRule:
    """Half of the asked words on the field, or in the model's languages a cosine over the
    model's bar with no word the catalog does not know (then 1.0, else 0.0). Half, not one:
    one shared word ("helmet") is not an answer to "does it fit a Petzl bicycle helmet
    mount". e5's bar was measured by benchmarks/models.py (docs/benchmarks.md, section e):
    below 0.84 questions the page cannot answer were guessed; 0.86 keeps a margin."""

    similarity_bar: float
    bar: float = 1.0

    @property
    def reads_neighbours(self) -> bool:
        return False

    @property
    def pair_scorer(self) -> PairScorer | None:
        return None

    def reads_pair(self, signals: FieldSignals) -> bool:
        return False

    def confidence(self, s: FieldSignals) -> float:
        covers = s.asked > 0 and s.covered >= s.asked * MIN_COVERAGE
        close = (s.in_model_languages and s.similarity is not None
                 and s.similarity >= self.similarity_bar and not s.unknown_word)
        return 1.0 if covers or close else 0.0


@dataclass(frozen=True, slots=True)
class CalibratedDecision:
    """A logistic model over ``features``: the probability that the field answers; an
    attribute that holds every asked word answers surely (``ATTRIBUTE_ASKED``).

    Why the second part is not a feature: the public questions it is fitted on label such a
    pair as wrong about as often as right, mostly where the page does answer ("what is this
    made out of?" of `material: stainless steel` labelled as a question the page cannot
    answer; `item_weight` where the label names `item_package_weight`), so the model learns
    to distrust the plainest questions customers ask. Added to the fitted model, it raises the
    customers' held-out accuracy, precision and right field in German, Spanish and English;
    on the public held-out questions the labels call it a loss, and read by hand about half
    of the answers they call wrong are right (README, Evals)."""

    model: str  # the embedding model whose cosines it was fitted on
    weights: tuple[float, ...]
    intercept: float
    bar: float

    @property
    def reads_neighbours(self) -> bool:
        return True

    @property
    def pair_scorer(self) -> PairScorer | None:
        return None

    def reads_pair(self, signals: FieldSignals) -> bool:
        return False

    def confidence(self, s: FieldSignals) -> float:
        return ATTRIBUTE_ASKED if s.attribute_asked else self.probability(s)

    def probability(self, s: FieldSignals) -> float:
        """The logistic model's alone (what the bar is chosen on)."""
        z = self.intercept + sum(w * x for w, x in zip(self.weights, features(s), strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CalibratedDecision:
        if tuple(raw["features"]) != FEATURES:
            raise ValueError("the answer decision's features are not this code's: fit it again "
                             "(python -m evals.answer_decision fit)")
        return cls(model=raw["model"], weights=tuple(float(w) for w in raw["weights"]),
                   intercept=float(raw["intercept"]), bar=float(raw["bar"]))

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "features": list(FEATURES), "weights": list(self.weights),
                "intercept": self.intercept, "bar": self.bar}


@dataclass(frozen=True, slots=True)
class CrossChecked:
    """The calibrated model's probability and the cross-encoder's, read together: their
    geometric mean, so a field answers only where both find it likely. On the customers'
    held-out questions either alone is less often right in German, Spanish and English: the
    calibrated model misses fields that answer in other words than the question's, the
    cross-encoder (fine-tuned mostly on English public questions) misreads more pairs (alone,
    over every field of the page, it is the more accurate on the public English ones;
    ``evals/cross_encoder/measure.py``). An attribute that holds every asked word answers
    surely, as in the calibrated decision."""

    fitted: CalibratedDecision
    scorer: PairScorer
    bar: float = CROSS_CHECKED_BAR

    @property
    def reads_neighbours(self) -> bool:
        return True

    @property
    def pair_scorer(self) -> PairScorer | None:
        return self.scorer

    def reads_pair(self, s: FieldSignals) -> bool:
        """The mean reaches the bar only where the calibrated probability reaches the bar's
        square (the cross-encoder's is at most 1): below it, or on an attribute asked, the
        pair is not scored, and the turn saves a forward pass per field."""
        return not s.attribute_asked and self.fitted.probability(s) >= self.bar ** 2

    def confidence(self, s: FieldSignals) -> float:
        if s.attribute_asked:
            return ATTRIBUTE_ASKED
        probability = self.fitted.probability(s)
        if s.cross_score is None:
            if probability >= self.bar ** 2:  # reads_pair, the attribute path taken above
                raise ValueError(f"{s.field}: the pair was not scored (no cross_score)")
            return math.sqrt(probability)  # the most it could be: under the bar
        return math.sqrt(max(0.0, s.cross_score) * probability)


@cache
def shipped_cross_encoder() -> PairScorer:
    """The shipped cross-encoder on the e5 engine, loaded once: its packed file is built into
    the cache folder the first time (under a second), then mapped. One thread, as the
    process's other e5 engine: the other core serves the rest."""
    from agent.meaning import cache_dir
    from knowledge.cross_encoder.engine import EngineCrossEncoder
    from knowledge.cross_encoder.weights import shipped_weights

    model = EngineCrossEncoder(shipped_weights(), cache_dir(), threads=1)
    log.info("cross-encoder loaded (%s training steps)", model.meta.get("steps"))
    return model


@cache
def calibrated() -> CalibratedDecision | None:
    path = resources.files("agent").joinpath(DECISION_FILE)
    if not path.is_file():
        return None
    return CalibratedDecision.from_json(json.loads(path.read_text("utf-8")))


def decision_for(model_name: str, *, choice: str = "calibrated") -> AnswerDecision:
    """The decision ``choice`` names (``CSBA_ANSWER_DECISION``): the calibrated model where
    it was fitted on ``model_name``'s cosines (else the rule: another model's cosines are not
    the ones it was fitted on), the same cross-checked by the cross-encoder, or the coverage
    rule."""
    e5 = is_e5(model_name)
    fitted = calibrated() if choice in ("calibrated", "cross") else None
    if fitted is not None and (fitted.model == model_name or (e5 and is_e5(fitted.model))):
        return CrossChecked(fitted, shipped_cross_encoder()) if choice == "cross" else fitted
    if choice in ("calibrated", "cross"):
        log.warning("no answer decision fitted on %s; the coverage rule decides", model_name)
    return CoverageRule(E5_DENSE_ANSWER_SIMILARITY if e5 else DENSE_ANSWER_SIMILARITY)
