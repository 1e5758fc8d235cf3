"""A real server process of the HTTP surface: ``csba serve``'s app, logging and uvicorn, on a
data dir with no pages (nothing is ingested, so it starts in seconds).

``python -m tests.support.http_server PORT`` reads the ``CSBA_`` environment like ``csba
serve``; ``HttpServer`` starts it, waits for it and reads its log and resident memory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.net import answers, free_port


@dataclass
class HttpServer:
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        env = {**os.environ, **self.env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.http_server", str(self.port)],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        if not answers(f"{self.url}/healthz", self.proc, timeout):
            self.stop()
            raise RuntimeError(f"the server did not start:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def rss_bytes(self) -> int:
        """The server process's resident memory now, from /proc."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line in /proc status")


def main(port: int) -> None:
    import uvicorn

    from base.logs import configure_logging
    from base.settings import Settings
    from channels.app import create_app

    settings = Settings()
    configure_logging(settings.log_format)
    app = create_app(settings, load_demo_if_empty=False, smtp_server=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
