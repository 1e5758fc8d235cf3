"""The web chat: a JSON chat API, the chat page's WebSocket, and later replies pushed to it.

A conversation is keyed by an opaque random session key (the thread key); a client's own
message id makes a retried send idempotent. Keeps only open sockets in memory, never state.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from agent.core import as_utc
from agent.db import ConversationRow, MessageRow, OutboxRow, PageRow, Store
from agent.messages import MAX_TEXT_CHARS, InboundMessage, Reply
from agent.records import ORDER_ID_PATTERN
from channels.base import MessageHandler
from channels.email_out import SmtpSender
from channels.request_bodies import JsonProblem, parse_json_text
from channels.unavailable import RETRY_AFTER
from csba.clock import Clock, wall_clock
from csba.money import Marketplace
from csba.settings import Settings
from knowledge.pages import ASIN_PATTERN, ProductPage

log = logging.getLogger(__name__)

CHANNEL: Final = "chat"
PAGE = Path(__file__).parent / "static" / "chat.html"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
MAX_FRAME_CHARS = 3 * MAX_TEXT_CHARS  # a message frame's text plus its envelope, generously
PUSH_TIMEOUT = 10.0  # seconds a later reply may take to reach an open socket


class ConversationIn(BaseModel):
    """How a chat starts: the marketplace's page says where, and who, when it knows."""

    model_config = ConfigDict(extra="forbid")

    marketplace: Marketplace | None = None
    # The signed-in customer's address, supplied by the page that embeds the chat; the demo
    # page lets one type it. It is the channel identity the agent checks orders against.
    email: Annotated[str | None, Field(max_length=320, pattern=EMAIL_PATTERN)] = None
    order_id: Annotated[str | None, Field(pattern=ORDER_ID_PATTERN)] = None


class ConversationOut(BaseModel):
    conversation_id: str
    marketplace: str | None
    order_id: str | None
    identified: bool  # an email identity was given
    created_at: datetime


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    client_message_id: str = Field(min_length=1, max_length=100, pattern=CLIENT_ID_PATTERN,
                                   description="the client's id; a retry with it is answered "
                                               "once, with the same reply")


class HelloFrame(ConversationIn):
    type: Literal["hello"]
    conversation_id: Annotated[str | None, Field(min_length=1, max_length=100)] = None


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


class NotConnected(Exception):
    """A later reply for a chat customer who is neither connected nor reachable by email."""


def validation_message(error: ValidationError) -> str:
    """Pydantic's errors as one line that names each field: ``text: String should ...``."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"] if p not in {"body"}) or "frame"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def provider_message_id(key: str, client_message_id: str) -> str:
    return f"{key}:{client_message_id}"


def open_conversation(store: Store, start: ConversationIn, now: datetime) -> ConversationRow:
    """A new conversation under a fresh session key; the identity is stored with it."""
    key = secrets.token_urlsafe(24)
    row = ConversationRow(
        id=uuid.uuid4().hex, channel=CHANNEL, thread_key=key,
        contact=(start.email or "").lower() or key, marketplace=start.marketplace,
        order_id=start.order_id, misunderstood=0, state={}, created_at=now, updated_at=now)
    with store.sessions.begin() as session:
        session.add(row)
    log.info("chat conversation %s opened (identified=%s)", row.id, bool(start.email))
    return row


def find_conversation(store: Store, key: str) -> ConversationRow | None:
    with store.reads() as session:
        return session.scalar(select(ConversationRow).where(
            ConversationRow.channel == CHANNEL, ConversationRow.thread_key == key))


def _reply_for(key: str, stored: dict[str, Any]) -> Reply:
    # The client knows its conversation by the session key; the row id stays internal.
    return Reply.model_validate({**stored, "conversation_id": key})


def conversation_history(store: Store, conv: ConversationRow) -> list[HistoryItem]:
    """The customer's messages with their replies, and the later replies (seller answers)."""
    key = conv.thread_key
    with store.reads() as session:
        messages = session.scalars(select(MessageRow).where(
            MessageRow.conversation_id == conv.id).order_by(MessageRow.id))
        items = [HistoryItem(
            type="message", at=as_utc(m.received_at), text=m.text,
            client_message_id=m.provider_message_id.removeprefix(f"{key}:"),
            reply=_reply_for(key, m.reply) if m.reply else None) for m in messages]
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
                 clock: Clock = wall_clock) -> None:
        self.store = store
        self.mail = mail
        self.clock = clock
        self.sockets = SocketRegistry()

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(mail=SmtpSender(settings.smtp_url), clock=settings.clock)

    def _store(self, connection: HTTPConnection) -> Store:
        store = self.store or getattr(connection.app.state, "store", None)
        if store is None:
            raise RuntimeError("WebChatChannel needs a store: pass one or set app.state.store")
        return store

    # --- later replies ------------------------------------------------------------------

    def send(self, row: OutboxRow) -> None:
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
                marketplace=conv.marketplace)
            return handle(inbound).model_copy(update={"conversation_id": key})

        @router.get("/", include_in_schema=False)
        def chat_page() -> FileResponse:
            return FileResponse(PAGE, media_type="text/html; charset=utf-8")

        @router.post("/v1/conversations", status_code=201, tags=["chat"])
        def create_conversation(request: Request, start: ConversationIn | None = None
                                ) -> ConversationOut:
            """Start a chat; the returned ``conversation_id`` is the session key to post to."""
            start = start or ConversationIn()
            row = open_conversation(self._store(request), start, self.clock())
            return ConversationOut(conversation_id=row.thread_key, marketplace=row.marketplace,
                                   order_id=row.order_id, identified=bool(start.email),
                                   created_at=row.created_at)

        @router.post("/v1/conversations/{conversation_id}/messages", tags=["chat"], responses={
            409: {"description": "client_message_id was used for another text"},
            503: {"description": "not answered now; send again with the same id"}})
        def post_message(request: Request, message: MessageIn,
                         conversation_id: Annotated[str, PathParam(max_length=100)]) -> Reply:
            """Send a customer message; the reply is the contract's Reply. Sending again with
            the same ``client_message_id`` returns the same reply and stores nothing new."""
            store = self._store(request)
            conv = find_conversation(store, conversation_id)
            if conv is None:
                raise HTTPException(404, "no such conversation; create one with "
                                         "POST /v1/conversations")
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

        @router.get("/v1/conversations/{conversation_id}/messages", tags=["chat"])
        def get_history(request: Request,
                        conversation_id: Annotated[str, PathParam(max_length=100)]
                        ) -> list[HistoryItem]:
            """The conversation so far: messages, replies and later replies."""
            store = self._store(request)
            conv = find_conversation(store, conversation_id)
            if conv is None:
                raise HTTPException(404, "no such conversation")
            return conversation_history(store, conv)

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

    async def error(self, message: str, **extra: Any) -> None:
        await self.socket.send_json({"type": "error", "message": message, **extra})

    async def run(self) -> None:
        while True:
            event = await self.socket.receive()
            if event["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(event.get("code", 1000))
            raw = event.get("text")
            if raw is None:
                await self.error("frames must be text: JSON objects, not binary")
                continue
            if len(raw) > MAX_FRAME_CHARS:
                await self.error(f"frame too large: {len(raw)} characters, at most "
                                 f"{MAX_FRAME_CHARS}")
                continue
            try:
                frame = parse_json_text(raw, "frame")
            except JsonProblem as problem:  # a lone surrogate or a NUL would fail the turn
                await self.error("frames must be JSON objects" if problem.rule == "json_syntax"
                                 else str(problem))
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
            await self.error(validation_message(exc))
            return
        conv = None
        if hello.conversation_id:
            conv = await run_in_threadpool(find_conversation, self.store, hello.conversation_id)
        resumed = conv is not None
        if conv is None:
            # An unknown key (expired storage, a reset server) starts afresh, never fails.
            start = ConversationIn.model_validate(hello.model_dump(include={
                "marketplace", "email", "order_id"}))
            conv = await run_in_threadpool(open_conversation, self.store, start,
                                           self.channel.clock())
        history = await run_in_threadpool(conversation_history, self.store, conv) \
            if resumed else []
        self.conv = conv
        self.channel.sockets.add(conv.thread_key, self.socket)
        await self.socket.send_json({
            "type": "ready", "conversation_id": conv.thread_key, "resumed": resumed,
            "marketplace": conv.marketplace,
            "history": [item.model_dump(mode="json") for item in history]})

    async def message(self, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_message_id")
        echo = {"client_message_id": client_id} if isinstance(client_id, str) else {}
        if self.conv is None:
            await self.error("send a 'hello' frame first", **echo)
            return
        try:
            message = MessageFrame.model_validate(frame)
        except ValidationError as exc:
            await self.error(validation_message(exc), **echo)
            return
        await self.socket.send_json({"type": "typing", **echo})
        try:
            reply = await run_in_threadpool(self.answer, self.store, self.conv, message)
        except HTTPException as exc:
            await self.error(str(exc.detail), **echo)
            return
        except Exception:  # noqa: BLE001 - stored first; the client resends with the same id
            log.exception("chat turn failed in conversation %s", self.conv.id)
            await self.error("the message could not be answered now; send it again with the "
                             "same client_message_id", retry=True, **echo)
            return
        await self.socket.send_json({"type": "reply", "reply": reply.model_dump(mode="json"),
                                     **echo})
