"""A local stand-in for Twilio's REST API: an HTTP server on loopback that records what the
real ``twilio`` client sends it and answers as Twilio's Messages resource does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT = "AC0123456789abcdef0123456789abcdef"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


class RecorderServer(ThreadingHTTPServer):
    recorded: list[Recorded]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _RecorderHandler(BaseHTTPRequestHandler):
    server: RecorderServer

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = parse_qs(body, keep_blank_values=True)
        self.server.recorded.append(Recorded("POST", self.path, dict(self.headers.items()),
                                             form))
        payload = json.dumps({"sid": f"SM{len(self.server.recorded):032d}", "status": "queued",
                              "to": form.get("To", [""])[0], "from": form.get("From", [""])[0],
                              "body": form.get("Body", [""])[0],
                              "account_sid": ACCOUNT}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the recorder keeps what it received; the test output stays clean


@contextmanager
def running_recorder() -> Iterator[RecorderServer]:
    server = RecorderServer(("127.0.0.1", 0), _RecorderHandler)
    server.recorded = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
