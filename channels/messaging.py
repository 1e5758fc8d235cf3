"""SMS and WhatsApp over Twilio: one webhook in, TwiML ``<Message>`` replies out, and later
replies (seller answers, expired cases, a caller's follow-up) sent with Twilio's REST client.

It never decides anything and never logs message text or phone numbers (ids and lengths only).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Self

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from agent.db import Store
from agent.messages import Channel, InboundMessage, Reply
from agent.models import ConversationRow, MessageRow
from base.clock import Clock, as_utc, wall_clock
from base.settings import Settings
from channels.base import Delivery, MessageHandler
from channels.recovery import mark_delivered
from channels.twilio_auth import (
    WEBHOOK_ERRORS,
    TwilioSignature,
    answer,
    check_text,
    marketplace_for_number,
    require_param,
    twiml,
)

log = logging.getLogger(__name__)

WHATSAPP_PREFIX = "whatsapp:"
# Twilio's limits on one message body: SMS 1600 characters (it concatenates the segments),
# WhatsApp 4096.
MESSAGE_LIMITS: dict[str, int] = {"sms": 1600, "whatsapp": 4096}
# WhatsApp allows free-form business messages only within 24 hours of the customer's last one.
WHATSAPP_WINDOW = timedelta(hours=24)
# Where the Twilio number a customer reached is kept, so a later reply leaves from it.
NUMBER_KEY = "twilio_number"
_SENTENCE_END = re.compile(r"(?<=[.!?…])(?=\s)")
_WORD_START = re.compile(r"(?=\s)")



class WhatsAppWindowClosed(Exception):
    """A free-form WhatsApp message outside the customer's 24-hour window (Meta refuses it)."""


class NoTwilioNumber(Exception):
    """No Twilio number is known for the conversation, so a later reply has no sender."""


def split_message(text: str, limit: int) -> list[str]:
    """``text`` in messages of at most ``limit`` characters, cut between sentences where
    possible, else between words, else inside a word; nothing is dropped but the whitespace
    at the cuts."""
    if limit <= 0:
        raise ValueError(f"limit must be > 0, got {limit}")
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        if len((current + piece).strip()) <= limit:
            current += piece
            continue
        if current.strip():
            parts.append(current.strip())
        current = piece.lstrip()
    if current.strip():
        parts.append(current.strip())
    return parts


def _pieces(text: str, limit: int) -> Iterator[str]:
    for sentence in _SENTENCE_END.split(text):
        if len(sentence.strip()) <= limit:
            yield sentence
            continue
        for word in _WORD_START.split(sentence):
            while len(word.strip()) > limit:
                word = word.strip()
                yield word[:limit]
                word = " " + word[limit:]
            yield word


def remember_number(store: Store, conversation_id: str, number: str) -> None:
    """Keep the Twilio number the customer reached on the conversation (its ``state``, which
    the agent leaves to the channels): later replies leave from that number."""
    if not number:
        return
    with store.sessions.begin() as session:
        conv = session.get(ConversationRow, conversation_id)
        if conv is None or (conv.state or {}).get(NUMBER_KEY) == number:
            return
        conv.state = {**(conv.state or {}), NUMBER_KEY: number}


def message_channel(sender: str) -> Channel:
    return "whatsapp" if sender.startswith(WHATSAPP_PREFIX) else "sms"


class MessagingChannel:
    """``POST /twilio/messaging`` for SMS and WhatsApp (Twilio posts both to one webhook; the
    ``whatsapp:`` prefix of ``From`` tells them apart), and ``send`` for later replies."""

    name = "sms"
    channels: tuple[Channel, ...] = ("sms", "whatsapp")

    def __init__(self, store: Store, *, account_sid: str, auth_token: str,
                 public_base_url: str, api_base: str | None = None, clock: Clock = wall_clock,
                 timeout: float = 10.0, sms_number: str | None = None) -> None:
        if not account_sid.startswith("AC"):
            raise ValueError(f"a Twilio account SID starts with 'AC', got {account_sid[:4]!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self.store = store
        # Where a text starts from when its conversation began elsewhere (a one-time code
        # asked for in a chat goes to the order's phone): no number of the customer's own.
        self.sms_number = sms_number
        self.signature = TwilioSignature(auth_token, public_base_url)
        self.clock = clock
        # The library's own HTTP client, with a timeout so a hung API call cannot stall the
        # outbox worker.
        self.client = Client(account_sid, auth_token,
                             http_client=TwilioHttpClient(timeout=timeout))
        if api_base:
            # Domains build every URL from base_url at request time (twilio 9.x); an edge or
            # region from TWILIO_EDGE / TWILIO_REGION would rewrite that host, so none.
            self.client.api.base_url = api_base.rstrip("/")
            self.client.edge = self.client.region = None

    @classmethod
    def from_settings(cls, settings: Settings, *, store: Store | None = None) -> Self:
        """``store``: the process's shared one; by default the channel opens its own."""
        return cls(store or Store.from_settings(settings), account_sid=settings.twilio_account_sid,
                   auth_token=settings.twilio_auth_token.get_secret_value(),
                   public_base_url=str(settings.public_base_url), clock=settings.clock,
                   sms_number=settings.twilio_sms_number,
                   api_base=str(settings.twilio_api_base).rstrip("/")
                   if settings.twilio_api_base else None)

    def close(self) -> None:
        """Release the REST client's pooled connections."""
        self.client.http_client.session.close()

    # --- inbound ----------------------------------------------------------------------------

    def router(self, handle: MessageHandler) -> APIRouter:
        router = APIRouter(tags=["twilio"])

        @router.post("/twilio/messaging", response_class=Response,
                     responses={200: {"content": {"application/xml": {}},
                                      "description": "TwiML <Message> replies"},
                                **WEBHOOK_ERRORS})
        async def twilio_messaging(request: Request) -> Response:
            """An SMS or WhatsApp message from Twilio, answered with TwiML."""
            params = await self.signature(request)
            sid = require_param(params, "MessageSid")
            sender = require_param(params, "From")
            ours = (params.get("To") or "").strip()
            body = check_text((params.get("Body") or "").strip(), "Body")
            if not body:
                raise HTTPException(400, "Body is empty: the message has no text to answer "
                                         "(media-only messages are not read)")
            channel = message_channel(sender)
            msg = InboundMessage(
                channel=channel, sender=sender, text=body, thread_key=sender,
                received_at=self.clock(), provider_message_id=sid, verified_contact=sender,
                marketplace=marketplace_for_number(ours),
                metadata={"num_media": params.get("NumMedia") or "0"},
                channel_state={NUMBER_KEY: ours} if ours else {}, reply_in_response=True)
            reply = await run_in_threadpool(self._answer, handle, msg, ours)
            response = MessagingResponse()
            parts = split_message(reply.text, MESSAGE_LIMITS[channel])
            for part in parts:
                response.message(part)
            log.info("%s message %s answered in %d part(s), %d chars in, %d out", channel, sid,
                     len(parts), len(body), len(reply.text))
            answered = twiml(response)
            # Once the answer has left; if the process dies first, recovery sends the reply.
            answered.background = BackgroundTask(mark_delivered, self.store, channel, sid)
            return answered

        return router

    def _answer(self, handle: MessageHandler, msg: InboundMessage, ours: str) -> Reply:
        reply = answer(handle, msg)
        remember_number(self.store, reply.conversation_id, ours)
        return reply

    # --- outbound ---------------------------------------------------------------------------

    def send(self, row: Delivery) -> None:
        """Send a later reply by the REST API; raises (and the outbox retries) on failure.

        Rows of a voice conversation arrive as ``sms``: a caller's follow-up is a text message
        from the number they called.
        """
        channel = row.channel
        if channel not in {"sms", "whatsapp", "voice"}:
            raise ValueError(f"the messaging channel sends sms and whatsapp, not {channel!r}")
        whatsapp = channel == "whatsapp"
        with self.store.reads() as session:
            conv = self._conversation(session, row)
            number = str((conv.state or {}).get(NUMBER_KEY) or self.sms_number or "")
            if not number:
                raise NoTwilioNumber(f"conversation {conv.id} has no Twilio number to send from")
            if whatsapp:
                self._check_window(session, conv)
        to = row.recipient
        if whatsapp:
            to = to if to.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + to
            number = number if number.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + number
        # A failure after the first part makes the outbox resend the whole row; replies are
        # short (at most 4000 characters), so that is at worst a repeated first text.
        for part in split_message(row.body, MESSAGE_LIMITS["whatsapp" if whatsapp else "sms"]):
            sent: Any = self.client.messages.create(to=to, from_=number, body=part)
            log.info("outbox row %s sent as %s message %s (%d chars)", row.id, channel,
                     getattr(sent, "sid", None), len(part))

    def _conversation(self, session: Session, row: Delivery) -> ConversationRow:
        conv_id = row.meta.get("conversation_id") if row.meta else None
        conv = session.get(ConversationRow, conv_id) if conv_id else session.scalar(
            select(ConversationRow).where(ConversationRow.channel == row.channel,
                                          ConversationRow.thread_key == row.recipient))
        if conv is None:
            raise LookupError(f"outbox row {row.id} names no known conversation")
        return conv

    def _check_window(self, session: Session, conv: ConversationRow) -> None:
        last = session.scalar(select(func.max(MessageRow.received_at)).where(
            MessageRow.conversation_id == conv.id, MessageRow.channel == "whatsapp"))
        if last is not None and self.clock() - as_utc(last) < WHATSAPP_WINDOW:
            return
        # Outside the window WhatsApp delivers only pre-approved template messages (a Content
        # SID with variables); a free-form text would be rejected by Meta, so it is not sent
        # and the outbox keeps the row with this error for a person to follow up.
        age = "no message" if last is None else f"last message {self.clock() - as_utc(last)} ago"
        raise WhatsAppWindowClosed(
            f"conversation {conv.id}: {age}; WhatsApp allows free-form replies only within "
            "24 hours of the customer's last message, a template message is needed")
