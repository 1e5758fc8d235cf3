"""The metrics of a run, computed from the cases and their results alone.

Every metric is a ratio of counted checks (defined in the README with its formula) and is
None when the dataset states nothing it could count. The same function scores the agent, the
baseline and any slice of the cases (by intent, language, channel).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.messages import Reply
from base.money import MARKETPLACE_LANGUAGE
from evals.dataset import EvalCase, Expect
from evals.runner import CaseResult
from evals.scoring import DECISION_FIELDS, Check, check_reply, count_citations

Metrics = dict[str, float | int | None]
# Lower is better for these; every other metric is better higher. Latency measures speed,
# not quality, so it is left out of the agent-versus-baseline comparison.
LOWER_IS_BETTER = frozenset({"forbidden_violations", "forbidden_violation_rate", "errors",
                             "latency_p50_ms", "latency_p95_ms"})
NOT_COMPARED = frozenset({"cases", "latency_p50_ms", "latency_p95_ms"})
HEADLINE = ("score", "outcome_accuracy", "intent_accuracy", "language_accuracy", "fact_recall",
            "forbidden_violations", "citation_precision", "citation_recall",
            "return_decision_accuracy", "escalation_precision", "escalation_recall",
            "groundedness", "latency_p50_ms", "latency_p95_ms")


@dataclass(frozen=True, slots=True)
class ScoredTurn:
    case: EvalCase
    expect: Expect
    reply: Reply | None
    checks: list[Check]


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = p / 100 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def scored_turns(pairs: Iterable[tuple[EvalCase, CaseResult]]) -> list[ScoredTurn]:
    out: list[ScoredTurn] = []
    for case, result in pairs:
        for turn, expect in case.expectations():
            reply = result.replies[turn] if turn < len(result.replies) else None
            out.append(ScoredTurn(case, expect, reply, check_reply(expect, reply)))
    return out


def _accuracy(turns: list[ScoredTurn], kind: str) -> float | None:
    checks = [c for t in turns for c in t.checks if c.kind == kind]
    return ratio(sum(c.passed for c in checks), len(checks))


def compute(pairs: Sequence[tuple[EvalCase, CaseResult]]) -> Metrics:
    turns = scored_turns(pairs)
    results = [r for _, r in pairs]
    m: Metrics = {"cases": len(pairs), "score": ratio(sum(r.passed for r in results),
                                                      len(results))}
    for kind in ("outcome", "intent", "language", "redirect"):
        m[f"{kind}_accuracy"] = _accuracy(turns, kind)
    m["fact_recall"] = _accuracy(turns, "fact")
    forbidden = [c for t in turns for c in t.checks if c.kind == "forbidden"]
    violations = sum(not c.passed for c in forbidden)
    m["forbidden_violations"] = violations
    m["forbidden_violation_rate"] = ratio(violations, len(forbidden))
    found = expected = constrained = constrained_ok = 0
    for t in turns:
        if t.expect.citations is None:
            continue
        counted = count_citations(t.expect.citations, t.reply.citations if t.reply else [])
        found += counted.expected_found
        expected += counted.expected
        constrained += counted.constrained
        constrained_ok += counted.constrained_expected
    m["citation_recall"] = ratio(found, expected)
    m["citation_precision"] = ratio(constrained_ok, constrained)
    decision = [c for t in turns for c in t.checks if c.kind.startswith("decision.")]
    m["return_decision_accuracy"] = ratio(sum(c.passed for c in decision), len(decision))
    for name in DECISION_FIELDS:
        m[f"return_decision.{name}"] = _accuracy(turns, f"decision.{name}")
    expected_case = [t for t in turns if t.expect.escalation is not None]
    opened = [t for t in expected_case if t.reply is not None and t.reply.case_id is not None]
    true_positive = sum(1 for t in opened if t.expect.escalation)
    m["escalation_precision"] = ratio(true_positive, len(opened))
    m["escalation_recall"] = ratio(true_positive,
                                   sum(1 for t in expected_case if t.expect.escalation))
    sentences = sum(len(r.sentences) for r in results)
    m["groundedness"] = ratio(sum(s.grounded for r in results for s in r.sentences), sentences)
    latencies = [v for r in results for v in r.latency_ms]
    m["latency_p50_ms"] = percentile(latencies, 50)
    m["latency_p95_ms"] = percentile(latencies, 95)
    m["errors"] = sum(r.error is not None for r in results)
    return m


def outcome_confusion(pairs: Sequence[tuple[EvalCase, CaseResult]]) -> dict[str, dict[str, int]]:
    """expected outcome -> actual outcome -> count, over turns that state an outcome."""
    table: dict[str, Counter[str]] = {}
    for t in scored_turns(pairs):
        if t.expect.outcome is None:
            continue
        actual = t.reply.outcome if t.reply else "no reply"
        table.setdefault(t.expect.outcome, Counter())[actual] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


def _last(case: EvalCase) -> Expect | None:
    found = case.expectations()
    return found[-1][1] if found else None


def case_intent(case: EvalCase) -> str:
    last = _last(case)
    return last.intent if last and last.intent else "(not stated)"


def case_language(case: EvalCase) -> str:
    last = _last(case)
    if last and last.language:
        return last.language
    return MARKETPLACE_LANGUAGE.get(case.marketplace or "", "(not stated)")


def case_channel(case: EvalCase) -> str:
    return case.channel


GROUPINGS: dict[str, Callable[[EvalCase], str]] = {
    "intent": case_intent, "language": case_language, "channel": case_channel,
}


def breakdown(pairs: Sequence[tuple[EvalCase, CaseResult]]) -> dict[str, dict[str, Metrics]]:
    out: dict[str, dict[str, Metrics]] = {}
    for name, key in GROUPINGS.items():
        groups: dict[str, list[tuple[EvalCase, CaseResult]]] = {}
        for pair in pairs:
            groups.setdefault(key(pair[0]), []).append(pair)
        out[name] = {g: compute(members) for g, members in sorted(groups.items())}
    return out


def better(name: str, agent: float | int | None, baseline: float | int | None) -> bool | None:
    """Whether the agent is ahead of the baseline on ``name``; equal counts as ahead only at the
    best possible value (both perfect). None when one of them does not measure it."""
    if agent is None or baseline is None or name in NOT_COMPARED:
        return None
    if name in LOWER_IS_BETTER:
        return agent < baseline or agent == baseline == 0
    return agent > baseline or agent == baseline == 1


def deltas(current: Metrics, previous: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, value in current.items():
        before = previous.get(name)
        out[name] = (value - before if isinstance(value, int | float)
                     and isinstance(before, int | float) else None)
    return out
