"""Inbound email: raw MIME (by webhook or our own SMTP server) in, each mail to its mailbox.

The channel parses a mail (``channels.mime``), drops what must never be answered (auto-replies,
lists, bounces), proves who sent it (``channels.mail_auth``) and gives it to the first of its
mailboxes that accepts it (``channels.mailbox``): a seller's hand-over, a seller's answer to a
case, else a customer writing to the service. It never logs addresses, subjects or text.

Who sent a mail is proven, not believed: a mailbox gets the From address as proven only when
DMARC alignment proved it, and only a proven address is ever mailed back (no backscatter).
Mail that cannot be parsed is refused permanently (SMTP 550, HTTP 422). Outbound, it sends the
outbox's mails, holding back what anyone could make us send one address too often.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import operator
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import APIRouter, HTTPException, Request
from limits import parse_many
from pydantic import BaseModel
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from agent.db import Store, make_engine
from agent.models import ConversationRow, OutboxRow
from base.clock import Clock, wall_clock
from base.settings import Settings
from channels.base import Delivery, MessageHandler
from channels.customer_mail import CHANNEL, UNPROVEN_THREAD, CustomerMail
from channels.email_out import SmtpSender
from channels.mail_auth import CheckKind, SenderAuth, SenderChecks, sender_checks
from channels.mailbox import InboundMail, Mailbox, MailOutcome
from channels.mime import (
    MAX_MESSAGE_BYTES,
    NoSender,
    UnreadableEmail,
    parse_email,
    should_not_reply,
)

log = logging.getLogger(__name__)

ACCEPTED_CONTENT_TYPES = frozenset({"message/rfc822", "application/octet-stream"})


class RecipientLimited(Exception):
    """An address got as many mails from us as the per-recipient limit allows for now: the
    outbox sends this one later (its back-off), never more than the limit in a window."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one inbound mail: ignored (with the reason), or what the mailbox that
    took it made of it."""

    message_id: str
    ignored: str | None = None
    outcome: MailOutcome | None = None


class IgnoredOut(BaseModel):
    ignored: str


class EmailChannel:
    name: str = CHANNEL

    def __init__(self, store: Store, sender: SmtpSender, *,
                 mailboxes: Sequence[Mailbox] | None = None,
                 smtp_port: int = 2525,
                 clock: Clock = wall_clock,
                 webhook_token: str | None = None,
                 checks: SenderChecks | None = None,
                 recipient_limit: str = "10/hour;30/day") -> None:
        """``mailboxes``: tried in order, the first that accepts a mail gets it; by default
        only the customers' (every mail is a customer's)."""
        if not 0 < smtp_port < 65536:
            raise ValueError(f"smtp_port must be 1..65535, got {smtp_port}")
        self.store = store
        self.sender = sender
        self.smtp_port = smtp_port
        self.clock = clock
        self.webhook_token = webhook_token
        if mailboxes is None:
            mailboxes = (CustomerMail(store, domain=sender.domain, clock=clock),)
        self.mailboxes = tuple(mailboxes)
        # The mails written because someone wrote to us (answers and refusals): whoever
        # writes chooses where they go, so they are what the per-recipient limit holds back.
        # Case notifications, case answers and hand-over answers go to addresses from our own
        # records and always leave.
        self.limited_kinds = frozenset(box.reply_kind for box in self.mailboxes)
        # Fail closed by default: the system's DNS on our SMTP server, and no provider's
        # verdict believed on the webhook until its authserv-id is configured.
        self.checks: SenderChecks = checks or sender_checks()
        self.recipient_limits = [(item.amount, timedelta(seconds=item.get_expiry()))
                                 for item in parse_many(recipient_limit)]
        # Told of each failed sender check (the app counts them for Prometheus).
        self.on_auth_failure: Callable[[CheckKind], None] = lambda kind: None

    @classmethod
    def from_settings(cls, settings: Settings, *, store: Store | None = None,
                      sender: SmtpSender | None = None,
                      mailboxes: Sequence[Mailbox] | None = None) -> Self:
        # ``store`` and ``sender``: the process's shared ones; by default its own.
        return cls(store or Store(make_engine(settings.resolved_database_url)),
                   sender or SmtpSender(settings.smtp_url), smtp_port=settings.smtp_port,
                   mailboxes=mailboxes, clock=settings.clock,
                   webhook_token=settings.email_webhook_token.get_secret_value()
                   if settings.email_webhook_token else None,
                   checks=sender_checks(settings.dns_nameserver, settings.email_authserv_id),
                   recipient_limit=settings.email_recipient_limit)

    def receive(self, raw: bytes, handle: MessageHandler, *,
                recipients: Sequence[str] = (), auth: SenderAuth | None = None) -> Receipt:
        """Process one raw mail, from the webhook or the SMTP server alike; ``recipients``
        are the SMTP envelope's (the webhook has none: headers tell the hand-over address).
        ``auth`` is what our SMTP server's checks proved; without it (the webhook) the
        inbound provider's Authentication-Results are read.

        Raises ``UnreadableEmail`` for mail that can never be processed; any other exception
        means "try again later" (the message may be stored; a redelivery is processed once).
        """
        if not raw.strip():
            raise UnreadableEmail("empty message")
        if len(raw) > MAX_MESSAGE_BYTES:
            raise UnreadableEmail(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        # A mailbox decides whether it needs text: a seller's empty reply is refused by mail,
        # not bounced.
        parsed = parse_email(raw, require_text=False)
        reason = should_not_reply(parsed)
        if reason is not None:
            log.info("email %s not answered: %s", parsed.message_id, reason)
            return Receipt(parsed.message_id, ignored=reason)
        mail = InboundMail(parsed, auth or self.checks.from_headers(raw), tuple(recipients))
        mailbox = next((box for box in self.mailboxes if box.accepts(mail)), None)
        if mailbox is None:
            log.info("email %s not answered: no mailbox takes it", parsed.message_id)
            return Receipt(parsed.message_id, ignored="no mailbox takes it")
        outcome = mailbox.receive(mail, handle)
        if outcome.sender_unproven:
            log.warning("email %s: sender not proven for %s (%s)", parsed.message_id,
                        mailbox.check, mail.auth.describe())
            self.on_auth_failure(mailbox.check)
        return Receipt(parsed.message_id, outcome=outcome)

    def _check_token(self, request: Request) -> None:
        """With a webhook token configured, only the mail provider holding it may post."""
        if self.webhook_token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(403, "missing token: send 'Authorization: Bearer <token>'")
        if not secrets.compare_digest(given.encode(), self.webhook_token.encode()):
            raise HTTPException(403, "the webhook token does not match")

    def router(self, handle: MessageHandler) -> APIRouter:
        router = APIRouter(tags=["email"])
        # Each mailbox's answer, then "ignored": the schema names every answer there is.
        answers = functools.reduce(operator.or_, [
            *dict.fromkeys(box.response_model for box in self.mailboxes), IgnoredOut])

        @router.post(
            "/email/inbound", status_code=202, response_model=answers,
            summary="Receive one raw MIME mail (message/rfc822)",
            responses={400: {"description": "empty body"},
                       403: {"description": "the webhook token is missing or wrong"},
                       413: {"description": f"larger than {MAX_MESSAGE_BYTES} bytes"},
                       415: {"description": "not message/rfc822 or application/octet-stream"},
                       422: {"description": "no sender, no Message-ID or no text"},
                       503: {"description": "processing failed; deliver again"}},
            openapi_extra={"requestBody": {"required": True, "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in sorted(ACCEPTED_CONTENT_TYPES)}}})
        async def email_inbound(request: Request) -> BaseModel:
            self._check_token(request)
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in ACCEPTED_CONTENT_TYPES:
                raise HTTPException(415, "Content-Type must be message/rfc822 or "
                                         f"application/octet-stream, got {content_type!r}")
            raw = await _read_body(request)
            try:
                receipt = await run_in_threadpool(self.receive, raw, handle)
            except UnreadableEmail as exc:
                raise HTTPException(422, str(exc)) from exc
            except Exception as exc:
                log.error("email webhook failed (%s); the sender should retry",
                          type(exc).__name__)
                log.debug("email webhook failure", exc_info=True)
                raise HTTPException(503, "processing failed; deliver the mail again") from exc
            if receipt.outcome is None:
                return IgnoredOut(ignored=receipt.ignored or "")
            return receipt.outcome.response()

        return router

    def send(self, row: Delivery) -> None:
        """Send one queued mail: a case notification with its case's secret reply address,
        and no reply to an address past the per-recipient limit."""
        conversation_id = row.meta.get("conversation_id")
        if conversation_id and self._unproven(str(conversation_id)):
            # Kept in the conversation, mailed to nobody: no backscatter. The row is done.
            log.warning("outbox row %s not mailed: its conversation's sender was never proven",
                        row.id)
            return
        if row.meta.get("kind") in self.limited_kinds:
            self._within_recipient_limit(row, self.clock())
        # The mailbox a mail's answer should reach names the address (a case's secret one).
        reply_to = next((address for box in self.mailboxes
                         if (address := box.reply_to(row)) is not None), None)
        self.sender.send(row, reply_to=reply_to)

    def _unproven(self, conversation_id: str) -> bool:
        with self.store.reads() as session:
            key = session.scalar(select(ConversationRow.thread_key).where(
                ConversationRow.id == conversation_id, ConversationRow.channel == CHANNEL))
        return key is not None and key.startswith(UNPROVEN_THREAD)

    def _within_recipient_limit(self, row: Delivery, now: datetime) -> None:
        """Bounds what anyone can make us send one address (backscatter, a refusal loop):
        counted from the outbox itself, so every server process shares the count."""
        recipient = row.recipient.strip().lower()
        with self.store.reads() as session:
            for amount, window in self.recipient_limits:
                # Every channel's mail to the address counts (a chat's follow-up by mail too).
                sent = session.scalar(select(func.count()).select_from(OutboxRow).where(
                    func.lower(OutboxRow.recipient) == recipient,
                    OutboxRow.sent_at.is_not(None), OutboxRow.sent_at > now - window)) or 0
                if sent >= amount:
                    log.warning("outbox row %s held back: its recipient got %d mails in %s",
                                row.id, sent, window)
                    raise RecipientLimited(f"{sent} mails to this recipient within {window}")


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_MESSAGE_BYTES:
        raise HTTPException(413, f"message larger than {MAX_MESSAGE_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_MESSAGE_BYTES:  # a missing or false Content-Length
            raise HTTPException(413, f"message larger than {MAX_MESSAGE_BYTES} bytes")
    if not bytes(body).strip():
        raise HTTPException(400, "empty body: expected one raw MIME message")
    return bytes(body)


# --- the SMTP server ------------------------------------------------------------------------

class _SmtpHandler:
    def __init__(self, channel: EmailChannel, handle: MessageHandler) -> None:
        self.channel = channel
        self.handle = handle

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else (content or "").encode()
        # We are the final delivery: record the envelope sender as RFC 5321 asks, so a
        # bounce (MAIL FROM:<>) is recognised by its empty Return-Path.
        # aiosmtpd reports the null reverse-path as "<>".
        mail_from = (envelope.mail_from or "").strip().strip("<>").replace("\r", "").replace(
            "\n", "")
        loop = asyncio.get_running_loop()
        # The checks read the mail as it came, before we add a header.
        peer = session.peer[0] if isinstance(session.peer, tuple) else None
        check = functools.partial(self.channel.checks.check_smtp, raw, ip=peer,
                                  helo=session.host_name, mail_from=mail_from)
        raw = f"Return-Path: <{mail_from}>\r\n".encode() + raw
        try:
            auth = await loop.run_in_executor(None, check)
            await loop.run_in_executor(None, functools.partial(
                self.channel.receive, raw, self.handle, recipients=tuple(envelope.rcpt_tos),
                auth=auth))
        except NoSender:
            return "550 No sender address (From)"
        except UnreadableEmail as exc:
            return f"550 {exc}"
        except Exception as exc:
            log.error("inbound SMTP processing failed (%s); the sender will retry",
                      type(exc).__name__)
            log.debug("inbound SMTP failure", exc_info=True)
            return "451 Try again later"
        return "250 Message accepted"


class InboundSmtpServer:
    """Our SMTP server (MX target): every DATA goes through ``EmailChannel.receive``."""

    def __init__(self, channel: EmailChannel, handle: MessageHandler, *,
                 host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = channel.smtp_port if port is None else port
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1..65535, got {self.port}")
        self.controller = Controller(_SmtpHandler(channel, handle), hostname=host,
                                     port=self.port, data_size_limit=MAX_MESSAGE_BYTES)

    def start(self) -> None:
        self.controller.start()
        log.info("inbound SMTP server on %s:%d", self.host, self.port)

    def stop(self) -> None:
        self.controller.stop()
