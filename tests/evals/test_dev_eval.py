"""The CI gate: the dev eval must stay at or above the thresholds kept in evals/thresholds.json,
and the agent ahead of the plain-retrieval baseline on every metric both measure."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evals.dataset import read_dataset
from evals.metrics import NOT_COMPARED

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_the_dev_dataset_covers_what_it_must(thresholds: dict[str, Any]) -> None:
    cases = read_dataset(ROOT / thresholds["dataset"])
    assert len(cases) >= 200
    assert {c.channel for c in cases} >= {"chat", "sms", "whatsapp", "voice", "email", "api",
                                           "handover"}
    languages = Counter(e.language for c in cases for _, e in c.expectations())
    assert all(languages[lang] >= 40 for lang in ("de", "es", "en")), languages
    intents = {e.intent for c in cases for _, e in c.expectations() if e.intent}
    assert intents >= {"product_question", "order_status", "return_request", "refund_status",
                       "item_problem", "cancel_order", "invoice", "customization",
                       "pre_order_question", "ask_for_person", "greeting", "thanks"}
    tags = {t for c in cases for t in c.tags}
    for needed in ("returns.cross_border.low_value", "returns.cross_border.local_address",
                   "returns.cross_border.prepaid_label", "returns.cross_border.no_method_5d",
                   "returns.window.expired", "returns.customized.not_returnable",
                   "returns.category.perishable", "returns.category.digital",
                   "returns.category.hygiene_sealed", "returns.hazmat", "scope.afn",
                   "scope.sfp", "scope.opted_out", "scope.before_enrolment",
                   "product.unanswerable", "identity.refused", "injection.message",
                   "injection.page", "multi_turn"):
        assert needed in tags, needed
    cross_border = {c.marketplace for c in cases if "returns.cross_border.low_value" in c.tags}
    assert cross_border >= {"DE", "ES", "UK", "US"}


def test_targets_not_yet_met_are_listed_with_their_gap(thresholds: dict[str, Any]) -> None:
    # A gap is written down with its target, its floor and why, never dropped silently.
    for name, gap in thresholds.get("below_target", {}).items():
        assert gap["floor"] < gap["target"] and gap["why"], name
        assert name not in thresholds["min"]


def test_the_agent_meets_the_thresholds(dev_eval: tuple[Path, dict[str, Any]],
                                        thresholds: dict[str, Any]) -> None:
    out, metrics = dev_eval
    agent = metrics["agent"]
    below = {name: agent[name] for name, least in thresholds["min"].items()
             if agent[name] is None or agent[name] < least}
    above = {name: agent[name] for name, most in thresholds["max"].items()
             if agent[name] > most}
    # A metric still short of its target must not fall below the floor it has reached.
    below |= {name: agent[name] for name, gap in thresholds.get("below_target", {}).items()
              if agent[name] is None or agent[name] < gap["floor"]}
    failing = [json.loads(line) for line in (out / "results.jsonl").read_text("utf-8")
               .splitlines() if not json.loads(line)["passed"]]
    detail = "\n".join(f"{r['id']}: {'; '.join(r['failures'])}" for r in failing)
    assert not below and not above, f"below {below}, above {above}\n{detail}"


def test_the_agent_is_ahead_of_plain_retrieval(dev_eval: tuple[Path, dict[str, Any]],
                                               thresholds: dict[str, Any]) -> None:
    _, metrics = dev_eval
    if not thresholds["agent_ahead_of_baseline"]:
        pytest.skip("the thresholds do not ask for it")
    behind = {name: (metrics["agent"][name], metrics["baseline"][name])
              for name, ahead in metrics["agent_ahead"].items()
              if ahead is False and name not in NOT_COMPARED}
    assert not behind, f"agent not ahead of the baseline on (agent, baseline): {behind}"
    assert metrics["agent"]["score"] > metrics["baseline"]["score"]


def test_the_reports_are_written(dev_eval: tuple[Path, dict[str, Any]]) -> None:
    out, metrics = dev_eval
    lines = (out / "results.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == metrics["agent"]["cases"]
    first = json.loads(lines[0])
    assert {"id", "passed", "failures", "replies", "latency_ms", "error"} <= set(first)
    assert set(metrics["by"]) == {"intent", "language", "channel"}
    assert {"de", "es", "en"} <= set(metrics["by"]["language"])
    markdown = (out / "report.md").read_text("utf-8")
    assert "| outcome_accuracy |" in markdown and "## By language" in markdown
