"""The runner and ``csba eval`` on a small data set: bad input, crashes, reports, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from typer.testing import CliRunner

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage, Reply
from base.jsonl import DataFileError
from base.settings import Settings
from csba.cli import app
from evals.dataset import read_dataset
from evals.report import load_previous, write_reports
from evals.runner import CaseResult, CaseRun, Responder, read_results, run_dataset
from knowledge.index import KnowledgeIndex
from seller.ingest import DEMO_DATA_DIR, read_inputs
from tests.support.scenarios import DELIVERED_BEDDING_DE, DELIVERED_DESK_LAMP_DE, Scenario

pytestmark = pytest.mark.slow

PAGES = ("B0DE4LT7K2", "B0DE6BW3R9")
BED, LAMP = DELIVERED_BEDDING_DE, DELIVERED_DESK_LAMP_DE


def line(case_id: str, order: Scenario, text: str, **expect: Any) -> dict[str, Any]:
    return {"id": case_id, "now": "2026-11-25T10:00:00Z", "channel": "email",
            "marketplace": "DE", "order_id": order.order_id,
            "customer": {"email": order.customer_email},
            "turns": [text], "expect": expect}


CASES = [
    line("status", BED, "Wo ist meine Bestellung?", outcome="answered", language="de",
         facts=["7. November 2026"], citations=[BED.order_id]),
    line("boom", BED, "Wo ist meine Bestellung?", outcome="answered"),
    line("weight", LAMP, "Wie schwer ist die Schreibtischlampe?", outcome="answered",
         facts=["1,35 kg"], citations=["B0DE4LT7K2:attributes.item_weight"]),
    line("wrong-fact", BED, "Wo ist meine Bestellung?", facts=["9. Dezember 2026"]),
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    pages = [json.loads(raw) for raw in (DEMO_DATA_DIR / "catalog.jsonl").read_text(
        "utf-8").splitlines() if raw.strip()]
    return {"dataset": write_jsonl(tmp_path / "cases.jsonl", CASES),
            "catalog": write_jsonl(tmp_path / "catalog.jsonl",
                                   [p for p in pages if p["asin"] in PAGES]),
            "orders": DEMO_DATA_DIR / "orders.jsonl", "sellers": DEMO_DATA_DIR / "sellers.jsonl"}


def test_bad_lines_are_named_by_file_line_and_field(tmp_path: Path) -> None:
    good = CASES[0]
    rows = [good, {**good, "id": "x2", "turns": "not a list"},
            {k: v for k, v in good.items() if k != "now"} | {"id": "x3"},
            {**good, "id": "x4", "channel": "fax"}]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataFileError) as raised:
        read_dataset(path)
    text = str(raised.value)
    assert f"{path}:2: field 'turns'" in text
    assert f"{path}:3: field 'now'" in text
    assert f"{path}:4: field 'channel'" in text
    dup = write_jsonl(tmp_path / "dup.jsonl", [good, good])
    with pytest.raises(DataFileError, match=r"dup.jsonl:2: field 'id': 'status' is already"):
        read_dataset(dup)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(good) + "\n{not json\n", "utf-8")
    with pytest.raises(DataFileError, match=r"broken.jsonl:2: not valid JSON"):
        read_dataset(broken)
    per_turn = write_jsonl(tmp_path / "turns.jsonl", [{**good, "expect_per_turn": [{}, {}]}])
    with pytest.raises(DataFileError, match=r"turns.jsonl:1: field '\(line\)'.*2 entries"):
        read_dataset(per_turn)


def test_cli_rejects_a_bad_dataset_before_running_any_case(tmp_path: Path,
                                                           files: dict[str, Path]) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [{**CASES[0], "turns": []}])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "eval", "--dataset", str(bad), "--catalog", str(files["catalog"]),
        "--orders", str(files["orders"]), "--sellers", str(files["sellers"]),
        "--out", str(out)])
    assert result.exit_code == 2
    assert f"{bad}:1: field 'turns'" in result.output
    assert not out.exists()


class CrashesOnBoom:
    """The real agent, except that one case's turn raises, as a bug would."""

    def __init__(self, agent: Responder) -> None:
        self.agent = agent

    def handle(self, msg: InboundMessage) -> Reply:
        if msg.thread_key.endswith(":boom"):
            raise RuntimeError("the agent fell over")
        return self.agent.handle(msg)


def test_a_crash_is_recorded_and_the_run_goes_on(tmp_path: Path, files: dict[str, Path],
                                                 embeddings: Embeddings) -> None:

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    data = read_inputs(catalogs=[files["catalog"]], orders=files["orders"],
                       sellers=files["sellers"])

    def make(store: Store, index: KnowledgeIndex) -> Responder:
        return CrashesOnBoom(Agent.from_settings(settings, store, index))

    out = tmp_path / "out"
    runs = run_dataset(read_dataset(files["dataset"]), data, out, settings=settings,
                       embeddings=embeddings, make_agent=make)
    results = read_results(out / "results.jsonl")
    assert [r.id for r in results] == ["status", "boom", "weight", "wrong-fact"]
    by_id = {r.id: r for r in results}
    assert by_id["status"].passed and by_id["weight"].passed
    boom = by_id["boom"]
    assert not boom.passed and boom.replies == []
    assert boom.error is not None and "RuntimeError: the agent fell over" in boom.error
    assert boom.failures[0] == "error on turn 1: RuntimeError: the agent fell over"
    assert by_id["wrong-fact"].failures == ["fact missing: 9. Dezember 2026"]
    # The same cases on the baseline, which never crashes; it answers every message with a
    # page field, so it cannot tell when an order was delivered.
    baseline = read_results(out / "baseline_results.jsonl")
    assert [r.id for r in baseline] == [r.id for r in results]
    assert all(r.error is None for r in baseline)
    assert {r.id for r in baseline if not r.passed} >= {"status", "wrong-fact"}
    assert {r.case.id: r.agent.passed for r in runs} == {r.id: r.passed for r in results}


def test_min_score_sets_the_exit_code_and_baseline_shows_deltas(tmp_path: Path,
                                                                files: dict[str, Path]) -> None:
    common = ["eval", "--dataset", str(files["dataset"]), "--catalog", str(files["catalog"]),
              "--orders", str(files["orders"]), "--sellers", str(files["sellers"])]
    first = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "a"), "--min-score",
                                     "0.9"])
    # 3 of 4 cases pass ("wrong-fact" cannot): 0.75 is below 0.9.
    assert first.exit_code == 1, first.output
    assert "below --min-score" in first.output
    for name in ("results.jsonl", "metrics.json", "report.md", "report.html"):
        assert (tmp_path / "a" / name).is_file()
    second = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "b"), "--min-score",
                                      "0.75", "--baseline", str(tmp_path / "a")])
    assert second.exit_code == 0, second.output
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text("utf-8"))
    assert metrics["agent"]["score"] == 0.75
    assert metrics["previous"]["deltas"]["score"] == 0.0
    assert metrics["previous"]["now_failing"] == [] == metrics["previous"]["now_passing"]


def test_deltas_and_flipped_cases_against_a_previous_run(tmp_path: Path) -> None:
    cases = read_dataset(write_jsonl(tmp_path / "c.jsonl", CASES[:2]))

    def run(passed: tuple[bool, bool], latency: float) -> list[CaseRun]:
        out = []
        for case, ok in zip(cases, passed, strict=True):
            text = "Die Bestellung wurde am 7. November 2026 zugestellt." if ok else "?"
            reply = Reply(conversation_id="c", text=text, language="de", outcome="answered",
                          intent="order_status")
            agent = CaseResult(case.id, ok, [] if ok else ["x"], [reply], [latency])
            out.append(CaseRun(case, agent, CaseResult(case.id, False, ["x"], [reply], [1.0])))
        return out

    before = tmp_path / "before"
    before.mkdir()
    old = run((True, False), 10.0)
    write_reports(old, before, tmp_path / "c.jsonl")
    with (before / "results.jsonl").open("w", encoding="utf-8") as handle:
        for r in old:
            handle.write(json.dumps(r.agent.to_json()) + "\n")
    now = run((False, True), 30.0)
    previous = load_previous(before, now)
    assert previous.now_failing == ["status"] and previous.now_passing == ["boom"]
    after = tmp_path / "after"
    after.mkdir()
    metrics = write_reports(now, after, tmp_path / "c.jsonl", previous)
    assert metrics["previous"]["deltas"]["latency_p50_ms"] == 20.0
    assert metrics["previous"]["deltas"]["score"] == 0.0
    html = (after / "report.html").read_text("utf-8")
    assert "Now failing: status" in html and "Now passing: boom" in html
    markdown = (after / "report.md").read_text("utf-8")
    assert "| latency_p50_ms | 30.000 | 1.000 |  | +20.000 |" in markdown
