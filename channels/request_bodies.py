"""Request bodies bounded and checked before any route reads them.

Every body is counted as it streams in: a declared ``Content-Length`` over the route's limit
is refused with 413 at once, a chunked one as soon as the count passes the limit, so an
oversized body is never held whole. A JSON body is then checked as text (UTF-8, no lone
surrogate, no NUL, bounded numbers and nesting) so no byte sequence reaches SQLite, the logs
or the agent. Refusals name the rule and the place in the body, never the bytes sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.mime import MAX_MESSAGE_BYTES
from channels.twilio_auth import MAX_FORM_BYTES
from seller.evidence import MAX_PHOTO_BYTES, MAX_PHOTOS

# Deeper than any request model of the service by far; Python's parser recurses per level.
MAX_JSON_DEPTH = 32
# A number token longer than this is no amount, count or id any route takes.
MAX_NUMBER_CHARS = 40
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
# A claim's description and order fields, and the multipart framing around its photos.
_FORM_FIELDS_BYTES = 64 * 1024


@dataclass(frozen=True)
class BodyLimits:
    """The most bytes a request body may have, by route kind.

    ``default`` covers every JSON, form and bodiless route; ``by_path`` raises it for the
    routes that take more (raw mail, photo uploads), by path prefix; the longest prefix wins.
    """

    default: int
    by_path: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.default <= 0:
            raise ValueError(f"the default body limit must be > 0 bytes, got {self.default}")
        for prefix, limit in self.by_path.items():
            if limit <= 0:
                raise ValueError(f"the body limit of {prefix} must be > 0 bytes, got {limit}")

    def for_path(self, path: str) -> int:
        matches = [p for p in self.by_path if path.startswith(p)]
        return self.by_path[max(matches, key=len)] if matches else self.default


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes its limit: FastAPI re-raises an
    HTTPException met while reading a body, so the route answers 413 and reads no further."""

    def __init__(self, limit: int) -> None:
        # The rest of the body stays unread: the connection cannot carry another request.
        super().__init__(413, refusal("body_too_large", too_large_message(limit)),
                         headers={"Connection": "close"})


def refusal(rule: str, message: str) -> dict[str, str]:
    """The service's refusal body: ``{"detail": {"rule", "message"}}``'s detail."""
    return {"rule": rule, "message": message}


def too_large_message(limit: int) -> str:
    return f"the request body is larger than {limit} bytes, the limit of this route"


class JsonProblem(ValueError):
    """Why a JSON body is refused: a rule and a message that never quote the body."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def _bounded_number(token: str) -> float | int:
    if len(token) > MAX_NUMBER_CHARS:
        raise JsonProblem("json_number", f"a number has {len(token)} characters; "
                                         f"at most {MAX_NUMBER_CHARS}")
    if any(c in token for c in ".eE"):
        value = float(token)
        if not math.isfinite(value):
            raise JsonProblem("json_number", "a number is too large to be represented")
        return value
    return int(token)


def _no_constant(name: str) -> Any:
    raise JsonProblem("json_number", f"{name} is not a JSON number")


def _where(path: tuple[str | int, ...], what: str) -> str:
    """``body.items[2].name``; a key that is no field name (it may be text) is not quoted."""
    out = what
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if _FIELD_NAME.fullmatch(part) else ".<key>"
    return out


def _walk(value: Any, what: str) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, string) of every key and string in a parsed document, without recursion."""
    stack: list[tuple[tuple[str | int, ...], Any, int]] = [((), value, 1)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                yield path, key
                stack.append(((*path, key), child, depth + 1))
        elif isinstance(item, list):
            stack.extend(((*path, i), child, depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str):
            yield path, item
        if depth > MAX_JSON_DEPTH:
            raise JsonProblem("json_depth", f"the {what} nests deeper than "
                                            f"{MAX_JSON_DEPTH} levels")


def check_json_text(body: bytes) -> None:
    """Raise ``JsonProblem`` unless ``body`` is JSON every part of the service can store."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonProblem("json_encoding", f"the body is not UTF-8 (byte {exc.start} is "
                                           "invalid)") from None
    parse_json_text(text)


def parse_json_text(text: str, what: str = "body") -> Any:
    """``text`` parsed as JSON every part of the service can store (a WebSocket frame, a
    body); ``JsonProblem`` names the rule and the place in the ``what``, never the text."""
    try:
        document = json.loads(text, parse_int=_bounded_number, parse_float=_bounded_number,
                              parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JsonProblem("json_syntax", f"the {what} is not JSON: {exc.msg} at line "
                                         f"{exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise JsonProblem("json_depth", f"the {what} nests deeper than {MAX_JSON_DEPTH} "
                                        "levels") from None
    for path, string in _walk(document, what):
        if "\x00" in string:
            raise JsonProblem("json_text", f"{_where(path, what)} holds a NUL character "
                                           "(\\u0000)")
        try:
            string.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonProblem("json_text", f"{_where(path, what)} holds a lone surrogate "
                                           "escape (\\ud800-\\udfff without its pair): not "
                                           "Unicode text") from None
    return document


def check_form_text(body: bytes) -> None:
    """A URL-encoded form whose every field is UTF-8 text without NUL (which no database
    column of PostgreSQL can hold); ``JsonProblem`` names the rule, never a value."""
    try:
        fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                           errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise JsonProblem("form_encoding", "the form is not URL-encoded UTF-8 text") from None
    if any("\x00" in name or "\x00" in value for name, value in fields):
        raise JsonProblem("form_text", "a form field holds a NUL character (%00)")


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _is_json(content_type: str) -> bool:
    media = _media(content_type)
    return media == "application/json" or media.endswith("+json")


class RequestBodyGuard:
    """ASGI middleware: every HTTP request body bounded by ``limits``, JSON bodies and
    URL-encoded forms checked as text."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(413, "body_too_large", too_large_message(limit), scope, receive, send)
            return
        content_type = headers.get("content-type", "")
        check = (check_json_text if _is_json(content_type) else check_form_text
                 if _media(content_type) == "application/x-www-form-urlencoded" else None)
        if check is not None:
            body = await _read_bounded(receive, limit)
            if body is None:
                await _refuse(413, "body_too_large", too_large_message(limit), scope, receive,
                              send)
                return
            if body:
                try:
                    check(body)
                except JsonProblem as problem:
                    await _refuse(400, problem.rule, str(problem), scope, receive, send)
                    return
            await self.app(scope, _replay(body, receive), send)
            return
        await self.app(scope, _counted(receive, limit), send)


async def _read_bounded(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` (the rest is never read)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return bytes(body)
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # the route waits for a disconnect, as it would have
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _counted(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return counted


async def _refuse(status: int, rule: str, message: str, scope: Scope, receive: Receive,
                  send: Send) -> None:
    response = JSONResponse({"detail": refusal(rule, message)}, status_code=status,
                            headers={"Connection": "close"})
    await response(scope, receive, send)


def service_body_limits(default: int) -> BodyLimits:
    """The service's limits: ``default`` (CSBA_MAX_BODY_BYTES) for JSON, forms and bodiless
    routes; raw mail and claim photos their own, larger ones; Twilio's forms their own."""
    uploads = MAX_PHOTOS * MAX_PHOTO_BYTES + _FORM_FIELDS_BYTES
    return BodyLimits(default=default, by_path={
        "/email/inbound": max(MAX_MESSAGE_BYTES, default),
        "/twilio/": max(MAX_FORM_BYTES, default),
        "/v1/seller/claims": max(uploads, default),
        "/seller/claims": max(uploads, default),
    })
