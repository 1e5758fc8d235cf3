"""Metrics of the public product questions: does the reply answer from a relevant field, or
open a case when the page is silent?

Computed from the cases (their ``public`` block: the variant and the relevant ``ASIN:field``
references) and the replies alone, for the agent and the baseline, overall and per source file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.messages import Reply
from evals.dataset import EvalCase
from evals.metrics import Metrics, ratio
from evals.runner import CaseResult, CaseRun
from evals.scoring import ref_matches

METRICS = ("answer_or_escalate_accuracy", "answer_precision", "answer_recall",
           "escalation_recall")


def _public(case: EvalCase) -> dict[str, Any]:
    block = (case.model_extra or {}).get("public")
    if not isinstance(block, dict) or "relevant" not in block or "variant" not in block:
        raise ValueError(f"case {case.id} has no public block (variant, relevant)")
    return block


def answered_product(reply: Reply | None) -> bool:
    return reply is not None and reply.outcome == "answered" and \
        reply.intent == "product_question"


def cites_relevant_first(reply: Reply | None, relevant: Sequence[str]) -> bool:
    """Whether the reply's first product-page citation is one of the relevant fields."""
    if reply is None:
        return False
    first = next((c for c in reply.citations if c.kind == "product_page"), None)
    return first is not None and any(ref_matches(ref, first) for ref in relevant)


def compute_public(pairs: Sequence[tuple[EvalCase, CaseResult]]) -> Metrics:
    expect_answer = expect_escalation = answered = answered_right = escalated_right = 0
    escalated = recalled = 0
    for case, result in pairs:
        block = _public(case)
        reply = result.replies[-1] if result.replies else None
        wants_answer = block["variant"] == "answerable"
        is_answer = answered_product(reply)
        is_right_answer = is_answer and cites_relevant_first(reply, block["relevant"])
        opened = reply is not None and reply.case_id is not None
        answered += is_answer
        answered_right += is_right_answer
        escalated += opened
        if wants_answer:
            expect_answer += 1
            recalled += is_right_answer
        else:
            expect_escalation += 1
            escalated_right += opened
    return {
        "cases": len(pairs), "expect_answer": expect_answer,
        "expect_escalation": expect_escalation, "answered": answered,
        "answered_relevant_first": answered_right, "escalated": escalated,
        "answer_or_escalate_accuracy": ratio(recalled + escalated_right, len(pairs)),
        "answer_precision": ratio(answered_right, answered),
        "answer_recall": ratio(recalled, expect_answer),
        "escalation_recall": ratio(escalated_right, expect_escalation),
    }


def public_metrics(runs: Sequence[CaseRun], part: str) -> dict[str, Any]:
    """The ``public`` section of metrics.json."""
    sources: dict[str, list[CaseRun]] = {}
    for run in runs:
        sources.setdefault(str(_public(run.case).get("source", "?")), []).append(run)

    def both(members: Sequence[CaseRun]) -> dict[str, Metrics]:
        return {"agent": compute_public([(r.case, r.agent) for r in members]),
                "baseline": compute_public([(r.case, r.baseline) for r in members])}

    return {"part": part, **both(runs),
            "by_source": {s: both(members) for s, members in sorted(sources.items())}}
