"""A throwaway Redis server on loopback for the tests of the shared rate limits.

The server is Debian's ``redis-server``, started on a free port in a temp dir with nothing
written to disk (``--save '' --appendonly no``), so a test can stop it mid-run as an outage
would and nothing of one session's counts outlives it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.net import free_port


class RedisUnavailable(RuntimeError):
    """No Redis server can be started on this machine; the message says why."""


@dataclass
class RedisServer:
    """One ``redis-server`` in ``root`` on ``port``: ``stop`` ends it (a Redis outage, for
    the client), ``start`` starts it again on the same port, empty."""

    binary: str
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        log = self.root / "server.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", str(self.root), "--save", "", "--appendonly", "no"],
                stdout=out, stderr=subprocess.STDOUT)
        if not _pings(self.url, self.proc, timeout):
            self.stop()
            tail = log.read_text(errors="replace")[-500:]
            raise RedisUnavailable(f"redis-server did not answer PING: {tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)

    def flush(self) -> None:
        """Forget every count: each test starts on an empty server."""
        with self.client() as client:
            client.flushall()


def _pings(url: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
        while True:
            try:
                if client.ping():
                    return True
            except redis.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A fresh server answering PING; stopped and its directory removed afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable(
            "redis-server not found: install Debian's redis-server package (make system-deps)")
    server = RedisServer(binary, Path(tempfile.mkdtemp(prefix="csba-redis-")))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
