"""Measure the fine-tuned cross-encoder as the product-answer decision.

Every field of each question is scored; the best one is the answer if its score reaches the
bar, else the question escalates. The bar is chosen on the tune questions kept out of training
(the bar slice: ``evals.answer_decision.SLICE_PERCENT`` of them), never on what is reported;
figures are reported on the held-out public questions (pages built as ``evals/pqa_cases.py``
builds them) and on the customers' report half, per language.

    python -m evals.cross_encoder.measure --weights OUT/cross_encoder.pt --scores OUT/scores
    # the shipped file, read by the C engine as the product reads it:
    python -m evals.cross_encoder.measure --weights knowledge/data/cross_encoder.npz \
        --scores OUT/scores-engine
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch
from rich.console import Console

from evals.answer_decision import Figures
from evals.cross_encoder.questions import (
    Question,
    customer_questions,
    public_questions,
    tune_split,
)
from knowledge.cross_encoder.engine import EngineCrossEncoder
from knowledge.cross_encoder.model import CrossEncoder

TARGET_PRECISION = 0.95
SCORE_BATCH = 32
# Coarse below 0.85, fine above: the scores of a sigmoid crowd near its top.
BARS = (*(round(0.05 * i, 2) for i in range(4, 17)), *(round(0.01 * i, 2) for i in range(86, 100)))
Scores = dict[str, list[tuple[str, float]]]  # question id -> (ref, score) of each field


class PairReader(Protocol):
    """The torch model and the engine alike."""

    def scores(self, question: str, fields: Sequence[str]) -> list[float]: ...

    def pair_scores(self, questions: Sequence[str], fields: Sequence[str]) -> list[float]: ...


# Plain lines, never wrapped: they are read as logs and tables.
_out = Console(highlight=False, markup=False, soft_wrap=True)


def load(weights: Path, cache: Path, threads: int) -> PairReader:
    """A training run's ``.pt`` in torch; a shipped ``.npz`` on the engine, as the product
    runs it."""
    if weights.suffix == ".npz":
        return EngineCrossEncoder(weights, cache, threads=threads)
    torch.set_num_threads(threads)
    model = CrossEncoder()
    model.load_values(torch.load(weights, weights_only=True)["trainable"])
    model.eval()
    return model


def score(model: PairReader, questions: Sequence[Question], cache: Path) -> Scores:
    """Each question's fields with their scores; read from ``cache`` when it exists. Pairs of
    all questions are scored in batches of similar length (little padding)."""
    if cache.exists():
        raw = json.loads(cache.read_text(encoding="utf-8"))
        return {k: [(ref, float(s)) for ref, s in v] for k, v in raw.items()}
    pairs = sorted(((q, i) for q in questions for i in range(len(q.fields))),
                   key=lambda qi: len(qi[0].question) + len(qi[0].fields[qi[1]].text))
    found: dict[tuple[str, int], float] = {}
    for start in range(0, len(pairs), SCORE_BATCH):
        batch = pairs[start:start + SCORE_BATCH]
        values = model.pair_scores([q.question for q, _ in batch],
                                   [q.fields[i].text for q, i in batch])
        found |= {(q.id, i): v for (q, i), v in zip(batch, values, strict=True)}
        if (start // SCORE_BATCH) % 20 == 0:
            _out.print(f"  scored {start + len(batch)}/{len(pairs)} pairs of {cache.name}")
    out: Scores = {q.id: [(f.ref, found[(q.id, i)]) for i, f in enumerate(q.fields)]
                   for q in questions}
    cache.write_text(json.dumps(out), encoding="utf-8")
    return out


def figures(questions: Sequence[Question], scores: Scores, bar: float) -> Figures:
    answered = answered_right = right = escalated_silent = 0
    for q in questions:
        ref, best = max(scores[q.id], key=lambda rs: rs[1], default=(None, 0.0))
        picked = ref if best >= bar else None
        answered += picked is not None
        answered_right += picked is not None and picked in q.answers
        right += q.answerable and picked in q.answers
        escalated_silent += not q.answerable and picked is None
    answerable = sum(q.answerable for q in questions)
    return Figures(len(questions), answerable, right, len(questions) - answerable,
                   escalated_silent, answered, answered_right)


def choose_bar(questions: Sequence[Question], scores: Scores) -> tuple[float, bool]:
    """The lowest bar at which the bar slice's answers (some at least) reach
    ``TARGET_PRECISION``, and True; if none does, the bar of the slice's best accuracy, and
    False."""
    for bar in BARS:
        f = figures(questions, scores, bar)
        if f.answered and f.precision >= TARGET_PRECISION:
            return bar, True
    return max(BARS, key=lambda b: figures(questions, scores, b).accuracy), False


def latency(model: PairReader, question: Question, runs: int) -> float:
    """Median milliseconds to score ten fields of one question."""
    fields = [f.text for f in question.fields][:10]
    model.scores(question.question, fields)  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        model.scores(question.question, fields)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _row(name: str, f: Figures) -> str:
    return (f"| {name} | {f.questions} | {f.answered} | {f.accuracy:.3f} | {f.precision:.3f} | "
            f"{f.right_field_rate:.3f} | {f.escalation_recall:.3f} |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.cross_encoder.measure")
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--scores", type=Path, required=True, help="a folder for the scores")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--latency-runs", type=int, default=20, help="0: no latency")
    args = parser.parse_args(argv)
    args.scores.mkdir(parents=True, exist_ok=True)
    model = load(args.weights, args.scores / "engine", args.threads)
    slice_ = tune_split(public_questions("tune", as_cases=True), "bar") + \
        tune_split(customer_questions("tune"), "bar")
    held_out = public_questions("held-out", as_cases=True)
    report = customer_questions("report")
    scores = score(model, slice_, args.scores / "bar_slice.json")
    scores |= score(model, held_out, args.scores / "held_out.json")
    scores |= score(model, report, args.scores / "customers_report.json")
    chosen, reached = choose_bar(slice_, scores)
    groups = {"bar slice (tune)": slice_, "PQA held-out": held_out,
              **{f"customers {lang}": [q for q in report if q.language == lang]
                 for lang in ("de", "es", "en")}}
    _out.print(f"bar chosen on the bar slice: {chosen} ("
               + (f"the lowest at precision >= {TARGET_PRECISION})" if reached else
                  f"no bar reaches precision {TARGET_PRECISION}: the best accuracy)"))
    _out.print("| questions | n | answered | accuracy | precision | right field "
               "| escalation recall |")
    _out.print("|---|---|---|---|---|---|---|")
    for bar in BARS:
        for name, qs in groups.items():
            mark = " (chosen)" if bar == chosen else ""
            _out.print(_row(f"{name} @ {bar}{mark}", figures(qs, scores, bar)))
    if args.latency_runs <= 0:
        return 0
    probe = next(q for q in held_out if len(q.fields) >= 10)
    _out.print(f"scoring 10 fields of one question, {args.threads} thread(s): "
               f"{latency(model, probe, args.latency_runs):.1f} ms (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
