"""Each metric on small hand-made inputs, with the expected values worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from agent.messages import Citation, Reply
from agent.returns import ReturnDecision
from base.money import Money
from evals.dataset import EvalCase, Expect
from evals.groundedness import Sentence
from evals.metrics import better, breakdown, compute, deltas, outcome_confusion, percentile
from evals.runner import CaseResult
from evals.scoring import check_reply, contains, count_citations
from tests.support.scenarios import DELIVERED_BEDDING_DE


def reply(text: str = "ok", *, outcome: str = "answered", intent: str = "order_status",
          language: str = "de", citations: list[Citation] | None = None,
          decision: ReturnDecision | None = None, case_id: str | None = None,
          redirect: str | None = None) -> Reply:
    return Reply.model_validate({
        "conversation_id": "c", "text": text, "language": language, "outcome": outcome,
        "intent": intent, "citations": [c.model_dump() for c in citations or []],
        "return_decision": decision.model_dump() if decision else None,
        "case_id": case_id, "redirect": redirect})


def case(case_id: str, expect: dict[str, Any] | None = None, *, channel: str = "email",
         turns: int = 1, per_turn: list[dict[str, Any] | None] | None = None,
         marketplace: str = "DE") -> EvalCase:
    raw: dict[str, Any] = {"id": case_id, "now": "2026-11-25T10:00:00Z", "channel": channel,
                           "marketplace": marketplace,
                           "turns": [f"turn {i}" for i in range(turns)]}
    if per_turn is not None:
        raw["expect_per_turn"] = per_turn
    else:
        raw["expect"] = expect
    return EvalCase.model_validate(raw)


def result(case_id: str, replies: list[Reply], *, passed: bool = True,
           latency: list[float] | None = None, sentences: list[bool] | None = None,
           error: str | None = None) -> CaseResult:
    return CaseResult(id=case_id, passed=passed, failures=[] if passed else ["x"],
                      replies=replies, latency_ms=latency or [10.0] * len(replies),
                      error=error,
                      sentences=[Sentence("s", g, ()) for g in (sentences or [])])


PAGE = Citation(kind="product_page", asin="B0DE4LT7K2", field="attributes.item_weight",
                text="1,35 kg")
OTHER_PAGE = Citation(kind="product_page", asin="B0DE9LS5M1", field="title", text="Glimmer")
ORDER = Citation(kind="order", order_id=DELIVERED_BEDDING_DE.order_id, field="status",
                 text="delivered")
POLICY = Citation(kind="policy", rule="DE.cross_border.low_value", text="rules")


def test_facts_and_forbidden_ignore_case_accents_and_spacing() -> None:
    assert contains("Die Rücksendung ist KOSTENLOS für Sie", "ruecksendung") is False
    assert contains("Die Rücksendung ist KOSTENLOS", "rucksendung ist kostenlos")
    assert contains("Sie erhalten 19,99\u00a0€ zurück", "19,99 €")
    checks = check_reply(Expect(facts=["kostenlos", "24,99"], forbidden=["auf Ihre Kosten"]),
                         reply("Die Rücksendung ist kostenlos, auf Ihre  Kosten nicht."))
    assert [(c.kind, c.passed) for c in checks] == [
        ("fact", True), ("fact", False), ("forbidden", False)]


def test_citation_references_by_asin_field_order_and_rule() -> None:
    # Expected: the page (any field) and the rule. Cited: the weight field, another page,
    # an order, the rule. Product and policy citations are constrained by the references:
    # 3 constrained (PAGE, OTHER_PAGE, POLICY), 2 of them expected; the order is not judged.
    counted = count_citations(["B0DE4LT7K2", "DE.cross_border.low_value"],
                              [PAGE, OTHER_PAGE, ORDER, POLICY])
    assert (counted.expected, counted.expected_found) == (2, 2)
    assert (counted.constrained, counted.constrained_expected) == (3, 2)
    field_ref = count_citations(["B0DE4LT7K2:attributes.color"], [PAGE])
    assert field_ref.expected_found == 0 and field_ref.constrained == 1
    assert count_citations(["B0DE4LT7K2:attributes"], [PAGE]).expected_found == 1


def test_return_decision_fields_are_checked_one_by_one() -> None:
    got = ReturnDecision(eligible=True, rule="DE.cross_border.low_value",
                         method="returnless_refund", return_shipping_paid_by="seller",
                         refund=Money(amount=19.99, currency="EUR"))
    expect = Expect.model_validate({"return_decision": {
        "eligible": True, "method": "prepaid_label", "return_shipping_paid_by": "seller",
        "refund": {"amount": 19.99, "currency": "EUR"}}})
    checks = {c.kind: c.passed for c in check_reply(expect, reply(decision=got))}
    assert checks == {"decision.eligible": True, "decision.method": False,
                      "decision.return_shipping_paid_by": True, "decision.refund": True}
    missing = check_reply(expect, reply())
    assert [c.passed for c in missing] == [False] * 4


def test_metrics_on_a_hand_made_run() -> None:
    decision = ReturnDecision(eligible=True, rule="r", method="prepaid_label",
                              return_shipping_paid_by="seller",
                              refund=Money(amount=10.0, currency="EUR"))
    cases = [
        # 1: right outcome and intent, 1 of 2 facts, cites the expected page and another one
        case("a", {"outcome": "answered", "intent": "product_question", "language": "de",
                   "facts": ["1,35 kg", "schwarz"], "citations": ["B0DE4LT7K2"],
                   "case": False}),
        # 2: escalation expected and opened; a forbidden phrase said
        case("b", {"outcome": "escalated", "forbidden": ["500 EUR"]}, channel="chat"),
        # 3: escalation expected, none opened (outcome wrong); decision 3 of 4 fields right
        case("c", {"outcome": "escalated", "return_decision": {
            "eligible": True, "method": "returnless_refund", "return_shipping_paid_by": "seller",
            "refund": {"amount": 10.0, "currency": "EUR"}}}, channel="chat"),
        # 4: no escalation expected but one opened
        case("d", {"outcome": "answered", "language": "en"}, marketplace="UK"),
    ]
    results = [
        result("a", [reply("Gewicht: 1,35 kg", intent="product_question",
                           citations=[PAGE, OTHER_PAGE])], sentences=[True, True],
               latency=[10.0]),
        result("b", [reply("Ich erstatte 500 EUR.", outcome="escalated", case_id="CS-1")],
               passed=False, sentences=[False], latency=[20.0]),
        result("c", [reply(decision=decision)], passed=False, sentences=[True],
               latency=[30.0]),
        result("d", [reply(outcome="escalated", case_id="CS-2", language="en")], passed=False,
               sentences=[True], latency=[40.0]),
    ]
    m = compute(list(zip(cases, results, strict=True)))
    assert m["score"] == 0.25
    assert m["outcome_accuracy"] == 0.5  # a, b right; c, d wrong
    assert m["intent_accuracy"] == 1.0
    assert m["language_accuracy"] == 1.0
    assert m["fact_recall"] == 0.5
    assert m["forbidden_violations"] == 1 and m["forbidden_violation_rate"] == 1.0
    assert m["citation_recall"] == 1.0 and m["citation_precision"] == 0.5
    assert m["return_decision_accuracy"] == 0.75
    assert m["return_decision.method"] == 0.0 and m["return_decision.refund"] == 1.0
    # expected escalations: b, c; opened: b, d -> precision 1/2, recall 1/2
    assert m["escalation_precision"] == 0.5 and m["escalation_recall"] == 0.5
    assert m["groundedness"] == 0.8  # 4 of 5 sentences
    assert m["latency_p50_ms"] == 25.0 and m["latency_p95_ms"] == pytest.approx(38.5)
    assert m["redirect_accuracy"] is None  # nothing stated
    assert outcome_confusion(list(zip(cases, results, strict=True))) == {
        "answered": {"answered": 1, "escalated": 1}, "escalated": {"escalated": 1,
                                                                    "answered": 1}}
    by = breakdown(list(zip(cases, results, strict=True)))
    assert by["channel"]["chat"]["cases"] == 2 and by["channel"]["chat"]["score"] == 0.0
    assert by["language"]["en"]["cases"] == 1 and by["language"]["de"]["cases"] == 3
    assert by["intent"]["product_question"]["score"] == 1.0


def test_per_turn_expectations_and_a_crashed_turn() -> None:
    c = case("m", per_turn=[{"outcome": "needs_info"}, {"outcome": "answered"}], turns=2)
    crashed = result("m", [reply(outcome="needs_info")], passed=False, error="Traceback")
    m = compute([(c, crashed)])
    assert m["outcome_accuracy"] == 0.5 and m["errors"] == 1


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 95) == pytest.approx(48.0)


def test_agent_ahead_of_baseline_and_deltas() -> None:
    assert better("score", 0.9, 0.2) is True
    assert better("score", 0.2, 0.9) is False
    assert better("groundedness", 1.0, 1.0) is True  # equal only at the best value
    assert better("groundedness", 0.9, 0.9) is False
    assert better("forbidden_violations", 0, 3) is True
    assert better("forbidden_violations", 0, 0) is True
    assert better("latency_p95_ms", 10.0, 1.0) is None  # speed is not compared
    assert better("escalation_recall", 1.0, None) is None
    assert deltas({"score": 0.75, "errors": 0, "x": None}, {"score": 0.5, "errors": 2}) == {
        "score": 0.25, "errors": -2, "x": None}
