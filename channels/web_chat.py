"""The web chat: a JSON chat API, the chat page's WebSocket, and later replies pushed to it.

A conversation has a public id (its thread key, fine in a URL and a log) and a secret that
reads or writes it, sent in a header or a frame, never in a URL; only a hash of the secret is
stored. Who the customer is comes from a token the host site signed (channels/chat_identity.py),
never from a typed address. A client's own message id makes a retried send idempotent. Keeps
only open sockets and rate-limit counts in memory, never state.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal, NoReturn, Self, get_args

from fastapi import APIRouter, Header, HTTPException, Query, Request, WebSocket
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from limits.storage import Storage
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from agent.db import Store
from agent.messages import MAX_TEXT_CHARS, InboundMessage, Reply
from agent.models import ConversationRow, MessageRow, OutboxRow, PageRow
from agent.records import ORDER_ID_PATTERN
from base.clock import Clock, as_utc, wall_clock
from base.money import Marketplace
from base.settings import Settings
from channels.base import Delivery, MessageHandler
from channels.chat_identity import MAX_TOKEN_CHARS, InvalidIdentity, verify_identity
from channels.chat_strings import languages, page_language, say, strings_for
from channels.citations import RULE_PATTERN, field_label, presented, rule_description
from channels.email_out import SmtpSender
from channels.rate_limit import SenderRateLimiter
from channels.request_bodies import JsonProblem, parse_json_text
from channels.unavailable import RETRY_AFTER
from knowledge.pages import ASIN_PATTERN, ProductPage

log = logging.getLogger(__name__)

CHANNEL: Final = "chat"
STATIC = Path(__file__).parent / "static"
PAGE = STATIC / "chat.html"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
MAX_FRAME_CHARS = 3 * MAX_TEXT_CHARS  # a message frame's text plus its envelope, generously
PUSH_TIMEOUT = 10.0  # seconds a later reply may take to reach an open socket
SECRET_HEADER = "X-Conversation-Secret"
SECRET_KEY = "secret_sha256"  # where a conversation's state keeps the hash of its secret
DEFAULT_START_LIMIT = "10/minute;100/day"
DEFAULT_MESSAGE_LIMIT = "30/minute;600/day"
# WebSocket close codes (RFC 6455): the frame was not valid data, or too big to take.
CLOSE_INVALID_DATA, CLOSE_TOO_BIG = 1007, 1009


# The conversation's secret: in a header, so no URL (and no access log) ever holds it.
Secret = Annotated[str | None, Header(alias=SECRET_HEADER, max_length=100,
                                      description="the conversation_secret")]


class ConversationIn(BaseModel):
    """How a chat starts: the marketplace's page says where, and who, when it knows."""

    model_config = ConfigDict(extra="forbid")

    marketplace: Marketplace | None = None
    # Where later replies may be mailed when the customer is not connected. It proves
    # nothing: only ``identity_token`` says who the customer is.
    email: Annotated[str | None, Field(max_length=320, pattern=EMAIL_PATTERN)] = None
    order_id: Annotated[str | None, Field(pattern=ORDER_ID_PATTERN)] = None
    identity_token: Annotated[str | None, Field(
        min_length=1, max_length=MAX_TOKEN_CHARS,
        description="the logged-in customer, signed by the host site: "
                    "v1.<expires>.<contact>.<hex HMAC-SHA256 of what precedes it>")] = None


class ConversationOut(BaseModel):
    conversation_id: str  # public: goes in URLs
    marketplace: str | None
    order_id: str | None
    identified: bool  # a signed identity token was verified
    created_at: datetime
    conversation_secret: str = Field(description=f"send it in the {SECRET_HEADER} header to "
                                                 "read or write this conversation; shown once")


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    client_message_id: str = Field(min_length=1, max_length=100, pattern=CLIENT_ID_PATTERN,
                                   description="the client's id; a retry with it is answered "
                                               "once, with the same reply")


class HelloFrame(ConversationIn):
    type: Literal["hello"]
    conversation_id: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    conversation_secret: Annotated[str | None, Field(min_length=1, max_length=100)] = None


class MessageFrame(MessageIn):
    type: Literal["message"]


class HistoryItem(BaseModel):
    """One entry of a conversation as its customer sees it again after a reconnect."""

    type: Literal["message", "follow_up"]
    at: datetime
    text: str
    client_message_id: str | None = None
    reply: Reply | None = None
    id: int | None = None  # a follow-up's outbox id: the page shows each one once
    case_id: str | None = None


_pages = Environment(loader=FileSystemLoader(STATIC), autoescape=select_autoescape(),
                     undefined=StrictUndefined)


def chat_page_html(marketplace: str | None) -> str:
    """The chat page for a marketplace: ``<html lang>``, every string in its language, and
    the marketplace chosen in the page when it is one of ours."""
    language = page_language(marketplace)
    code = (marketplace or "").upper()
    known = {mp: page_language(mp) for mp in get_args(Marketplace)}
    return _pages.get_template(PAGE.name).render(
        lang=language, t=strings_for(language), marketplaces=known,
        marketplace=code if code in known else "")


def page_language_of(lang: str) -> str:
    """A language asked for in a link, when the page has it; English otherwise."""
    return lang if lang in languages() else "en"


def cited_page(language: str, heading: str, text: str, *, product: str = "",
               status: int = 200) -> HTMLResponse:
    html = _pages.get_template("cited.html").render(
        lang=language, t=strings_for(language), heading=heading, text=text, product=product)
    return HTMLResponse(html, status_code=status)


class NotConnected(Exception):
    """A later reply for a chat customer who is neither connected nor reachable by email."""


class TooManyRequests(Exception):
    """Over a chat limit (per client IP or per identity); ``retry_after`` in seconds."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"too many {what}; try again in {retry_after} s")
        self.retry_after = retry_after


def validation_code(error: ValidationError) -> str:
    """What a page tells its customer about a refused frame, as a code it has words for."""
    for item in error.errors():
        where = [str(p) for p in item["loc"]]
        if "email" in where:
            return "invalid_email"
        if "text" in where:
            return "text_too_long" if item["type"] == "string_too_long" else "text_empty"
    return "invalid_frame"


def validation_message(error: ValidationError) -> str:
    """Pydantic's errors as one line that names each field: ``text: String should ...``."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"] if p not in {"body"}) or "frame"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def provider_message_id(key: str, client_message_id: str) -> str:
    return f"{key}:{client_message_id}"


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_conversation(store: Store, start: ConversationIn, now: datetime,
                      verified: str | None = None) -> tuple[ConversationRow, str]:
    """A new conversation under a fresh public id and its secret (returned once, stored as a
    hash); ``verified`` is the contact a signed token proved."""
    key, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    mail_to = verified if verified and "@" in verified else (start.email or "").lower()
    row = ConversationRow(
        id=uuid.uuid4().hex, channel=CHANNEL, thread_key=key, contact=mail_to or key,
        marketplace=start.marketplace, order_id=start.order_id, verified_contact=verified,
        misunderstood=0, state={SECRET_KEY: _secret_hash(secret)}, created_at=now,
        updated_at=now)
    with store.sessions.begin() as session:
        session.add(row)
    log.info("chat conversation %s opened (identified=%s)", row.id, verified is not None)
    return row, secret


def find_conversation(store: Store, key: str, secret: str | None) -> ConversationRow | None:
    """The conversation with this public id, only for the holder of its secret: a wrong
    secret and an unknown id are the same answer."""
    if not secret:
        return None
    with store.reads() as session:
        conv = session.scalar(select(ConversationRow).where(
            ConversationRow.channel == CHANNEL, ConversationRow.thread_key == key))
    stored = str((conv.state or {}).get(SECRET_KEY) or "") if conv else ""
    if conv is None or not hmac.compare_digest(stored, _secret_hash(secret)):
        return None
    return conv


def _reply_for(conv: ConversationRow, stored: dict[str, Any]) -> Reply:
    # The client knows its conversation by the session key; the row id stays internal. Its
    # citations read in the language of the page the conversation's marketplace opens.
    reply = Reply.model_validate({**stored, "conversation_id": conv.thread_key})
    return presented(reply, page_language(conv.marketplace))


def conversation_history(store: Store, conv: ConversationRow) -> list[HistoryItem]:
    """The customer's messages with their replies, and the later replies (seller answers)."""
    key = conv.thread_key
    with store.reads() as session:
        messages = session.scalars(select(MessageRow).where(
            MessageRow.conversation_id == conv.id).order_by(MessageRow.id))
        items = [HistoryItem(
            type="message", at=as_utc(m.received_at), text=m.text,
            client_message_id=m.provider_message_id.removeprefix(f"{key}:"),
            reply=_reply_for(conv, m.reply) if m.reply else None) for m in messages]
        follow_ups = session.scalars(select(OutboxRow).where(
            OutboxRow.meta["conversation_id"].as_string() == conv.id).order_by(OutboxRow.id))
        items += [HistoryItem(type="follow_up", at=as_utc(row.created_at), text=row.body,
                              id=row.id, case_id=row.meta.get("case_id"))
                  for row in follow_ups]
    return sorted(items, key=lambda item: item.at)


class SocketRegistry:
    """Open chat sockets of this process by session key, so a later reply can be pushed.

    With several server processes a later reply reaches only sockets of the process that
    sends it; the others raise and the outbox retries (or mails, when there is an address).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: dict[str, list[tuple[asyncio.AbstractEventLoop, WebSocket]]] = {}

    def add(self, key: str, socket: WebSocket) -> None:
        with self._lock:
            self._sockets.setdefault(key, []).append((asyncio.get_running_loop(), socket))

    def remove(self, key: str, socket: WebSocket) -> None:
        with self._lock:
            left = [(lp, s) for lp, s in self._sockets.get(key, []) if s is not socket]
            if left:
                self._sockets[key] = left
            else:
                self._sockets.pop(key, None)

    def push(self, key: str, frame: dict[str, Any]) -> int:
        """Send a frame to every open socket of a conversation from a worker thread; returns
        how many took it."""
        with self._lock:
            targets = list(self._sockets.get(key, []))
        delivered = 0
        for loop, socket in targets:
            if _in_loop(loop):
                # Waiting here for the loop that would do the sending can only deadlock.
                raise RuntimeError("push a later reply from a worker thread, not the event loop")
            future = asyncio.run_coroutine_threadsafe(socket.send_json(frame), loop)
            try:
                future.result(timeout=PUSH_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - a dead socket is skipped; others may take it
                log.warning("push to a chat socket failed: %s", type(exc).__name__)
                continue
            delivered += 1
        return delivered


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class WebChatChannel:
    """The chat adapter. ``store`` defaults to the app's (``app.state.store``) at request time."""

    name = CHANNEL

    def __init__(self, store: Store | None = None, *, mail: SmtpSender | None = None,
                 clock: Clock = wall_clock, identity_secret: str | None = None,
                 start_limit: str = DEFAULT_START_LIMIT,
                 message_limit: str = DEFAULT_MESSAGE_LIMIT,
                 limits: Storage | None = None) -> None:
        self.store = store
        self.mail = mail
        self.clock = clock
        self.identity_secret = identity_secret
        # A new conversation per guess must not escape the limits: they count per client IP
        # and per identity, not per conversation alone.
        self.start_limiter = SenderRateLimiter(start_limit, limits, "chat_start")
        self.message_limiter = SenderRateLimiter(message_limit, limits, "chat_message")
        self.sockets = SocketRegistry()

    @classmethod
    def from_settings(cls, settings: Settings, *, mail: SmtpSender | None = None,
                      limits: Storage | None = None) -> Self:
        """``mail``: the process's shared sender; by default the channel makes its own.
        ``limits``: the process's rate-limit storage; by default its own memory."""
        secret = settings.chat_identity_secret
        return cls(mail=mail or SmtpSender(settings.smtp_url), clock=settings.clock,
                   identity_secret=secret.get_secret_value() if secret else None,
                   start_limit=settings.chat_start_limit,
                   message_limit=settings.chat_message_limit, limits=limits)

    def start(self, store: Store, start: ConversationIn, client_ip: str
              ) -> tuple[ConversationRow, str]:
        """Open a conversation: the identity token checked (``InvalidIdentity``), the client's
        IP and the identity within their limits (``TooManyRequests``)."""
        verified = verify_identity(self.identity_secret, start.identity_token, self.clock()) \
            if start.identity_token else None
        keys = [f"ip:{client_ip}"] + ([f"id:{verified}"] if verified else [])
        wait = self.start_limiter.wait(keys)
        if wait:
            log.warning("chat start refused: over the limit")
            raise TooManyRequests("new chats", wait)
        return open_conversation(store, start, self.clock(), verified)

    def admit(self, store: Store, conv: ConversationRow, message: MessageIn,
              client_ip: str) -> None:
        """Count a new message against its client's IP and its conversation's identity;
        a resent message already stored counts nothing."""
        msg_id = provider_message_id(conv.thread_key, message.client_message_id)
        if store.has_message(CHANNEL, msg_id):
            return
        wait = self.message_limiter.wait(
            [f"ip:{client_ip}", f"id:{conv.verified_contact or conv.id}"])
        if wait:
            log.warning("chat message refused in conversation %s: over the limit", conv.id)
            raise TooManyRequests("messages", wait)

    def _store(self, connection: HTTPConnection) -> Store:
        store = self.store or getattr(connection.app.state, "store", None)
        if store is None:
            raise RuntimeError("WebChatChannel needs a store: pass one or set app.state.store")
        return store

    # --- later replies ------------------------------------------------------------------

    def send(self, row: Delivery) -> None:
        """Push a later reply (a seller's answer) to the customer's open chat; when they are
        not connected, mail it if the conversation has an email identity, else raise so the
        outbox retries until they come back."""
        key = str(row.meta.get("thread_key") or "")
        frame = {"type": "follow_up", "id": row.id, "text": row.body,
                 "case_id": row.meta.get("case_id")}
        if key and self.sockets.push(key, frame):
            log.info("outbox row %s pushed to an open chat", row.id)
            return
        if "@" in row.recipient and self.mail is not None:
            self.mail.send(row)
            log.info("outbox row %s mailed: the chat customer is not connected", row.id)
            return
        raise NotConnected(f"the chat customer of outbox row {row.id} is not connected")

    # --- routes -------------------------------------------------------------------------

    def router(self, handle: MessageHandler) -> APIRouter:
        router = APIRouter()

        def answer(store: Store, conv: ConversationRow, message: MessageIn) -> Reply:
            key = conv.thread_key
            msg_id = provider_message_id(key, message.client_message_id)
            with store.reads() as session:
                earlier = session.scalar(select(MessageRow.text).where(
                    MessageRow.channel == CHANNEL, MessageRow.provider_message_id == msg_id))
            if earlier is not None and earlier != message.text:
                raise HTTPException(409, "client_message_id was already used for a different "
                                         "text; use a new id for a new message")
            inbound = InboundMessage(
                channel=CHANNEL, sender=conv.contact, text=message.text, thread_key=key,
                received_at=self.clock(), provider_message_id=msg_id,
                marketplace=conv.marketplace, verified_contact=conv.verified_contact)
            reply = handle(inbound).model_copy(update={"conversation_id": key})
            return presented(reply, page_language(conv.marketplace))

        @router.get("/", include_in_schema=False)
        def chat_page(marketplace: str | None = None) -> HTMLResponse:
            """The chat page in the language of the marketplace it is opened for
            (``/?marketplace=DE``); an unknown or missing one gets the English page."""
            return HTMLResponse(chat_page_html(marketplace))

        def too_many(exc: TooManyRequests) -> HTTPException:
            return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)})

        def conversation(request: Request, conversation_id: str, secret: str | None
                         ) -> ConversationRow:
            if not secret:
                raise HTTPException(401, f"the conversation's secret is required in the "
                                         f"{SECRET_HEADER} header")
            conv = find_conversation(self._store(request), conversation_id, secret)
            if conv is None:
                raise HTTPException(404, "no such conversation with this secret; create one "
                                         "with POST /v1/conversations")
            return conv

        @router.post("/v1/conversations", status_code=201, tags=["chat"], responses={
            400: {"description": "the identity token is malformed, forged or expired"},
            429: {"description": "too many new chats from this client or identity"}})
        def create_conversation(request: Request, start: ConversationIn | None = None
                                ) -> ConversationOut:
            """Start a chat. ``conversation_id`` is public; ``conversation_secret`` (returned
            only here) goes in the X-Conversation-Secret header of every later request."""
            start = start or ConversationIn()
            client_ip = request.client.host if request.client else "-"
            try:
                row, secret = self.start(self._store(request), start, client_ip)
            except InvalidIdentity as exc:
                raise HTTPException(400, str(exc)) from None
            except TooManyRequests as exc:
                raise too_many(exc) from None
            return ConversationOut(conversation_id=row.thread_key, marketplace=row.marketplace,
                                   order_id=row.order_id,
                                   identified=row.verified_contact is not None,
                                   created_at=row.created_at, conversation_secret=secret)

        @router.post("/v1/conversations/{conversation_id}/messages", tags=["chat"], responses={
            401: {"description": "the X-Conversation-Secret header is missing"},
            404: {"description": "no conversation with this id and secret"},
            409: {"description": "client_message_id was used for another text"},
            429: {"description": "too many messages from this client or identity"},
            503: {"description": "not answered now; send again with the same id"}})
        def post_message(request: Request, message: MessageIn,
                         conversation_id: Annotated[str, PathParam(max_length=100)],
                         secret: Secret = None) -> Reply:
            """Send a customer message; the reply is the contract's Reply. Sending again with
            the same ``client_message_id`` returns the same reply and stores nothing new."""
            store = self._store(request)
            conv = conversation(request, conversation_id, secret)
            try:
                self.admit(store, conv, message,
                           request.client.host if request.client else "-")
            except TooManyRequests as exc:
                raise too_many(exc) from None
            try:
                return answer(store, conv, message)
            except HTTPException:
                raise
            except Exception as exc:
                # The message is stored; the same client_message_id processes it again.
                log.exception("chat turn failed in conversation %s", conv.id)
                raise HTTPException(503, "the message could not be answered now; send it "
                                         "again with the same client_message_id",
                                    headers=RETRY_AFTER) from exc

        @router.get("/v1/conversations/{conversation_id}/messages", tags=["chat"], responses={
            401: {"description": "the X-Conversation-Secret header is missing"},
            404: {"description": "no conversation with this id and secret"}})
        def get_history(request: Request,
                        conversation_id: Annotated[str, PathParam(max_length=100)],
                        secret: Secret = None) -> list[HistoryItem]:
            """The conversation so far: messages, replies and later replies; only for the
            holder of its secret."""
            conv = conversation(request, conversation_id, secret)
            return conversation_history(self._store(request), conv)

        @router.get("/v1/knowledge/pages/{asin}", tags=["knowledge"])
        def product_page(request: Request, asin: Annotated[str, PathParam(pattern=ASIN_PATTERN)],
                         marketplace: Annotated[Marketplace | None, Query()] = None
                         ) -> dict[str, Any]:
            """A product page as indexed, with its citable fields (what citations point to)."""
            with self._store(request).reads() as session:
                query = select(PageRow.data).where(PageRow.asin == asin)
                if marketplace:
                    query = query.where(PageRow.marketplace == marketplace)
                data = session.scalar(query.order_by(PageRow.marketplace))
            if data is None:
                raise HTTPException(404, f"no product page {asin}")
            page = ProductPage.model_validate(data)
            return {**page.model_dump(mode="json"), "fields": dict(page.fields())}

        @router.get("/cited/product/{asin}", include_in_schema=False)
        def cited_field(request: Request,
                        asin: Annotated[str, PathParam(pattern=ASIN_PATTERN)],
                        field: Annotated[str, Query(max_length=120)],
                        lang: Annotated[str, Query(max_length=8)] = "en") -> HTMLResponse:
            """What a citation of a product page shows its reader: the product's title and
            the cited field's text, under the field's name in the page's language."""
            language = page_language_of(lang)
            with self._store(request).reads() as session:
                data = session.scalar(select(PageRow.data).where(PageRow.asin == asin)
                                      .order_by(PageRow.marketplace))
            page = ProductPage.model_validate(data) if data is not None else None
            text = page.field_text(field) if page else None
            if page is None or text is None:
                return cited_page(language, say(language, "view_not_found"), "", status=404)
            name = say(language, "cite_seller_answer") if field.startswith("seller_answers") \
                else f"{say(language, 'cite_product_page')}: {field_label(field, language)}"
            return cited_page(language, name, text, product=page.title)

        @router.get("/cited/policy/{rule}", include_in_schema=False)
        def cited_rule(rule: Annotated[str, PathParam(pattern=RULE_PATTERN)],
                       lang: Annotated[str, Query(max_length=8)] = "en") -> HTMLResponse:
            """A policy rule a reply cites, in plain words in the page's language."""
            language = page_language_of(lang)
            heading, text = rule_description(rule, language)
            return cited_page(language, heading, text)

        @router.websocket("/v1/chat")
        async def chat_socket(socket: WebSocket) -> None:
            await socket.accept()
            store = self._store(socket)
            session = ChatSocket(self, store, socket, answer)
            try:
                await session.run()
            except WebSocketDisconnect:
                pass
            finally:
                if session.conv is not None:
                    self.sockets.remove(session.conv.thread_key, socket)

        return router


class ChatSocket:
    """One open chat page: a hello that opens or resumes a conversation, then messages."""

    def __init__(self, channel: WebChatChannel, store: Store, socket: WebSocket,
                 answer: Callable[[Store, ConversationRow, MessageIn], Reply]) -> None:
        self.channel, self.store, self.socket, self.answer = channel, store, socket, answer
        self.conv: ConversationRow | None = None

    async def error(self, message: str, code: str = "invalid_frame", **extra: Any) -> None:
        """An error frame: ``message`` says precisely what was wrong, for a developer;
        ``code`` is what the page shows its customer in their language (``invalid_email``,
        ``text_empty``, ``text_too_long``, ``too_many``, ``identity``, ``not_answered``,
        ``no_hello``, ``duplicate_id``, ``invalid_frame``)."""
        await self.socket.send_json({"type": "error", "message": message, "code": code,
                                     **extra})

    async def close(self, code: int, reason: str) -> NoReturn:
        """End the socket with a close frame saying why; what was stored stays stored and a
        page that reconnects resumes the conversation."""
        log.info("chat socket closed with %d", code)
        await self.socket.close(code, reason[:120])  # a close reason has at most 123 bytes
        raise WebSocketDisconnect(code)

    async def run(self) -> None:
        while True:
            event = await self.socket.receive()
            if event["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(event.get("code", 1000))
            raw = event.get("text")
            if raw is None:
                await self.close(CLOSE_INVALID_DATA, "frames must be text: JSON objects")
            if len(raw) > MAX_FRAME_CHARS:
                await self.close(CLOSE_TOO_BIG, f"frame too large: {len(raw)} characters, "
                                                f"at most {MAX_FRAME_CHARS}")
            try:
                frame = parse_json_text(raw, "frame")
            except JsonProblem as problem:
                # A frame that is not JSON at all is a broken client: close, saying why.
                if problem.rule == "json_syntax":
                    await self.close(CLOSE_INVALID_DATA, "frames must be JSON objects")
                if problem.rule == "json_depth":
                    await self.close(CLOSE_INVALID_DATA, "frame nested too deeply")
                # JSON whose text cannot be stored (a lone surrogate, a NUL, a huge number):
                # the frame is refused and the conversation goes on.
                await self.error(str(problem))
                continue
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "hello":
                await self.hello(frame)
            elif kind == "message":
                await self.message(frame)
            else:
                await self.error(f"unknown frame type {kind!r}: expected 'hello' or 'message'")

    async def hello(self, frame: dict[str, Any]) -> None:
        if self.conv is not None:
            await self.error("this socket already has a conversation; open a new socket for "
                             "another one")
            return
        try:
            hello = HelloFrame.model_validate(frame)
        except ValidationError as exc:
            await self.error(validation_message(exc), validation_code(exc))
            return
        conv, secret = None, hello.conversation_secret
        if hello.conversation_id:
            conv = await run_in_threadpool(find_conversation, self.store, hello.conversation_id,
                                           hello.conversation_secret)
        resumed = conv is not None
        if conv is None:
            # An unknown id or a wrong secret (expired storage, a reset server) starts
            # afresh, never fails, and tells nothing about the conversation asked for.
            start = ConversationIn.model_validate(hello.model_dump(include={
                "marketplace", "email", "order_id", "identity_token"}))
            client = self.socket.client.host if self.socket.client else "-"
            try:
                conv, secret = await run_in_threadpool(self.channel.start, self.store, start,
                                                       client)
            except InvalidIdentity as exc:
                await self.error(str(exc), "identity")
                return
            except TooManyRequests as exc:
                await self.error(str(exc), "too_many", retry_after=exc.retry_after)
                return
        assert conv is not None
        history = await run_in_threadpool(conversation_history, self.store, conv) \
            if resumed else []
        self.conv = conv
        self.channel.sockets.add(conv.thread_key, self.socket)
        await self.socket.send_json({
            "type": "ready", "conversation_id": conv.thread_key, "resumed": resumed,
            "marketplace": conv.marketplace, "identified": conv.verified_contact is not None,
            # The page's language for this conversation: a page in another one reloads.
            "language": page_language(conv.marketplace),
            # The page keeps it to resume after a reload; it never goes in a URL.
            "conversation_secret": secret,
            "history": [item.model_dump(mode="json") for item in history]})

    async def message(self, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_message_id")
        echo = {"client_message_id": client_id} if isinstance(client_id, str) else {}
        if self.conv is None:
            await self.error("send a 'hello' frame first", "no_hello", **echo)
            return
        try:
            message = MessageFrame.model_validate(frame)
        except ValidationError as exc:
            await self.error(validation_message(exc), validation_code(exc), **echo)
            return
        client = self.socket.client.host if self.socket.client else "-"
        try:
            await run_in_threadpool(self.channel.admit, self.store, self.conv, message, client)
        except TooManyRequests as exc:
            await self.error(str(exc), "too_many", retry_after=exc.retry_after, **echo)
            return
        await self.socket.send_json({"type": "typing", **echo})
        try:
            reply = await run_in_threadpool(self.answer, self.store, self.conv, message)
        except HTTPException as exc:
            await self.error(str(exc.detail), "duplicate_id", **echo)
            return
        except Exception:  # noqa: BLE001 - stored first; the client resends with the same id
            log.exception("chat turn failed in conversation %s", self.conv.id)
            await self.error("the message could not be answered now; send it again with the "
                             "same client_message_id", "not_answered", retry=True, **echo)
            return
        await self.socket.send_json({"type": "reply", "reply": reply.model_dump(mode="json"),
                                     **echo})
