"""The conversation eval: its format, its bundled cases, one conversation per channel played
through the whole app, and the metrics and report section on results made by hand."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from langchain_core.embeddings import Embeddings
from typer.testing import CliRunner

from agent.messages import Reply
from base.jsonl import DataFileError
from base.settings import Settings
from channels.app import create_app
from csba.cli import app
from evals.conversation_metrics import conversation_section
from evals.conversation_report import conversation_html
from evals.conversation_runner import (
    CONVERSATION_RESULTS,
    ConversationResult,
    TurnResult,
    read_conversation_results,
    run_conversations,
)
from evals.conversations import (
    Conversation,
    fill_conversation_customers,
    read_all_conversations,
    read_conversations,
)
from evals.report import REPORT_HTML, write_conversation_reports
from knowledge.index import KnowledgeIndex
from seller.ingest import DEMO_DATA_DIR, read_inputs
from tests.support.scenarios import DELIVERED_BEDDING_DE, DELIVERED_HEADLAMP_US

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "evals" / "datasets" / "conversations").glob("*.jsonl"))
BED, HEADLAMP = DELIVERED_BEDDING_DE, DELIVERED_HEADLAMP_US
NOW = "2026-11-25T10:00:00Z"


def conversation(conv_id: str, channel: str, turns: list[dict[str, Any]], *,
                 order: str = BED.order_id, language: str = "de", marketplace: str = "DE",
                 **extra: Any) -> dict[str, Any]:
    return {"id": conv_id, "language": language, "channel": channel,
            "marketplace": marketplace, "now": NOW, "order_id": order,
            "customer": {"from_order": True}, "turns": turns, **extra}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


# --- the format ---------------------------------------------------------------------------


def test_bad_lines_are_named_by_file_line_and_field(tmp_path: Path) -> None:
    good = conversation("good", "sms", [{"message": "Wo ist mein Paket?"}])
    rows = [good,
            {**good, "id": "no-turns", "turns": []},
            {**good, "id": "fax", "channel": "fax"},
            {**good, "id": "both", "turns": [{"message": "Hallo", "digits": "123"}]},
            {**good, "id": "keypad-on-sms", "turns": [{"digits": "028"}]},
            {**good, "id": "bad-expect", "turns": [{"message": "Hallo",
                                                    "expect": {"facts": "7. November"}}]},
            {**good, "id": "fr", "language": "fr"}]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataFileError) as raised:
        read_conversations(path)
    text = str(raised.value)
    assert f"{path}:2: field 'turns'" in text
    assert f"{path}:3: field 'channel'" in text
    assert f"{path}:4: field 'turns[0]'" in text and "either message or digits" in text
    assert f"{path}:5: field 'turns'" in text and "channel sms has none" in text
    assert f"{path}:6: field 'turns[0].expect.facts'" in text
    assert f"{path}:7: field 'language'" in text
    assert f"{path}:1:" not in text
    dup = write_jsonl(tmp_path / "dup.jsonl", [good, good])
    with pytest.raises(DataFileError, match=r"dup.jsonl:2: field 'id': 'good' is already"):
        read_conversations(dup)


def test_a_customer_from_an_order_missing_from_the_data_is_refused(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [
        conversation("gone", "chat", [{"message": "Hallo"}], order="028-0000000-0000000")])
    orders = read_inputs(orders=DEMO_DATA_DIR / "orders.jsonl").orders
    with pytest.raises(DataFileError, match=r"'gone': field 'order_id': 028-0000000-0000000"):
        fill_conversation_customers(read_conversations(path), orders)


def test_the_bundled_conversations_cover_what_the_eval_is_for() -> None:
    convs = read_all_conversations(BUNDLED)
    filled = fill_conversation_customers(
        convs, read_inputs(orders=DEMO_DATA_DIR / "orders.jsonl").orders)
    assert all(c.customer.email for c in filled)  # every order is a demo order
    per_language = Counter(c.language for c in convs)
    assert min(per_language[lang] for lang in ("de", "es", "en")) >= 25
    assert {c.channel for c in convs} == {"chat", "sms", "whatsapp", "email", "voice"}
    voice = [c for c in convs if c.channel == "voice"]
    assert sum(c.language in {"de", "es"} for c in voice) >= 8
    for language in ("de", "es"):
        tags = {t for c in voice if c.language == language for t in c.tags}
        assert {"voice.return", "voice.status", "keypad_order_number",
                "spoken_order_number"} <= tags
    tags = Counter(t for c in convs for t in c.tags)
    for needed in ("followup.who_pays", "followup.tracking", "followup.refund_when",
                   "followup.until_when", "followup.where_to_send", "several_requests",
                   "greeting_and_request", "thanks", "goodbye", "order_from_identity",
                   "withdrawal", "withdrawal.formal", "delivered_not_received", "late.weeks",
                   "wrong_size", "wrong_item", "damaged", "second_item"):
        assert tags[needed] >= 3, needed  # one in each language at least
    assert all(len(c.turns) <= 5 for c in convs)
    assert sum(len(c.turns) >= 2 for c in convs) >= 0.8 * len(convs)


# --- one conversation per channel, through the whole app ----------------------------------


def make_app(settings: Settings, index: KnowledgeIndex) -> FastAPI:
    return create_app(settings, index=index, smtp_server=False, outbox_worker=False)


STATUS = {"intent": "order_status", "facts": ["7. November 2026"]}
PLAYED = [
    conversation("chat", "chat", [
        {"message": "Wo ist meine Bestellung?", "expect": {"outcome": "answered", **STATUS}},
        {"message": "Danke!", "expect": {"facts": ["31. Februar 2026"]}}],
        order_given=True),
    conversation("sms", "sms", [
        {"message": f"Wo ist meine Bestellung {BED.order_id}?", "expect": STATUS}]),
    conversation("whatsapp", "whatsapp", [
        {"message": f"Wo ist meine Bestellung {BED.order_id}?",
         "expect": {**STATUS, "forbidden": ["zugestellt"]}}]),
    conversation("voice", "voice", [
        {"message": "Wo ist mein Paket?", "expect": {"intent": "order_status"}},
        {"digits": BED.order_id.replace("-", ""),
         "expect": {**STATUS, "facts": ["wurde am 7. November 2026 zugestellt"]}}]),
    conversation("email", "email", [
        {"message": f"Hallo, wo ist meine Bestellung {BED.order_id}?", "expect": STATUS}],
        subject="Meine Bestellung"),
    conversation("case", "email", [
        {"message": "Does the headlamp fit on a Petzl bicycle helmet mount? My order is "
                    f"{HEADLAMP.order_id}.",
         "expect": {"outcome": "escalated", "case": True, "case_open": True}}],
        order=HEADLAMP.order_id, language="en", marketplace="US", max_cases=0,
        subject="Headlamp"),
]


@pytest.mark.slow
def test_one_conversation_per_channel_is_played_through_the_app(
        tmp_path: Path, embeddings: Embeddings) -> None:
    data = read_inputs(catalogs=[DEMO_DATA_DIR / "catalog.jsonl"],
                       orders=DEMO_DATA_DIR / "orders.jsonl",
                       sellers=DEMO_DATA_DIR / "sellers.jsonl")
    wanted = {item.asin for o in (BED.order, HEADLAMP.order) for item in o.items}
    data.pages = [p for p in data.pages if p.asin in wanted]
    convs = read_conversations(write_jsonl(tmp_path / "c.jsonl", PLAYED))
    pairs = run_conversations(convs, data, tmp_path / "out",
                              settings=Settings(_env_file=None),  # type: ignore[call-arg]
                              make_app=make_app, embeddings=embeddings)
    results = {c.id: r for c, r in pairs}
    assert [r.error for r in results.values()] == [None] * len(PLAYED)
    # What each channel delivered is read back, and the reply the service stored with it.
    for conv_id in ("sms", "voice", "email"):
        last = results[conv_id].turns[-1]
        assert "7. November 2026" in last.text and last.reply is not None
        assert last.reply.intent == "order_status" and last.passed, (conv_id, last.failures)
    assert results["voice"].turns[0].reply is not None
    assert results["voice"].turns[0].reply.outcome == "needs_info"  # asked for the order
    chat = results["chat"]
    assert chat.turns[0].passed and chat.turns[1].failures == ["fact missing: 31. Februar 2026"]
    assert results["whatsapp"].turns[0].failures == ["forbidden phrase said: zugestellt"]
    case = results["case"]
    assert case.turns[0].passed and case.turns[0].reply is not None
    assert case.turns[0].reply.case_id is not None
    assert case.failures == ["cases: 1 opened, at most 0 allowed"] and not case.passed
    written = read_conversation_results(tmp_path / "out" / CONVERSATION_RESULTS)
    assert [(r.id, r.passed) for r in written] == [(c.id, r.passed) for c, r in pairs]


# --- metrics and report on results made by hand ----------------------------------------


def played(text: str, failures: list[str] | None = None) -> TurnResult:
    reply = Reply(conversation_id="c", text=text, language="de", outcome="answered",
                  intent="order_status")
    return TurnResult(text=text, reply=reply, failures=failures or [], latency_ms=1.0)


def made(conv_id: str, language: str, channel: str, turns: int) -> Conversation:
    return Conversation.model_validate(conversation(
        conv_id, channel, [{"message": "x"}] * turns, language=language,
        marketplace={"de": "DE", "es": "ES", "en": "UK"}[language]))


def test_metrics_and_the_report_section_from_hand_made_results(tmp_path: Path) -> None:
    pairs = [
        (made("de-a", "de", "voice", 2), ConversationResult("de-a", [played("ok"), played("ok")],
                                                            [])),
        (made("de-b", "de", "chat", 3),
         ConversationResult("de-b", [played("ok"), played("no", ["fact missing: 2 Werktage"]),
                                     played("ok")], [])),
        (made("es-a", "es", "voice", 1),
         ConversationResult("es-a", [played("ok")], ["cases: 2 opened, at most 1 allowed"])),
        (made("en-a", "en", "email", 2),
         ConversationResult("en-a", [played("ok"), played("no", ["forbidden phrase said: "
                                                                 "<b>anything else</b>"])],
                            [])),
    ]
    section = conversation_section(pairs)
    overall = section["overall"]
    assert (overall["conversations"], overall["passed"], overall["turns"],
            overall["turns_passed"]) == (4, 1, 8, 6)
    assert overall["pass_rate"] == 0.25 and overall["turn_pass_rate"] == 0.75
    de, es = section["by_language"]["de"], section["by_language"]["es"]
    assert (de["pass_rate"], de["turn_pass_rate"]) == (0.5, 0.8)
    assert (es["pass_rate"], es["turn_pass_rate"]) == (0.0, 1.0)  # its turns pass, its cases not
    assert section["by_channel"]["voice"]["pass_rate"] == 0.5
    assert section["by_channel"]["email"]["turn_pass_rate"] == 0.5
    assert {n: v["turn_pass_rate"] for n, v in section["by_turn"].items()} == {
        "turn 1": 1.0, "turn 2": 1 / 3, "turn 3": 1.0}
    assert section["failing"] == ["de-b", "es-a", "en-a"]
    assert [(f["id"], f["turn"]) for f in section["failed_turns"]] == [
        ("de-b", 2), ("es-a", None), ("en-a", 2)]

    write_conversation_reports(section, tmp_path, [Path("conversations.jsonl")])
    page = (tmp_path / REPORT_HTML).read_text("utf-8")
    html = conversation_html(section)
    assert html in page
    for chart in ("conversations-by-language", "conversations-by-channel"):
        assert f'data-chart="{chart}"' in html
    # one bar per group and series with its value in the tooltip
    assert "conversations de: 0.500" in html and "turns es: 1.000" in html
    failed = html.split('id="conversations-failed"')[1]
    assert re.findall(r"<tr><td>([a-z-]+)</td>", failed) == ["de-b", "es-a", "en-a"]
    assert "fact missing: 2 Werktage" in failed
    assert "&lt;b&gt;anything else&lt;/b&gt;" in failed and "<b>anything" not in failed
    assert "@" not in failed and "+49" not in failed  # ids and checks, no contact
    metrics = json.loads((tmp_path / "metrics.json").read_text("utf-8"))
    assert metrics["conversations"]["overall"]["pass_rate"] == 0.25
    assert datetime.fromisoformat(metrics["generated_at"]).tzinfo == UTC


# --- csba eval ----------------------------------------------------------------------------


@pytest.mark.slow
def test_csba_eval_runs_the_conversations_beside_the_dataset_and_alone(tmp_path: Path) -> None:
    pages = [json.loads(raw) for raw in (DEMO_DATA_DIR / "catalog.jsonl").read_text(
        "utf-8").splitlines() if raw.strip()]
    bed = {item.asin for item in BED.order.items}
    catalog = write_jsonl(tmp_path / "catalog.jsonl", [p for p in pages if p["asin"] in bed])
    data = ["--catalog", str(catalog), "--orders", str(DEMO_DATA_DIR / "orders.jsonl"),
            "--sellers", str(DEMO_DATA_DIR / "sellers.jsonl")]
    convs = write_jsonl(tmp_path / "c.jsonl", [PLAYED[1]])
    dev = write_jsonl(tmp_path / "dev.jsonl", [{
        "id": "status", "now": NOW, "channel": "email", "marketplace": "DE",
        "order_id": BED.order_id, "customer": {"from_order": True},
        "turns": ["Wo ist meine Bestellung?"], "expect": {"facts": ["7. November 2026"]}}])

    bad = write_jsonl(tmp_path / "bad.jsonl", [{**PLAYED[1], "channel": "fax"}])
    refused = CliRunner().invoke(app, ["eval", *data, "--conversations", str(bad),
                                       "--out", str(tmp_path / "bad-out")])
    assert refused.exit_code == 2 and f"{bad}:1: field 'channel'" in refused.output

    beside = CliRunner().invoke(app, ["eval", *data, "--dataset", str(dev), "--conversations",
                                      str(convs), "--out", str(tmp_path / "both")])
    assert beside.exit_code == 0, beside.output
    metrics = json.loads((tmp_path / "both" / "metrics.json").read_text("utf-8"))
    assert metrics["agent"]["cases"] == 1
    assert metrics["conversations"]["overall"]["conversations"] == 1
    page = (tmp_path / "both" / REPORT_HTML).read_text("utf-8")
    assert 'id="metrics"' in page and 'id="conversations"' in page

    alone = CliRunner().invoke(app, ["eval", *data, "--conversations", str(convs),
                                     "--out", str(tmp_path / "alone")])
    assert alone.exit_code == 0, alone.output
    assert not (tmp_path / "alone" / "results.jsonl").exists()
    assert (tmp_path / "alone" / CONVERSATION_RESULTS).is_file()
    assert 'id="conversations"' in (tmp_path / "alone" / REPORT_HTML).read_text("utf-8")
    assert "sms" in alone.output and "1.000" in alone.output
