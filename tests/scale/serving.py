"""Real ``csba serve`` processes for the crash and multi-worker tests: a prepared data dir,
a server that can be SIGKILLed and started again on it, and the loopback parts it talks to.

Ingesting the demo catalog embeds every page (a minute on two cores), so a data dir is
prepared once with the US pages only and copied for each server that needs its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.db import Store
from base.settings import Settings
from knowledge.index import KnowledgeIndex
from seller.ingest import DEMO_DATA_DIR, ingest, read_inputs
from tests.support.dns import shared_test_dns
from tests.support.identity import CHAT_IDENTITY_SECRET
from tests.support.mail_auth import AUTHSERV_ID
from tests.support.net import answers, free_port

TWILIO_TOKEN = "scale-auth-token-0123456789abcdef"
WEBHOOK_TOKEN = "scale-webhook-token-0123456789"
MARKETPLACE = "US"


def prepare_data_dir(data_dir: Path, *, database_url: str | None = None,
                     chroma_url: str | None = None) -> None:
    """The demo sellers and orders and the marketplace's pages, ingested as ``csba ingest``
    would; what a server started on ``data_dir`` finds (it loads nothing itself)."""
    catalog = data_dir.parent / f"{data_dir.name}-catalog.jsonl"
    lines = (DEMO_DATA_DIR / "catalog.jsonl").read_text(encoding="utf-8").splitlines()
    catalog.write_text("".join(line + "\n" for line in lines
                               if json.loads(line)["marketplace"] == MARKETPLACE),
                       encoding="utf-8")
    settings = Settings(data_dir=data_dir, database_url=database_url,
                        chroma_url=chroma_url,  # type: ignore[arg-type]  # validated to a URL
                        _env_file=None)  # type: ignore[call-arg]
    store, index = Store.from_settings(settings), KnowledgeIndex.open(settings)
    try:
        ingest(read_inputs(catalogs=[catalog], orders=DEMO_DATA_DIR / "orders.jsonl",
                           sellers=DEMO_DATA_DIR / "sellers.jsonl"), store, index)
    finally:
        index.close()
        store.engine.dispose()


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started, read from /proc: a server's model process, or the
    worker processes of ``csba serve --workers N`` (and the supervisor's helper)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:  # ended meanwhile
            continue
        if any(line.split() == ["PPid:", str(pid)] for line in lines):
            found.append(int(status.parent.name))
    return found


def copy_data_dir(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@dataclass
class ServerProcess:
    """One ``csba serve`` process; ``kill`` is SIGKILL (no shutdown code runs), ``start``
    starts a new process on the same data dir, database and ports."""

    data_dir: Path
    log_path: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # ``csba serve --workers``: None leaves it to the server (CSBA_SERVE_WORKERS, else the
    # cores); the tests that kill "the server" mean one process and ask for 1.
    workers: int | None = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> None:
        env = {**os.environ, **self.env, "CSBA_DATA_DIR": str(self.data_dir),
               "CSBA_SMTP_PORT": str(self.smtp_port),
               "CSBA_PUBLIC_BASE_URL": self.url, "HF_HUB_OFFLINE": "1",
               # mail senders are checked against the test DNS, as in the test process
               "CSBA_DNS_NAMESERVER": shared_test_dns().nameserver,
               "CSBA_EMAIL_AUTHSERV_ID": AUTHSERV_ID,
               "TRANSFORMERS_OFFLINE": "1"}
        exe = shutil.which("csba") or str(Path(sys.executable).with_name("csba"))
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [exe, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 *(["--workers", str(self.workers)] if self.workers else [])],
                env=env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        if not answers(f"{self.url}/healthz", self.proc, timeout):
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"csba serve did not start (see {self.log_path}):\n{tail}")

    def worker_pids(self) -> set[int]:
        """The worker processes of ``--workers N``: the server's children that run a model
        process of their own (the supervisor's other child, multiprocessing's resource
        tracker, runs none)."""
        assert self.proc is not None
        return {pid for pid in child_pids(self.proc.pid) if child_pids(pid)}

    def log_lines(self) -> list[dict[str, Any]]:
        """The server's JSON log lines (``CSBA_LOG_FORMAT=json``), every process's."""
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:  # a traceback's lines, a line of a library's own
                continue
            if isinstance(record, dict):
                lines.append(record)
        return lines

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def server_env(*, database_url: str, smtp_url: str, twilio_api_base: str,
               chroma_url: str | None = None, redis_url: str | None = None,
               fast_recovery: bool = True) -> dict[str, str]:
    """The settings of a test server: loopback relay and Twilio recorder, known tokens, no
    rate limit in the way of the load, the rate limits' counts in ``redis_url`` when given,
    and (for the crash tests) recovery within seconds."""
    env = {"CSBA_DATABASE_URL": database_url, "CSBA_SMTP_URL": smtp_url,
           "CSBA_TWILIO_API_BASE": twilio_api_base,
           "CSBA_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
           "CSBA_TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "CSBA_EMAIL_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
           "CSBA_RATE_LIMIT": "10000/minute", "CSBA_LOG_FORMAT": "json",
           "CSBA_CHAT_START_LIMIT": "10000/minute", "CSBA_CHAT_MESSAGE_LIMIT": "10000/minute",
           "CSBA_CHAT_IDENTITY_SECRET": CHAT_IDENTITY_SECRET}
    if chroma_url:
        env["CSBA_CHROMA_URL"] = chroma_url
    if redis_url:
        env["CSBA_REDIS_URL"] = redis_url
    if fast_recovery:
        env["CSBA_STRANDED_AFTER_SECONDS"] = "3"
        env["CSBA_OUTBOX_CLAIM_SECONDS"] = "5"
    return env
