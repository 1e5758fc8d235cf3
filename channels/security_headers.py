"""Security headers on every response, and a Content-Security-Policy each HTML page works under.

Every response says ``nosniff``, may not be framed and sends no referrer. An HTML page gets a
policy that allows exactly its own inline ``<script>`` and ``<style>`` elements, by their
SHA-256 hashes computed from the page as it is sent: the chat page and the portal keep working
however they change, and a script injected into a page runs nowhere. Nothing else on the
response is touched.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Inline elements only: a <script src=...> is covered by 'self'.
_INLINE = re.compile(rb"<(script|style)\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</\1\s*>",
                     re.IGNORECASE | re.DOTALL)
# FastAPI's /docs and /redoc load their bundles from jsDelivr and Redoc runs a blob: worker.
DOCS_PATHS = ("/docs", "/redoc")
_DOCS_CDN = "https://cdn.jsdelivr.net"

EVERY_RESPONSE: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # A JSON answer opened as a document runs nothing and can be framed by no one.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def inline_hashes(html: bytes) -> dict[str, list[str]]:
    """CSP source expressions of the page's inline scripts and styles, by element name."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for match in _INLINE.finditer(html):
        digest = base64.b64encode(hashlib.sha256(match.group(2)).digest()).decode("ascii")
        source = f"'sha256-{digest}'"
        kind = match.group(1).lower().decode("ascii")
        if source not in hashes[kind]:
            hashes[kind].append(source)
    return hashes


def page_policy(html: bytes, *, docs: bool = False) -> str:
    """The Content-Security-Policy of one HTML page."""
    hashes = inline_hashes(html)
    cdn = f" {_DOCS_CDN}" if docs else ""
    directives = [
        "default-src 'none'",
        "script-src " + " ".join(["'self'", *hashes["script"]]) + cdn,
        "style-src " + " ".join(["'self'", *hashes["style"]]) + cdn,
        # style="..." attributes (the hand-over form's inputs) cannot run code.
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:" + (" https://fastapi.tiangolo.com" if docs else ""),
        # 'self' covers the chat's same-origin WebSocket (ws: and wss:) too.
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    if docs:
        directives.append("worker-src blob:")
    return "; ".join(directives)


class SecurityHeaders:
    """ASGI middleware: ``EVERY_RESPONSE``'s headers, and an HTML page's own policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope["path"]).startswith(DOCS_PATHS)
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_RESPONSE.items():
                    headers.setdefault(name, value)
                if not headers.get("content-type", "").lower().startswith("text/html"):
                    await send(message)
                    return
                start = message  # held until the page is whole: its hashes go in a header
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            page = b"".join(chunks)
            headers = MutableHeaders(scope=start)
            headers["Content-Security-Policy"] = page_policy(page, docs=docs)
            await send(start)
            await send({"type": "http.response.body", "body": page, "more_body": False})

        await self.app(scope, receive, send_with_headers)
