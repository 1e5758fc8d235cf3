"""Routing with an order in the conversation: the n-gram reading alone against the reading
by meaning with order-aware routing, on tests/agent/routing_eval.jsonl.

Each message there carries the intent it must be routed as when the customer has an order,
and for a return or a problem the reason it states (null: none). Its ``tune`` part chose the
weights and thresholds; the ``held_out`` part is reported only.

    python -m evals.routing [--split held_out|tune|all]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.understanding import (
    classify_intent,
    extract_return_reason,
    reads_as_owned_product,
    speaks_of_buying,
)

ROUTING_EVAL = Path(__file__).resolve().parents[1] / "tests" / "agent" / "routing_eval.jsonl"
REASON_INTENTS = frozenset({"return_request", "item_problem"})


@dataclass(frozen=True)
class RoutingCase:
    text: str
    language: str
    intent: str
    reasons: tuple[str, ...] | None  # the reasons accepted; None: states none
    has_reason: bool  # a return or a problem, whose reason is scored
    split: str


@dataclass(frozen=True)
class RoutingFigures:
    cases: int
    intent_accuracy: float
    pre_order_false_positives: int  # routed pre-order, but not a buying question
    product_redirected: int  # product questions about an ordered product sent away
    reason_cases: int
    reason_accuracy: float


def read_cases(path: Path = ROUTING_EVAL) -> list[RoutingCase]:
    cases: list[RoutingCase] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        reason = row.get("reason")
        reasons = None if reason is None else tuple([reason] if isinstance(reason, str)
                                                    else reason)
        cases.append(RoutingCase(row["text"], row["language"], row["intent"], reasons,
                                 "reason" in row, row["split"]))
    return cases


def ngram_route(case: RoutingCase) -> str:
    """The routing before meaning: the n-gram model's intent, taken as it is."""
    return classify_intent(case.text, case.language, by_meaning=False).intent


def meaning_route(case: RoutingCase) -> str:
    """The routing now: the fused reading, with the order in the conversation a question
    about its product routed as one, and a product question about buying as pre-order."""
    result = classify_intent(case.text, case.language)
    if reads_as_owned_product(result.intent, result.product, case.text, result.rival):
        return "product_question"
    if result.intent == "product_question" and speaks_of_buying(case.text):
        return "pre_order_question"
    return result.intent


def figures(cases: list[RoutingCase], *, meaning: bool) -> RoutingFigures:
    route = meaning_route if meaning else ngram_route
    routed = [route(c) for c in cases]
    right = sum(r == c.intent for r, c in zip(routed, cases, strict=True))
    pre_order_fp = sum(r == "pre_order_question" != c.intent
                       for r, c in zip(routed, cases, strict=True))
    redirected = sum(c.intent == "product_question" and r != "product_question"
                     for r, c in zip(routed, cases, strict=True))
    scored = [c for c in cases if c.has_reason]
    reasons_right = 0
    for case in scored:
        found = extract_return_reason(case.text, case.language, by_meaning=meaning)
        reasons_right += (found is None) if case.reasons is None else (found in case.reasons)
    return RoutingFigures(
        cases=len(cases), intent_accuracy=right / len(cases) if cases else 0.0,
        pre_order_false_positives=pre_order_fp, product_redirected=redirected,
        reason_cases=len(scored),
        reason_accuracy=reasons_right / len(scored) if scored else 0.0)


def report(split: str = "held_out") -> str:
    """The figures of one split (or ``all``), before and after, as a small table."""
    cases = [c for c in read_cases() if split in ("all", c.split)]
    before, after = figures(cases, meaning=False), figures(cases, meaning=True)
    lines = [f"routing eval, {split}: {len(cases)} messages, "
             f"{before.reason_cases} with a reason to read",
             f"{'':32}{'n-grams':>10}{'meaning':>10}"]
    rows: list[tuple[str, float | int, float | int]] = [
        ("intent accuracy", before.intent_accuracy, after.intent_accuracy),
        ("pre-order false positives", before.pre_order_false_positives,
         after.pre_order_false_positives),
        ("product questions sent away", before.product_redirected, after.product_redirected),
        ("reason accuracy", before.reason_accuracy, after.reason_accuracy)]
    for name, old, new in rows:
        shown = (f"{old:>10.3f}{new:>10.3f}" if isinstance(old, float)
                 else f"{old:>10}{new:>10}")
        lines.append(f"{name:32}{shown}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--split", choices=("held_out", "tune", "all"), default="held_out")
    sys.stdout.write(report(parser.parse_args().split))


if __name__ == "__main__":
    main()
