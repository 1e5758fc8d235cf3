"""``csba ingest``, ``search``, ``chat`` and ``seller-token`` as a person runs them."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from rich.console import Console
from typer.testing import CliRunner

from agent.db import Store
from base.settings import Settings
from csba.cli import DEMO_PROGRESS, app, load_demo_if_empty
from csba.progress import EmbeddingProgress
from knowledge.index import KnowledgeIndex
from seller.ingest import DEMO_DATA_DIR
from tests.support.scenarios import DELIVERED_BEDDING_DE


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("CSBA_DATA_DIR", str(data))
    return data


@pytest.mark.slow
def test_ingest_reports_and_reingest_embeds_nothing(env: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.jsonl"
    lines = (DEMO_DATA_DIR / "catalog.jsonl").read_text("utf-8").splitlines()[:5]
    catalog.write_text("\n".join(lines) + "\n", "utf-8")
    runner = CliRunner()
    args = ["ingest", "--catalog", str(catalog), "--orders", str(DEMO_DATA_DIR / "orders.jsonl"),
            "--sellers", str(DEMO_DATA_DIR / "sellers.jsonl")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "embedding page fields" in first.output  # the progress bar
    assert "pages" in first.output and "chunks added" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0
    assert _row(first.output, "chunks added") not in ("", "0")
    assert _row(second.output, "chunks added") == "0"
    assert _row(second.output, "chunks unchanged") == _row(first.output, "chunks added")
    found = runner.invoke(app, ["search", "Gewicht", "--marketplace", "DE"])
    assert found.exit_code == 0 and json.loads(lines[0])["asin"] in found.output


def _row(output: str, name: str) -> str:
    """The value beside ``name`` in the summary table."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if cells and cells[0] == name:
            return cells[-1]
    return ""


def first_start(progress: EmbeddingProgress) -> int:
    """What ``csba serve`` and ``csba chat`` do on an empty database, with vectors made without
    the model (the counts are the point here); the chunks then indexed."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    store = Store.from_settings(settings)
    index = KnowledgeIndex.open(settings, DeterministicFakeEmbedding(size=16))
    try:
        load_demo_if_empty(settings, store, index, progress)
        return index.chunk_count()
    finally:
        index.close()
        store.engine.dispose()


def test_a_first_start_logs_the_demo_being_embedded_with_its_counts(env: Path) -> None:
    lines: list[str] = []
    chunks = first_start(EmbeddingProgress(Console(file=io.StringIO()), DEMO_PROGRESS,
                                           bar=False, say=lines.append))
    assert len(lines) == 2, lines
    assert lines[0] == f"embedding the demo pages: {chunks:,} chunks to embed"
    assert re.fullmatch(rf"embedding the demo pages: {chunks:,} chunks embedded in [\d.]+ s",
                        lines[1])
    again: list[str] = []  # the next start finds the data: nothing to load, nothing said
    first_start(EmbeddingProgress(Console(file=io.StringIO()), DEMO_PROGRESS, bar=False,
                                  say=again.append))
    assert again == []


def test_a_first_start_on_a_terminal_shows_a_bar(env: Path) -> None:
    shown = io.StringIO()
    chunks = first_start(EmbeddingProgress(Console(file=shown, force_terminal=True, width=120),
                                           DEMO_PROGRESS))
    assert chunks > 0
    assert DEMO_PROGRESS in shown.getvalue() and f"{chunks}/{chunks}" in shown.getvalue()


@pytest.fixture()
def model_free_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every index a command opens makes its vectors without the model: for what a command
    does around the agent, not what the agent answers."""
    opened = KnowledgeIndex.open
    monkeypatch.setattr(KnowledgeIndex, "open", lambda settings, embeddings=None: opened(
        settings, DeterministicFakeEmbedding(size=16)))


def test_chat_runs_as_if_today_were_the_given_day(env: Path, model_free_index: None) -> None:
    from seller.ingest import demo_day_of

    runner = CliRunner()
    first = runner.invoke(app, ["chat", "--today", "2027-03-01"], input="")
    assert first.exit_code == 0, first.output
    assert "today is 2027-03-01 here" in first.output
    store = Store.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    try:  # loaded on its first start for that day: a year and more after the files' day
        assert demo_day_of(store) == date(2027, 3, 1)
    finally:
        store.engine.dispose()
    # Started again on another day, the demo stays dated for the first: the person is told
    # how to run on that day.
    again = runner.invoke(app, ["chat", "--today", "2027-03-04"], input="")
    assert again.exit_code == 0, again.output
    note = " ".join(again.output.split())
    assert "dated for 2027-03-01 when it was loaded, and today is 2027-03-04" in note
    assert "3 days older" in note and "--today 2027-03-01" in note
    same = runner.invoke(app, ["chat", "--today", "2027-03-01"], input="")
    assert same.exit_code == 0 and "dated for" not in same.output


def test_today_takes_a_day_on_the_commands_that_run_the_agent(env: Path) -> None:
    for command in ("serve", "chat"):
        shown = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert "--today" in shown.output and "YYYY-MM-DD" in shown.output
        wrong = CliRunner().invoke(app, [command, "--today", "25.11.2026"])
        assert wrong.exit_code == 2 and "--today" in wrong.output


def test_bad_catalog_exits_non_zero_and_writes_nothing(env: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.jsonl"
    good = (DEMO_DATA_DIR / "catalog.jsonl").read_text("utf-8").splitlines()[0]
    bad = json.loads(good)
    del bad["price"]
    catalog.write_text(good + "\n" + json.dumps(bad) + "\n", "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "csba.cli", "ingest", "--catalog", str(catalog)],
        capture_output=True, text=True, env={"CSBA_DATA_DIR": str(env), "PATH": ""}, check=False)
    assert result.returncode == 1
    assert f"{catalog}:2" in result.stderr and "price" in result.stderr
    assert "nothing was written" in result.stderr
    assert not env.exists()


def test_ingest_without_files_explains_itself(env: Path) -> None:
    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 2 and "nothing to ingest" in result.output


def test_every_command_has_help() -> None:
    for command in ("ingest", "search", "serve", "chat", "seller-token"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


@pytest.mark.slow
def test_chat_talks_to_the_agent_over_the_demo_data(env: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "csba.cli", "chat", "--email", DELIVERED_BEDDING_DE.customer_email],
        input=f"Wo ist meine Bestellung {DELIVERED_BEDDING_DE.order_id}?\n", capture_output=True,
        text=True, env={"CSBA_DATA_DIR": str(env), "PATH": "", "HF_HUB_OFFLINE": "1",
                        "COLUMNS": "200"}, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "agent>" in result.stdout and "zugestellt" in result.stdout
    assert "answered; order_status" in result.stdout
    # Not a terminal: the demo's embedding is said in a line at its start and one at its end.
    assert re.search(r"embedding the demo pages: [\d,]+ chunks to embed", result.stderr)
    assert re.search(r"embedding the demo pages: [\d,]+ chunks embedded in [\d.]+ s",
                     result.stderr)


def test_seller_token_is_issued_for_known_sellers_only(env: Path) -> None:
    from agent.db import Store, make_engine
    from agent.records import Seller
    from base.jsonl import read_jsonl
    from portal.auth import seller_for_token

    store = Store(make_engine(f"sqlite:///{env / 'csba.sqlite3'}"))
    store.save(sellers=read_jsonl(DEMO_DATA_DIR / "sellers.jsonl", Seller))
    runner = CliRunner()
    issued = runner.invoke(app, ["seller-token", "A1LICHTWERK"])
    assert issued.exit_code == 0
    token = issued.stdout.strip()  # alone on stdout, for a script
    assert seller_for_token(store, token) == "A1LICHTWERK"
    assert runner.invoke(app, ["seller-token", "NOPE"]).exit_code == 1


def test_seller_token_says_where_to_use_it(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.db import make_engine
    from agent.records import Seller
    from base.jsonl import read_jsonl

    store = Store(make_engine(f"sqlite:///{env / 'csba.sqlite3'}"))
    store.save(sellers=read_jsonl(DEMO_DATA_DIR / "sellers.jsonl", Seller))
    monkeypatch.setenv("CSBA_PUBLIC_BASE_URL", "https://service.example.com/")
    issued = CliRunner().invoke(app, ["seller-token", "A1LICHTWERK"], env={"COLUMNS": "300"})
    assert issued.exit_code == 0
    token, said = issued.stdout.strip(), issued.stderr
    assert token.startswith("csba_")
    assert "shown this once" in said
    assert "sign in at https://service.example.com/seller with the token" in said
    assert f"Authorization: Bearer {token}" in said
    assert "https://service.example.com/v1/seller/cases" in said
