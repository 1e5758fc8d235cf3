"""``python -m benchmarks.channels``: every channel end to end over HTTP on loopback.

A real ``csba serve`` process per scale (the demo data alone, then the demo data added to the
cached 10k and 100k generated catalogs), with its outbound mail and Twilio calls going to
loopback stand-ins. Measured, per scale:

- turn latency p50/p95 of each channel (chat API, SMS and voice webhooks, raw-MIME email
  webhook), one request at a time, as the client sees it (so server time plus loopback HTTP);
- the single-embedding floor (``embed_query`` of the same texts) in this process, in the same
  run, right before and after the channel turns;
- 50 chat conversations at once (bounded thread pool, loopback only): turns/s and the
  latency of each turn;
- the peak RSS (``VmHWM``) of the server and of its model process.

The figures go to ``var/bench/channels-last.json`` and into ``docs/benchmarks.md`` as its
section d (written after ``benchmarks.run``, which rewrites the rest of the page).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx
from rich.progress import Progress
from twilio.request_validator import RequestValidator

from base.jsonl import read_jsonl
from benchmarks.agent_turn import TURNS
from benchmarks.generate import DEFAULT_SEED, catalog_batches
from benchmarks.page import turn_target_row, write_section, write_target_row
from benchmarks.workers import PAGES_PER_BATCH, ROOT, bench_settings, percentile
from channels.web_chat import SECRET_HEADER
from csba.serving import default_workers
from seller.ingest import DEMO_DATA_DAY, DEMO_DATA_DIR
from tests.scale.serving import (
    TWILIO_TOKEN,
    WEBHOOK_TOKEN,
    ServerProcess,
    child_pids,
    server_env,
)
from tests.support.identity import chat_token
from tests.support.mail import running_relay
from tests.support.postgres import PostgresUnavailable, fresh_database, running_cluster
from tests.support.twilio import ACCOUNT, running_recorder

DEFAULT_SCALES = ("demo", "10000", "100000")
TARGET_SCALE = "100000"
CHANNELS = ("chat", "sms", "voice", "email")
LINES = {"DE": "+4930555010200", "ES": "+34910000000", "UK": "+442079460000",
         "US": "+12025550100"}
LATENCY_FACTOR_TARGET = 3.0
VOICE_TARGET_MS = 300.0
CONCURRENT_TARGET_MS = 1000.0  # back to back: the server saturated, a queue of 50
PACED_TARGET_MS = 300.0  # paced as customers: a turn answers while they read
# A customer reads the reply and types the next line: seconds, even in a quick chat. The paced
# load waits this long between a conversation's turns, and starts the conversations spread over
# one pause, as open conversations are; the back-to-back load sends each turn the moment the
# last is answered, so it measures the server's throughput and its queue.
PACE_SECONDS = 3.0
MARKER = "## d. Channels end to end"
RETRY_SECONDS = 0.5


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": statistics.median(values),
            "p95_ms": percentile(values, 0.95), "max_ms": max(values)}


# --- data dirs -------------------------------------------------------------------------------

def data_dir_for(scale: str, seed: int, cache: Path) -> Path:
    """The demo data, alone or added to a cached generated catalog; made once and reused."""
    target = cache / f"channels-{scale}-{seed}"
    if (target / "ready.json").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if scale != "demo":
        base = cache / f"{scale}-{seed}"
        # benchmarks.run builds and caches the generated catalog; build it here if it did not.
        subprocess.run([sys.executable, "-m", "benchmarks.workers", "build", "--scale", scale,
                        "--seed", str(seed), "--data-dir", str(base), "--result",
                        str(cache / f"build-{scale}.json")], check=True, cwd=ROOT, env=env)
        shutil.copytree(base, target)
    csba = shutil.which("csba") or str(Path(sys.executable).with_name("csba"))
    subprocess.run([csba, "ingest", "--catalog", str(DEMO_DATA_DIR / "catalog.jsonl"),
                    "--orders", str(DEMO_DATA_DIR / "orders.jsonl"),
                    "--sellers", str(DEMO_DATA_DIR / "sellers.jsonl")],
                   check=True, cwd=ROOT, env={**env, "CSBA_DATA_DIR": str(target)},
                   stdout=subprocess.DEVNULL)
    (target / "ready.json").write_text(json.dumps({"scale": scale, "seed": seed}), "utf-8")
    return target


def postgres_records(server_url: str, data_dir: Path, scale: str, seed: int) -> str:
    """A fresh PostgreSQL database holding the scale's catalog and the demo records, as a
    deployment that moved its store there would: the lexical leg is the database's, so it
    must hold every page the vectors hold (the vectors stay the data dir's Chroma: nothing is
    embedded again)."""
    database_url = fresh_database(server_url)
    if scale != "demo":
        register_catalog(data_dir, database_url, int(scale), seed)
    csba = shutil.which("csba") or str(Path(sys.executable).with_name("csba"))
    subprocess.run([csba, "ingest", "--catalog", str(DEMO_DATA_DIR / "catalog.jsonl"),
                    "--orders", str(DEMO_DATA_DIR / "orders.jsonl"),
                    "--sellers", str(DEMO_DATA_DIR / "sellers.jsonl")],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   env={**os.environ, "CSBA_DATA_DIR": str(data_dir),
                        "CSBA_DATABASE_URL": database_url})
    return database_url


def register_catalog(data_dir: Path, database_url: str, scale: int, seed: int) -> None:
    """The generated catalog of ``scale`` chunks registered in the database's lexical leg,
    batch by batch, beside the vectors the data dir's collection already holds."""
    from knowledge.chunks import Chunk
    from knowledge.index import KnowledgeIndex

    def refuse(chunks: Sequence[Chunk]) -> list[list[float]]:
        raise RuntimeError(f"{len(chunks)} chunks of the cached catalog have no vector in "
                           f"{data_dir}: delete it, the next run builds it again")

    index = KnowledgeIndex.open(bench_settings(data_dir, database_url=database_url))
    try:
        with Progress(transient=True) as bar:
            task = bar.add_task(f"registering {scale:,} chunks in PostgreSQL", total=scale)
            for batch in catalog_batches(scale, seed, PAGES_PER_BATCH):
                report = index.sync(batch, embed=refuse)
                bar.advance(task, report.added + report.unchanged)
    finally:
        index.close()


@contextmanager
def serving(data_dir: Path, scratch: Path, database_url: str | None = None, *,
            workers: int = 1) -> Iterator[ServerProcess]:
    """A server on a copy of the records (the turns write conversations; the cache stays
    clean), or on a PostgreSQL database, and on the cached index itself (only read);
    ``workers`` server processes on its port."""
    if database_url is None:
        database = scratch / "csba.sqlite3"
        shutil.copy2(data_dir / "csba.sqlite3", database)
        database_url = f"sqlite:///{database}"
    with running_relay() as relay, running_recorder() as recorder:
        env = server_env(database_url=database_url, smtp_url=relay.url,
                         twilio_api_base=recorder.url, fast_recovery=False)
        kind = "postgres" if database_url.startswith("postgres") else "sqlite"
        log = data_dir.parent / f"{data_dir.name}-{kind}-server.log"  # kept: why turns failed
        log.unlink(missing_ok=True)
        server = ServerProcess(data_dir, log, env, workers=workers)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def indexed_chunks(server: ServerProcess) -> int:
    return int(httpx.get(f"{server.url}/healthz", timeout=30).json()["chunks"])


# --- one turn on each channel ----------------------------------------------------------------

class Customers:
    """The demo customers of the benchmark's turns: email, phone and marketplace by order."""

    def __init__(self) -> None:
        from agent.records import Order

        self.orders = {o.order_id: o for o in read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order)}

    def phone(self, order_id: str) -> str:
        return self.orders[order_id].customer.phone or "+15555550100"

    def line(self, order_id: str) -> str:
        return LINES.get(self.orders[order_id].marketplace, LINES["US"])


class Turns:
    """Sends one turn on a channel and times it; every id is new, so no turn is a replay."""

    def __init__(self, server: ServerProcess, customers: Customers) -> None:
        self.server, self.customers = server, customers
        self.http = httpx.Client(base_url=server.url, timeout=60)
        self.validator = RequestValidator(TWILIO_TOKEN)
        self.count = 0

    def _next(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{time.time_ns()}{self.count:06d}"

    def _signed(self, path: str, params: dict[str, str]) -> httpx.Response:
        signature = self.validator.compute_signature(self.server.url + path, params)
        return self.http.post(path, data=params, headers={"X-Twilio-Signature": signature})

    def chat(self, order_id: str, email: str, text: str) -> float:
        made = self.http.post("/v1/conversations", json={
            "email": email, "identity_token": chat_token(email, TOKEN_LIFETIME)})
        conversation = made.json()["conversation_id"]
        started = time.perf_counter()
        answer = self.http.post(f"/v1/conversations/{conversation}/messages", json={
            "text": f"{text} ({order_id})", "client_message_id": self._next("c")},
            headers={SECRET_HEADER: made.json()["conversation_secret"]})
        elapsed = _ms(started)
        answer.raise_for_status()
        return elapsed

    def sms(self, order_id: str, email: str, text: str) -> float:
        params = {"MessageSid": self._next("SM"), "AccountSid": ACCOUNT,
                  "From": self.customers.phone(order_id), "To": self.customers.line(order_id),
                  "Body": f"{text} ({order_id})", "NumMedia": "0"}
        started = time.perf_counter()
        answer = self._signed("/twilio/messaging", params)
        elapsed = _ms(started)
        answer.raise_for_status()
        return elapsed

    def voice(self, order_id: str, email: str, text: str) -> float:
        call = {"CallSid": self._next("CA"), "AccountSid": ACCOUNT,
                "From": self.customers.phone(order_id), "To": self.customers.line(order_id)}
        self._signed("/twilio/voice", call).raise_for_status()  # the greeting, not timed
        started = time.perf_counter()
        answer = self._signed("/twilio/voice/turn", {**call, "SpeechResult": text})
        elapsed = _ms(started)
        answer.raise_for_status()
        return elapsed

    def email(self, order_id: str, email: str, text: str) -> float:
        mail = EmailMessage()
        mail["From"], mail["To"] = email, "service@csba.example"
        mail["Subject"], mail["Message-ID"] = f"Order {order_id}", make_msgid(domain="bench")
        mail.set_content(f"{text}\n\nOrder {order_id}")
        started = time.perf_counter()
        answer = self.http.post("/email/inbound", content=bytes(mail), headers={
            "Content-Type": "message/rfc822", "Authorization": f"Bearer {WEBHOOK_TOKEN}"})
        elapsed = _ms(started)
        answer.raise_for_status()
        return elapsed


def embedding_floor(texts: list[str], rounds: int) -> list[float]:
    from benchmarks.workers import model_name
    from knowledge.embeddings import load_embeddings

    model = load_embeddings(model_name())  # the model the server runs
    for text in texts[:3]:
        model.embed_query(text)  # warm up
    samples = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            model.embed_query(text)
            samples.append(_ms(started))
    return samples


def concurrent_chats(server: ServerProcess, conversations: int, turns: int,
                     pause: float = 0.0) -> dict[str, Any]:
    """``conversations`` customers chatting at once, ``turns`` turns each, one after another,
    ``pause`` seconds apart (untimed); with a pause, conversation n starts n/conversations of a
    pause late."""
    customers = [(o, e, t) for o, e, t in TURNS]

    retries: list[int] = []

    def conversation(n: int) -> list[float]:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            order_id, email, _ = customers[n % len(customers)]
            login = {"email": email, "identity_token": chat_token(email, TOKEN_LIFETIME)}
            made = http.post("/v1/conversations", json=login)
            while made.status_code >= 500:  # opening a chat is safe to repeat
                retries.append(n)
                time.sleep(RETRY_SECONDS)
                made = http.post("/v1/conversations", json=login)
            conversation_id = made.json()["conversation_id"]
            secret = {SECRET_HEADER: made.json()["conversation_secret"]}
            times = []
            time.sleep(pause * n / conversations)
            for i in range(turns):
                if i:
                    time.sleep(pause)
                text = customers[(n + i) % len(customers)][2]
                started = time.perf_counter()
                while True:
                    answer = http.post(f"/v1/conversations/{conversation_id}/messages",
                                       json={"text": f"{text} ({order_id})",
                                             "client_message_id": f"load-{pause}-{n}-{i}"},
                                       headers=secret)
                    # 503 asks the client to send again with the same id, as the chat page
                    # does after a pause; the customer waits through it, so it is timed. A
                    # 500 is retried the same way (the id makes it safe) and counted too.
                    if answer.status_code < 500:
                        break
                    retries.append(n)
                    time.sleep(RETRY_SECONDS)
                times.append(_ms(started))
                answer.raise_for_status()
            return times

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=conversations) as pool:
        every = [t for times in pool.map(conversation, range(conversations)) for t in times]
    seconds = time.perf_counter() - started
    return {"conversations": conversations, "turns": len(every), "seconds": seconds,
            "pause_s": pause,
            "turns_per_s": len(every) / seconds, "retried_5xx": len(retries),
            **summary(every)}


def measure_scale(scale: str, seed: int, cache: Path, rounds: int, customers: Customers,
                  postgres: str | None, *, sqlite_load: bool) -> dict[str, Any]:
    data_dir = data_dir_for(scale, seed, cache)
    texts = [text for _, _, text in TURNS]
    with tempfile.TemporaryDirectory(prefix="csba-ch-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        server = stack.enter_context(serving(data_dir, scratch))
        assert server.proc is not None
        chunks = indexed_chunks(server)
        turns = Turns(server, customers)
        senders: dict[str, Callable[[str, str, str], float]] = {
            "chat": turns.chat, "sms": turns.sms, "voice": turns.voice, "email": turns.email}
        for turn in TURNS:  # warm up every path once, untimed: the first of each kind of
            for send in senders.values():  # turn compiles its queries and loads its data
                send(*turn)
        floor = embedding_floor(texts, 2)
        latency: dict[str, list[float]] = {name: [] for name in CHANNELS}
        for _ in range(rounds):
            for order_id, email, text in TURNS:
                for name in CHANNELS:
                    latency[name].append(senders[name](order_id, email, text))
        floor += embedding_floor(texts, 2)
        turns.http.close()
        # SQLite's one writer, not the index, bounds this load: measured once, at the first
        # scale, since its turns wait on each other's locks for up to 30 s.
        load = concurrent_chats(server, 50, 4) if sqlite_load else None
        paced = concurrent_chats(server, 50, 4, PACE_SECONDS) if sqlite_load else None
        rss = peak_rss_mb(server.proc.pid)
        model_rss = sum(peak_rss_mb(child) for child in child_pids(server.proc.pid))
        stack.close()
        # SQLite has one writer; the same load on PostgreSQL, the several-workers database.
        on_postgres = paced_postgres = postgres_workers = None
        if postgres:
            database_url = postgres_records(postgres, data_dir, scale, seed)
            # As `csba serve` runs on PostgreSQL by default: a worker per core.
            postgres_workers = default_workers(database_url)
            with serving(data_dir, scratch, database_url,
                         workers=postgres_workers) as pg_server:
                concurrent_chats(pg_server, 5, 1)  # warm up, untimed
                on_postgres = concurrent_chats(pg_server, 50, 4)
                paced_postgres = concurrent_chats(pg_server, 50, 4, PACE_SECONDS)
    return {"scale": scale, "chunks": chunks, "floor": summary(floor),
            "channels": {name: summary(values) for name, values in latency.items()},
            "concurrent": load, "concurrent_postgres": on_postgres,
            "concurrent_paced": paced, "concurrent_postgres_paced": paced_postgres,
            "postgres_workers": postgres_workers,
            "server_peak_rss_mb": rss, "model_peak_rss_mb": model_rss}


# --- report ----------------------------------------------------------------------------------

def section(figures: dict[str, Any]) -> str:
    scales: dict[str, Any] = figures["scales"]
    lines = [MARKER, ""]
    add = lines.append
    add(f"Written by `python -m benchmarks.channels` (`make bench`), "
        f"{figures['started']}, {figures['rounds']} rounds of the {len(TURNS)} turns of "
        "`benchmarks/agent_turn.py` per channel and scale; load average "
        f"{figures['load'][0]} at the start, {figures['load'][1]} at the end. A real "
        "`csba serve` per scale (its model in a process of its own, as it runs by default), "
        "its mail and Twilio calls going to loopback stand-ins; "
        "latency is the client's (server time plus loopback HTTP), one request at a time, "
        "each turn a new message. The floor is `embed_query` of the same texts in the "
        "benchmark's process, right before and after the channel turns. Scales: the demo "
        "data alone, then the demo data added to the cached generated catalogs.")
    add("")
    target = scales.get(TARGET_SCALE)
    if target:
        floor = target["floor"]["p50_ms"]
        worst = max(target["channels"].values(), key=lambda s: s["p95_ms"])["p95_ms"]
        voice = target["channels"]["voice"]["p95_ms"]
        add("| target | figure | goal | result |")
        add("|---|---|---|---|")
        add(f"| turn p95 at {target['chunks']:,} chunks, slowest channel | {worst:.0f} ms = "
            f"{worst / floor:.1f}x the {floor:.1f} ms floor | <= {LATENCY_FACTOR_TARGET:.0f}x "
            f"floor | {verdict(worst <= LATENCY_FACTOR_TARGET * floor)} |")
        add(f"| voice webhook p95 | {voice:.0f} ms | < {VOICE_TARGET_MS:.0f} ms | "
            f"{verdict(voice < VOICE_TARGET_MS)} |")
        first = next(iter(scales.values()))
        for database, key, where in (
                ("SQLite", "concurrent", first["chunks"]),
                ("PostgreSQL", "concurrent_postgres", target["chunks"])):
            at = first if database == "SQLite" else target
            for how, load, goal in (
                    ("paced", at.get(f"{key}_paced"), PACED_TARGET_MS),
                    ("back to back", at.get(key), CONCURRENT_TARGET_MS)):
                if load:
                    add(f"| 50 concurrent chat conversations on {database} ({where:,} chunks), "
                        f"{how}, turn p95 | "
                        f"{load['p95_ms']:.0f} ms ({load['turns_per_s']:.1f} turns/s, "
                        f"{load['retried_5xx']} 5xx retried) | < {goal:.0f} ms "
                        f"on 2 cores | {verdict(load['p95_ms'] < goal)} |")
        add("")
    add("Turn latency by channel, p50 / p95 in ms, beside the floor (embedding p50 / p95):")
    add("")
    add("| scale | chunks | floor | " + " | ".join(CHANNELS) + " | slowest p95 / floor | "
        "peak RSS, server + model process |")
    add("|---|---|---|" + "---|" * len(CHANNELS) + "---|---|")
    for name, s in scales.items():
        cells = [f"{s['channels'][c]['p50_ms']:.0f} / {s['channels'][c]['p95_ms']:.0f}"
                 for c in CHANNELS]
        worst = max(s["channels"][c]["p95_ms"] for c in CHANNELS)
        add(f"| {name} | {s['chunks']:,} | {s['floor']['p50_ms']:.1f} / "
            f"{s['floor']['p95_ms']:.1f} | " + " | ".join(cells) +
            f" | {worst / s['floor']['p50_ms']:.1f}x | {s['server_peak_rss_mb']:,.0f} + "
            f"{s.get('model_peak_rss_mb', 0):,.0f} MiB |")
    add("")
    if not any(s.get("concurrent") or s.get("concurrent_postgres") for s in scales.values()):
        add("The 50-conversation load was not run this time (`--no-sqlite-load`, "
            "`--no-postgres`).")
        add("")
        return "\n".join(lines)
    workers = sorted({s["postgres_workers"] for s in scales.values()
                      if s.get("postgres_workers")})
    add("50 chat conversations at once (4 turns each, a thread per conversation; a 5xx is "
        "sent again with the same id after 0.5 s, and the turn's time includes the wait). "
        f"Paced: {PACE_SECONDS:.0f} s between a conversation's turns (a customer reading and "
        "typing), the conversations' starts spread over one pause. Back to back: the next turn "
        "the moment the last is answered, so the 50 keep the server saturated and a turn's "
        "time is mostly its place in the queue (50 / turns per second). On SQLite one server "
        "process, on PostgreSQL a worker per core: `csba serve`'s default on each"
        + (f" ({', '.join(map(str, workers))} here):" if workers else ":"))
    add("")
    add("| scale | database | load | turns | turns/s | p50 ms | p95 ms | max ms | 5xx retried |")
    add("|---|---|---|---|---|---|---|---|---|")
    for name, s in scales.items():
        for database, key in (("SQLite", "concurrent"), ("PostgreSQL", "concurrent_postgres")):
            for how, load in (("paced", s.get(f"{key}_paced")), ("back to back", s.get(key))):
                if not load:
                    continue
                add(f"| {name} | {database} | {how} | {load['turns']} | "
                    f"{load['turns_per_s']:.1f} | {load['p50_ms']:.0f} | {load['p95_ms']:.0f} | "
                    f"{load['max_ms']:.0f} | {load['retried_5xx']} |")
    add("")
    return "\n".join(lines)


def verdict(passed: bool) -> str:
    return "**PASS**" if passed else "**FAIL**"


# The servers' clock starts at the demo day and runs on: logins stay valid for a long run.
TOKEN_LIFETIME = timedelta(hours=23)


def optional_cluster(stack: ExitStack) -> str | None:
    """A throwaway PostgreSQL cluster's URL, held open by ``stack``, for the PostgreSQL
    figures; None (and a word on stderr) when none can be started here."""
    try:
        return stack.enter_context(running_cluster())
    except PostgresUnavailable as exc:
        print(f"no PostgreSQL figures: {exc}", file=sys.stderr)  # noqa: T201
        return None


def main(argv: list[str] | None = None) -> int:
    # The servers answer on the demo data's own day (they inherit this), whatever the run's date.
    os.environ.setdefault("CSBA_CLOCK_START", f"{DEMO_DATA_DAY.isoformat()}T10:00:00+00:00")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.channels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default=",".join(DEFAULT_SCALES),
                        help="comma-separated: demo and/or generated chunk counts")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the turns per channel")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-postgres", action="store_true",
                        help="skip the concurrent load on PostgreSQL")
    parser.add_argument("--no-sqlite-load", action="store_true",
                        help="skip the concurrent load on SQLite (its turns wait on each "
                             "other's locks: minutes)")
    parser.add_argument("--rewrite", action="store_true",
                        help="put section d back from the last run's figures (after "
                             "benchmarks.run rewrote the page), measuring nothing")
    args = parser.parse_args(argv)
    if args.rewrite:
        last = json.loads((args.cache_dir / "channels-last.json").read_text("utf-8"))
        write_section(args.output, section(last), MARKER)
        write_turn_target(args.output, last)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load_start = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    customers = Customers()
    scales: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        postgres = None if args.no_postgres else optional_cluster(stack)
        for scale in args.scales.split(","):
            print(f"channels at scale {scale} ...", file=sys.stderr)  # noqa: T201 - progress
            scales[scale] = measure_scale(scale, args.seed, args.cache_dir, args.rounds,
                                          customers, postgres,
                                          sqlite_load=not scales and not args.no_sqlite_load)
            print(json.dumps(scales[scale]["channels"]), file=sys.stderr)  # noqa: T201
    figures = {"started": started, "rounds": args.rounds, "scales": scales,
               "load": [load_start, " / ".join(f"{v:.2f}" for v in os.getloadavg())]}
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    (args.cache_dir / "channels-last.json").write_text(json.dumps(figures, indent=2), "utf-8")
    write_section(args.output, section(figures), MARKER)
    write_turn_target(args.output, figures)
    return 0


def write_turn_target(output: Path, figures: dict[str, Any]) -> None:
    """Section d's target also goes into the page's Targets table, beside a-c."""
    row = turn_target_row(figures, TARGET_SCALE)
    if row:
        write_target_row(output, row)


if __name__ == "__main__":
    sys.exit(main())
