"""Running a dataset: a fresh agent on exactly the given data, every case through ``Agent.handle``.

The data is ingested once into a temporary data dir (the index is the slow part); each case
then starts from a copy of the freshly loaded database, so no case sees another's refunds,
cases or conversations and the order of the dataset changes nothing. Results are written and
flushed case by case: an interrupted run keeps what it did. A case that crashes the agent is
recorded with its traceback and the run goes on.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TextIO

from langchain_core.embeddings import Embeddings

from agent.db import Store, make_engine
from agent.messages import InboundMessage, Reply
from agent.understanding import warm_up
from base.blas import one_blas_thread
from base.settings import Settings
from evals.baseline import PlainRetrieval
from evals.dataset import EvalCase, fill_customers
from evals.groundedness import Records, Sentence, evidence_for, judge
from evals.scoring import check_reply
from knowledge.index import KnowledgeIndex
from seller.ingest import IngestInput, ingest

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
BASELINE_RESULTS = "baseline_results.jsonl"
# Later turns of a case arrive this much after the one before (the first at the case's now).
TURN_INTERVAL = timedelta(seconds=5)

Handle = Callable[[InboundMessage], Reply]


class Responder(Protocol):
    """What answers a case: the agent, the baseline, or a test's stand-in."""

    def handle(self, msg: InboundMessage) -> Reply: ...


AgentFactory = Callable[[Store, KnowledgeIndex], Responder]


@dataclass
class CaseResult:
    """One line of results.jsonl: the contract fields, then extensions."""

    id: str
    passed: bool
    failures: list[str]
    replies: list[Reply]
    latency_ms: list[float]
    error: str | None = None
    sentences: list[Sentence] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "passed": self.passed, "failures": self.failures,
            "replies": [r.model_dump(mode="json") for r in self.replies],
            "latency_ms": [round(v, 2) for v in self.latency_ms], "error": self.error,
            "grounded_sentences": sum(s.grounded for s in self.sentences),
            "sentences": len(self.sentences),
            "ungrounded": [{"sentence": s.text, "unsupported": list(s.unsupported)}
                           for s in self.sentences if not s.grounded],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CaseResult:
        return cls(id=raw["id"], passed=raw["passed"], failures=list(raw["failures"]),
                   replies=[Reply.model_validate(r) for r in raw.get("replies", [])],
                   latency_ms=[float(v) for v in raw.get("latency_ms", [])],
                   error=raw.get("error"))


@dataclass
class CaseRun:
    case: EvalCase
    agent: CaseResult
    baseline: CaseResult


def sender_of(case: EvalCase) -> str:
    """The identity the channel carries: a phone number on phone and messaging, else email."""
    email, phone = case.customer.email, case.customer.phone
    if case.channel in {"sms", "voice"}:
        return phone or email or f"unknown:{case.id}"
    if case.channel == "whatsapp":
        return f"whatsapp:{phone}" if phone else email or f"unknown:{case.id}"
    return email or phone or f"session:{case.id}"


def messages(case: EvalCase) -> Iterator[InboundMessage]:
    sender = sender_of(case)
    for number, text in enumerate(case.turns):
        yield InboundMessage(
            channel=case.channel, sender=sender, text=text, thread_key=f"eval:{case.id}",
            received_at=case.now + number * TURN_INTERVAL,
            provider_message_id=f"eval:{case.id}:{number}", marketplace=case.marketplace,
            # A case's customer is the identity its channel proved (the contract's ``customer``).
            verified_contact=sender,
            order_id=case.order_id)


def play(case: EvalCase, handle: Handle) -> tuple[list[Reply], list[float], str | None]:
    """Feed the case's turns one by one; stop at the first crash and keep its traceback."""
    replies: list[Reply] = []
    latencies: list[float] = []
    for msg in messages(case):
        started = time.perf_counter()
        try:
            reply = handle(msg)
        except Exception:  # noqa: BLE001 - any crash is a result to report, not a stop
            log.warning("case %s crashed on turn %d", case.id, len(replies) + 1)
            return replies, latencies, traceback.format_exc()
        latencies.append((time.perf_counter() - started) * 1000)
        replies.append(reply)
    return replies, latencies, None


def score(case: EvalCase, replies: list[Reply], latencies: list[float], error: str | None,
          records: Records) -> CaseResult:
    failures: list[str] = []
    if error is not None:
        failures.append(f"error on turn {len(replies) + 1}: "
                        f"{error.strip().splitlines()[-1]}")
    multi = case.expect_per_turn is not None
    for turn, expect in case.expectations():
        reply = replies[turn] if turn < len(replies) else None
        prefix = f"turn {turn + 1}: " if multi else ""
        failures += [prefix + c.detail for c in check_reply(expect, reply) if not c.passed]
    sentences: list[Sentence] = []
    for turn, reply in enumerate(replies):
        context = [*case.turns[:turn + 1], case.order_id or ""]
        judged = judge(reply, evidence_for(reply, records, context))
        sentences += judged
        failures += [f"turn {turn + 1}: ungrounded: {s.text}" for s in judged if not s.grounded]
    return CaseResult(id=case.id, passed=not failures, failures=failures, replies=replies,
                      latency_ms=latencies, error=error, sentences=sentences)


def _write(handle: TextIO, result: CaseResult) -> None:
    handle.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    handle.flush()


def eval_settings(base: Settings, data_dir: Path) -> Settings:
    """The base settings (embedding model, optional LLM) on an empty data dir of its own: never
    a configured database or Chroma server, whose data is not the dataset's."""
    return base.model_copy(update={"data_dir": data_dir, "database_url": None,
                                   "chroma_url": None})


def fresh_copy(pristine: Path, workdir: Path, name: str) -> Path:
    """A copy of the loaded SQLite database ``pristine`` as ``workdir/name``, with whatever
    an earlier run left under that name (its journal and WAL files included) gone first."""
    copy = workdir / name
    for leftover in workdir.glob(f"{name}*"):
        leftover.unlink()
    with sqlite3.connect(pristine) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    source.close()
    target.close()
    return copy


@contextmanager
def loaded_data(settings: Settings, work: Path, data: IngestInput,
                embeddings: Embeddings | None) -> Iterator[tuple[Settings, KnowledgeIndex, Path]]:
    """The data ingested once under ``work/data``: the settings there, the index (closed on
    leaving) and the loaded SQLite database each case or conversation runs on a copy of."""
    here = eval_settings(settings, work / "data")
    (work / "data").mkdir()
    index = KnowledgeIndex.open(here, embeddings=embeddings)
    try:
        loader = Store(make_engine(here.resolved_database_url))
        ingest(data, loader, index)
        loader.engine.dispose()
        # Train the intent model now, so the first turn's latency is a turn's, not a
        # training's.
        warm_up()
        one_blas_thread()  # as in the server (base/blas.py)
        yield here, index, here.data_dir / "csba.sqlite3"
    finally:
        index.close()


@contextmanager
def _case_store(pristine: Path, workdir: Path) -> Iterator[Store]:
    copy = fresh_copy(pristine, workdir, "case.sqlite3")
    engine = make_engine(f"sqlite:///{copy}")
    try:
        yield Store(engine)
    finally:
        engine.dispose()


def _agent(settings: Settings, store: Store, index: KnowledgeIndex) -> Responder:
    from agent.core import Agent  # the agent's models load when a run starts, not on import

    return Agent.from_settings(settings, store, index)


def run_dataset(cases: list[EvalCase], data: IngestInput, out_dir: Path, *, settings: Settings,
                embeddings: Embeddings | None = None, make_agent: AgentFactory | None = None,
                on_case: Callable[[CaseRun], None] | None = None,
                on_stage: Callable[[str], None] | None = None) -> list[CaseRun]:
    """Run every case on the agent and on the baseline; write both results files as it goes."""

    out_dir.mkdir(parents=True, exist_ok=True)
    cases = fill_customers(cases, data.orders)
    records = Records.of(data.pages, data.orders)
    runs: list[CaseRun] = []
    with tempfile.TemporaryDirectory(prefix="csba-eval-") as tmp:
        work = Path(tmp)
        if on_stage:
            on_stage("loading the data")
        with loaded_data(settings, work, data, embeddings) as (here, index, pristine):
            build = make_agent or (lambda store, idx: _agent(here, store, idx))
            baseline = PlainRetrieval(index, records.orders)
            with (out_dir / RESULTS).open("w", encoding="utf-8") as agent_out, \
                    (out_dir / BASELINE_RESULTS).open("w", encoding="utf-8") as base_out:
                if on_stage:
                    on_stage("running the cases")
                for case in cases:
                    with _case_store(pristine, work) as store:
                        agent = build(store, index)
                        result = score(case, *play(case, agent.handle), records)
                    base = score(case, *play(case, baseline.handle), records)
                    _write(agent_out, result)
                    _write(base_out, base)
                    run = CaseRun(case, result, base)
                    runs.append(run)
                    if on_case:
                        on_case(run)
    return runs


def read_results(path: Path) -> list[CaseResult]:
    with path.open(encoding="utf-8") as handle:
        return [CaseResult.from_json(json.loads(line)) for line in handle if line.strip()]
