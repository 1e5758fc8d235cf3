"""Inbound email: raw MIME (by webhook or our own SMTP server) in, a threaded reply queued out.

It parses, threads and filters mail and hands the agent an InboundMessage keyed by Message-ID;
a seller's reply to a case notification goes to ``channels.seller_mail`` instead. It never
answers auto-replies, lists or bounces, and never logs addresses, subjects or text.

Who sent a mail is proven, not believed (``channels.mail_auth``): ``verified_contact`` is the
From address only when DMARC alignment proved it, and only a proven address is ever mailed
back (no backscatter). Mail that cannot be parsed is refused permanently (SMTP 550, HTTP 422).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import errors as email_errors
from email import policy
from email.headerregistry import AddressHeader
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from bs4 import BeautifulSoup
from fastapi import APIRouter, HTTPException, Request
from limits import parse_many
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession
from starlette.concurrency import run_in_threadpool

from agent.cases import SELLER_NOTIFICATION
from agent.db import ConversationRow, MessageRow, OutboxRow, SentEmailRow, Store, make_engine
from agent.messages import MAX_TEXT_CHARS, InboundMessage, Outcome, Reply, ReplyMail
from agent.outgoing_mail import queue_email_reply, trim_references
from base.clock import Clock, wall_clock
from base.settings import Settings
from channels.base import MessageHandler
from channels.email_out import SmtpSender
from channels.hidden_text import remove_hidden
from channels.mail_auth import CheckKind, SenderAuth, SenderChecks, sender_checks
from channels.seller_mail import REPLY_KIND as SELLER_MAIL_REPLY
from channels.seller_mail import CaseAnswerer, SellerMail, SellerMailOutcome

if TYPE_CHECKING:  # channels.handover reads mail with this module's parser
    from channels.handover import HandoverMail, HandoverResult

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
# The mails written because someone wrote to us (answers and refusals): whoever writes chooses
# where they go, so they are what the per-recipient limit holds back. Case notifications,
# case answers and hand-over answers go to addresses from our own records and always leave.
# The thread key prefix of a conversation started by a sender nothing proved: nothing in it
# is ever mailed (a late answer, a seller's answer to its case), since whoever wrote chose it.
UNPROVEN_THREAD = "unproven "
LIMITED_KINDS = frozenset({"email_reply", SELLER_MAIL_REPLY, "handover_seller_reply"})
MAX_MESSAGE_ID_CHARS = 250  # keeps thread keys and provider ids inside their 512-char columns
ACCEPTED_CONTENT_TYPES = frozenset({"message/rfc822", "application/octet-stream"})
CHANNEL: Literal["email"] = "email"

# Headers should_not_reply reads, kept on ParsedEmail by lower-case name.
_FILTER_HEADERS = ("auto-submitted", "precedence", "list-id", "list-unsubscribe", "return-path",
                   "x-autoreply", "x-autorespond", "x-failed-recipients")
_HEADER_ERRORS = (email_errors.MessageError, ValueError, LookupError, TypeError, AttributeError)
_MSGID = re.compile(r"<[^<>\s]+>")

# A reply header must carry a digit (its date), so "Am Montag schrieb ich:" is not one.
_REPLY_HEADER = re.compile(
    r"^(?=[^\n]*\d)(?:on\s.+\swrote|am\s.+\sschrieb.*|el\s.+\sescribi[oó]|le\s.+\sa\s+[ée]crit"
    r"|il\s.+\sha\s+scritto)\s*:\s*$", re.IGNORECASE | re.DOTALL)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|urspr[üu]ngliche nachricht|mensaje original"
    r"|message d'origine|messaggio originale)\s*-{2,}\s*$", re.IGNORECASE)
_QUOTED_FROM = re.compile(r"^\s*\*?(from|von|de|da)\s*\*?\s*:\s*\S", re.IGNORECASE)
_QUOTED_SENT = re.compile(r"^\s*\*?(sent|gesendet|enviado(\s+el)?|envoy[ée]|inviato)\s*\*?\s*:",
                          re.IGNORECASE)
_HTML_BLOCKS = ("p", "div", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                "pre", "section", "article", "header", "footer")


# --- errors ---------------------------------------------------------------------------------

class UnreadableEmail(ValueError):
    """A mail this channel cannot process; retrying the same bytes cannot help."""


class NoSender(UnreadableEmail):
    pass


class NoMessageId(UnreadableEmail):
    pass


class NoText(UnreadableEmail):
    pass


class RecipientLimited(Exception):
    """An address got as many mails from us as the per-recipient limit allows for now: the
    outbox sends this one later (its back-off), never more than the limit in a window."""


# --- parsing --------------------------------------------------------------------------------

_RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    sender: str
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    text: str  # what the customer wrote, quotes and signature removed; MAX_TEXT_CHARS at most
    attachments: tuple[str, ...]  # file names, "" for an unnamed part
    content_type: str
    headers: Mapping[str, str]  # the headers that mark mail never to be answered
    # The addresses it was written to, lower case, by the headers: the webhook has no SMTP
    # envelope, and an MTA records the original recipient in these.
    recipients: frozenset[str] = frozenset()

    @property
    def thread_root(self) -> str:
        """The thread's first Message-ID as far as this mail knows it."""
        if self.references:
            return self.references[0]
        return self.in_reply_to or self.message_id


MAX_MIME_DEPTH = 20  # real mail nests a few levels; a forward of a forward, a dozen at most


def parse_email(raw: bytes, *, require_text: bool = True) -> ParsedEmail:
    """Read one RFC 5322 message; raises ``UnreadableEmail`` saying what is missing."""
    message = read_message(raw)
    sender = _sender(message)
    message_id = _message_id(message)
    body = _body_part(message)
    text = _strip_reply(_part_text(body)) if body is not None else ""
    parsed = ParsedEmail(
        sender=sender, message_id=message_id,
        in_reply_to=next(iter(_ids(_header(message, "In-Reply-To"))), None),
        references=trim_references(_ids(_header(message, "References"))),
        subject=" ".join(_header(message, "Subject").split()),
        text=text[:MAX_TEXT_CHARS],
        attachments=tuple(_attachment_names(message, body)),
        content_type=message.get_content_type(),
        headers=MappingProxyType({name: value for name in _FILTER_HEADERS
                                  if (value := _header(message, name)) or name in message}),
        recipients=frozenset(spec.lower() for _, spec in getaddresses(
            [str(message.get(name, "")) for name in _RECIPIENT_HEADERS]) if spec))
    if require_text:
        require_text_of(parsed)
    return parsed


def read_message(raw: bytes) -> EmailMessage:
    """The parsed message, or ``UnreadableEmail`` for MIME nested past any real mail's depth
    (the standard parser recurses per level: thousands of levels exhaust the stack)."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except RecursionError as exc:
        raise UnreadableEmail(f"MIME parts nested deeper than {MAX_MIME_DEPTH} levels") from exc
    assert isinstance(message, EmailMessage)
    level: list[tuple[EmailMessage | MIMEPart, int]] = [(message, 1)]
    while level:
        part, depth = level.pop()
        if depth > MAX_MIME_DEPTH:
            raise UnreadableEmail(f"MIME parts nested deeper than {MAX_MIME_DEPTH} levels")
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            level.extend((sub, depth + 1) for sub in payload if isinstance(sub, MIMEPart))
    return message


def require_text_of(parsed: ParsedEmail) -> None:
    if not parsed.text:
        raise NoText("no text: the mail has no text/plain or text/html part with content "
                     "outside quotes and signature")


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
        return "" if value is None else str(value).strip()
    except _HEADER_ERRORS as exc:
        raise UnreadableEmail(f"unreadable {name} header") from exc


def _sender(message: EmailMessage) -> str:
    try:
        header = message.get("From")
        addresses = header.addresses if isinstance(header, AddressHeader) else ()
    except _HEADER_ERRORS as exc:
        raise NoSender("no sender: unreadable From header") from exc
    if header is None:
        raise NoSender("no sender: the mail has no From header")
    for address in addresses:
        spec = address.addr_spec.strip()
        if address.username and address.domain and len(spec) <= 254:
            return spec
    raise NoSender("no sender: the From header holds no email address")


def _message_id(message: EmailMessage) -> str:
    value = _header(message, "Message-ID")
    if not value:
        raise NoMessageId("no Message-ID header: a mail without one cannot be processed once")
    ids = _ids(value)
    # Some clients omit the angle brackets; the id is still the provider's own.
    message_id = ids[0] if ids else (f"<{value}>" if not re.search(r"[\s<>]", value) else "")
    if not message_id or len(message_id) > MAX_MESSAGE_ID_CHARS:
        raise NoMessageId(f"invalid Message-ID header ({len(value)} characters)")
    return message_id


def _ids(value: str) -> list[str]:
    return [m for m in _MSGID.findall(value) if len(m) <= MAX_MESSAGE_ID_CHARS]


def _body_part(message: EmailMessage) -> MIMEPart | None:
    try:
        return message.get_body(preferencelist=("plain", "html"))
    except _HEADER_ERRORS:
        return None


def _part_text(part: MIMEPart, *, drop_quotes: bool = True) -> str:
    try:
        content = part.get_content()
    except LookupError:  # an unknown charset: UTF-8 is the best guess there is
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    text = content if isinstance(content, str) else ""
    if part.get_content_subtype() == "html":
        return _html_text(text, drop_quotes=drop_quotes)
    return text


def _html_text(html: str, *, drop_quotes: bool = True) -> str:
    """The text of an HTML part; ``drop_quotes=False`` keeps quoted and forwarded mail, which
    a hand-over forward is made of."""
    soup = BeautifulSoup(html, "html.parser")
    remove_hidden(soup)  # what CSS hides from the reader is not the sender's message
    # Quoted earlier mails live in blockquotes and in the clients' own quote containers.
    for tag in soup(["script", "style", "head", "title", "template", "noscript",
                     *(["blockquote"] if drop_quotes else [])]):
        tag.decompose()
    if drop_quotes:
        for tag in soup.select(".gmail_quote, .yahoo_quoted, .moz-cite-prefix, #divRplyFwdMsg"):
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_HTML_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    return soup.get_text()


def _strip_reply(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _ends_own_text(lines, i):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(" ".join(line.split()))
    while kept and (not kept[-1] or set(kept[-1]) <= {"_", "-"}):  # Outlook's rule line
        kept.pop()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _ends_own_text(lines: Sequence[str], i: int) -> bool:
    """Whether line i starts what is not the customer's own text (signature, quoted mail)."""
    line = lines[i]
    if line.rstrip() == "--" or _ORIGINAL_MESSAGE.match(line):
        return True
    candidate = line.strip()
    if len(candidate) <= 300 and _REPLY_HEADER.match(candidate):
        return True
    # Clients wrap a long "On ... wrote:" line in two.
    if i + 1 < len(lines) and len(candidate) <= 300 and _REPLY_HEADER.match(
            f"{candidate} {lines[i + 1].strip()}"):
        return True
    return bool(_QUOTED_FROM.match(line)) and any(
        _QUOTED_SENT.match(following) for following in lines[i + 1:i + 4])


def _attachment_names(message: EmailMessage, body: MIMEPart | None) -> list[str]:
    names: list[str] = []

    def visit(part: MIMEPart) -> None:
        if part.get_content_maintype() == "multipart":
            for sub in part.iter_parts():
                visit(sub)
            return
        if part is body:
            return
        filename = part.get_filename()
        if filename or part.is_attachment() or part.get_content_maintype() != "text":
            names.append(" ".join((filename or "").split()))

    if message.is_multipart():
        visit(message)
    return names


# --- mail never to answer -------------------------------------------------------------------

def should_not_reply(parsed: ParsedEmail) -> str | None:
    """Why this mail must never be answered (auto-reply, list, bounce), or None."""
    headers = parsed.headers
    auto = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in {"bulk", "list", "junk", "auto_reply"}:
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe"):
        if name in headers:
            return f"mailing list ({name})"
    local_part = parsed.sender.rpartition("@")[0].lower()
    if local_part in {"mailer-daemon", "postmaster"}:
        return f"bounce (sender {local_part})"
    if parsed.content_type == "multipart/report":
        return "bounce (multipart/report)"
    if "return-path" in headers and re.fullmatch(r"<\s*>", headers["return-path"]):
        return "bounce (empty Return-Path)"
    for name in ("x-failed-recipients", "x-autoreply", "x-autorespond"):
        if name in headers:
            return f"automatic mail ({name})"
    return None


# --- threading ------------------------------------------------------------------------------

def resolve_thread_key(session: DbSession, parsed: ParsedEmail, *, proven: bool = True) -> str:
    """The conversation's thread key: the thread root, or the thread an id we know belongs to.

    Clients drop References and rewrite subjects; an In-Reply-To naming a mail we sent or the
    customer sent earlier still finds the conversation. Another address writing into the
    thread (a forward, a CC) gets a conversation of its own: identity is per address.
    """
    known = [parsed.message_id, *([parsed.in_reply_to] if parsed.in_reply_to else []),
             *reversed(parsed.references)]
    found: dict[str, str] = dict(session.execute(
        select(SentEmailRow.message_id, ConversationRow.thread_key)
        .join(ConversationRow, ConversationRow.id == SentEmailRow.conversation_id)
        .where(SentEmailRow.message_id.in_(known))).all())
    for mid, thread_key in session.execute(
            select(MessageRow.provider_message_id, ConversationRow.thread_key)
            .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
            .where(MessageRow.channel == CHANNEL, MessageRow.provider_message_id.in_(known))):
        found.setdefault(mid, thread_key)
    key = next((found[mid] for mid in known if mid in found), parsed.thread_root)
    if not proven:
        # A sender nothing proved never continues a conversation, a proven one's above all:
        # a forged From in a customer's thread must not inherit what that thread verified.
        own = f"{key} {parsed.sender.lower()}"
        if len(UNPROVEN_THREAD + own) > 512:
            own = f"sha256:{hashlib.sha256(own.encode()).hexdigest()}"
        return UNPROVEN_THREAD + own
    contact = session.scalar(select(ConversationRow.contact).where(
        ConversationRow.channel == CHANNEL, ConversationRow.thread_key == key))
    if contact is not None and contact.lower() != parsed.sender.lower():
        own = f"{key} {parsed.sender.lower()}"
        return own if len(own) <= 512 else f"sha256:{hashlib.sha256(own.encode()).hexdigest()}"
    return key


# --- the channel ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one inbound mail: ignored (with the reason), answered and queued,
    taken as a seller's answer to a case, or a seller's hand-over of a customer's message."""

    message_id: str
    ignored: str | None = None
    reply: Reply | None = None
    seller_mail: SellerMailOutcome | None = None
    handover: HandoverResult | None = None


class AcceptedOut(BaseModel):
    conversation_id: str
    outcome: Outcome
    queued: Literal[True] = True


class IgnoredOut(BaseModel):
    ignored: str


class SellerMailOut(BaseModel):
    """A seller's reply to a case notification; a refusal was mailed to the sender."""

    seller_mail: Literal["answered", "refused", "duplicate"]


class HandoverMailOut(BaseModel):
    """A seller's forward to a hand-over address; the sender was answered by mail."""

    handover: Literal["taken_over", "refused"]
    handover_id: str


class EmailChannel:
    name: str = CHANNEL

    def __init__(self, store: Store, sender: SmtpSender, *, smtp_port: int = 2525,
                 clock: Clock = wall_clock,
                 answer_case: CaseAnswerer | None = None,
                 webhook_token: str | None = None,
                 handover_addresses: Mapping[str, str] | None = None,
                 checks: SenderChecks | None = None,
                 case_secret: bytes | None = None,
                 recipient_limit: str = "10/hour;30/day") -> None:
        if not 0 < smtp_port < 65536:
            raise ValueError(f"smtp_port must be 1..65535, got {smtp_port}")
        self.store = store
        self.sender = sender
        self.smtp_port = smtp_port
        self.clock = clock
        self.webhook_token = webhook_token
        # Fail closed by default: the system's DNS on our SMTP server, and no provider's
        # verdict believed on the webhook until its authserv-id is configured.
        self.checks: SenderChecks = checks or sender_checks()
        self.recipient_limits = [(item.amount, timedelta(seconds=item.get_expiry()))
                                 for item in parse_many(recipient_limit)]
        # Told of each failed sender check (the app counts them for Prometheus).
        self.on_auth_failure: Callable[[CheckKind], None] = lambda kind: None
        self.domain = parseaddr(sender.sender)[1].rpartition("@")[2] or "csba.example"
        # Without the agent's answer_case, sellers answer in the portal only.
        self.seller_mail = (SellerMail(store, answer_case, domain=self.domain, clock=clock,
                                       secret=case_secret)
                            if answer_case is not None else None)
        # Without hand-over addresses, no mail is taken as a seller's hand-over.
        self.handover: HandoverMail | None = None
        if handover_addresses:
            from channels.handover import HandoverMail  # imports this module: at call time
            self.handover = HandoverMail(store, handover_addresses, domain=self.domain,
                                         clock=clock)

    @classmethod
    def from_settings(cls, settings: Settings, *,
                      answer_case: CaseAnswerer | None = None) -> Self:
        # Its own engine on the agent's database: threading and the reply queue live there.
        return cls(Store(make_engine(settings.resolved_database_url)),
                   SmtpSender(settings.smtp_url), smtp_port=settings.smtp_port,
                   answer_case=answer_case, clock=settings.clock,
                   webhook_token=settings.email_webhook_token.get_secret_value()
                   if settings.email_webhook_token else None,
                   handover_addresses=settings.handover_addresses,
                   checks=sender_checks(settings.dns_nameserver, settings.email_authserv_id),
                   case_secret=settings.mail_secret.get_secret_value().encode()
                   if settings.mail_secret else None,
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
        parsed = parse_email(raw, require_text=False)
        reason = should_not_reply(parsed)
        if reason is not None:
            log.info("email %s not answered: %s", parsed.message_id, reason)
            return Receipt(parsed.message_id, ignored=reason)
        if auth is None:
            auth = self.checks.from_headers(raw)
        # The address the checks proved must be the one this channel reads as the sender.
        proven = auth.verified_address if auth.proves(parsed.sender) else None
        if self.handover is not None and self.handover.addressed(parsed, recipients):
            result = self.handover.receive(raw, parsed, handle, auth)
            if proven is None:
                self._auth_failed("handover", parsed, auth)
            return Receipt(parsed.message_id, handover=result)
        # Before the text check: a seller's empty reply is refused by mail, not bounced.
        if self.seller_mail is not None:
            case_id = self.seller_mail.recognise(parsed, recipients)
            if case_id is not None:
                outcome = self.seller_mail.receive(parsed, case_id, auth, recipients)
                if outcome.reason == "unproven":
                    self._auth_failed("seller_answer", parsed, auth)
                return Receipt(parsed.message_id, seller_mail=outcome)
        require_text_of(parsed)
        if proven is None:
            # Stored and answered in the conversation, but nothing is mailed to an address
            # that did not prove itself, and the agent is told nothing was proven.
            self._auth_failed("customer", parsed, auth)
        reply_mail = ReplyMail(subject=parsed.subject, references=parsed.references,
                               domain=self.domain)
        with self.store.reads() as session:
            thread_key = resolve_thread_key(session, parsed, proven=proven is not None)
        reply = handle(InboundMessage(
            channel=CHANNEL, sender=parsed.sender, text=parsed.text, thread_key=thread_key,
            received_at=self.clock(), provider_message_id=parsed.message_id,
            verified_contact=proven, reaches_sender=proven is not None,
            metadata=MappingProxyType({
                "subject": parsed.subject, "attachments": str(len(parsed.attachments)),
                "attachment_names": json.dumps(list(parsed.attachments), ensure_ascii=False)}),
            # The turn queues its reply as a mail answering this one: a redelivery of the
            # mail gets the stored reply back and queues nothing.
            reply_mail=reply_mail if proven is not None else None))
        if reply.intent == "rate_limited" and proven is not None:
            # Refused before the agent: no turn queued it
            self._queue_refusal(parsed, reply_mail, reply)
        log.info("email %s conversation=%s outcome=%s chars=%d attachments=%d", parsed.message_id,
                 reply.conversation_id, reply.outcome, len(parsed.text), len(parsed.attachments))
        return Receipt(parsed.message_id, reply=reply)

    def _auth_failed(self, kind: CheckKind, parsed: ParsedEmail, auth: SenderAuth) -> None:
        log.warning("email %s: sender not proven for %s (%s)", parsed.message_id, kind,
                    auth.describe())
        self.on_auth_failure(kind)

    def _queue_refusal(self, parsed: ParsedEmail, mail: ReplyMail, reply: Reply) -> None:
        """Queue the rate limit's polite reply, once per inbound Message-ID."""
        try:
            with self.store.sessions.begin() as session:
                queue_email_reply(session, message_id=parsed.message_id,
                                  recipient=parsed.sender, mail=mail, body=reply.text,
                                  now=self.clock())
        except IntegrityError:  # a concurrent delivery of the same mail queued it first
            return

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

        @router.post(
            "/email/inbound", status_code=202,
            response_model=AcceptedOut | IgnoredOut | SellerMailOut | HandoverMailOut,
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
        async def email_inbound(request: Request
                                ) -> AcceptedOut | IgnoredOut | SellerMailOut | HandoverMailOut:
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
            if receipt.ignored is not None:
                return IgnoredOut(ignored=receipt.ignored)
            if receipt.seller_mail is not None:
                return SellerMailOut(seller_mail=receipt.seller_mail.result)
            if receipt.handover is not None:
                return HandoverMailOut(handover=receipt.handover.status,
                                       handover_id=receipt.handover.handover_id)
            assert receipt.reply is not None
            return AcceptedOut(conversation_id=receipt.reply.conversation_id,
                               outcome=receipt.reply.outcome)

        return router

    def send(self, row: OutboxRow) -> None:
        """Send one queued mail: a case notification with its case's secret reply address,
        and no reply to an address past the per-recipient limit."""
        conversation_id = row.meta.get("conversation_id")
        if conversation_id and self._unproven(str(conversation_id)):
            # Kept in the conversation, mailed to nobody: no backscatter. The row is done.
            log.warning("outbox row %s not mailed: its conversation's sender was never proven",
                        row.id)
            return
        if row.meta.get("kind") in LIMITED_KINDS:
            self._within_recipient_limit(row, self.clock())
        reply_to = None
        case_id = row.meta.get("case_id")
        if self.seller_mail is not None and row.meta.get("kind") == SELLER_NOTIFICATION \
                and case_id:
            reply_to = self.seller_mail.addresses.address(str(case_id))
        self.sender.send(row, reply_to=reply_to)

    def _unproven(self, conversation_id: str) -> bool:
        with self.store.reads() as session:
            key = session.scalar(select(ConversationRow.thread_key).where(
                ConversationRow.id == conversation_id, ConversationRow.channel == CHANNEL))
        return key is not None and key.startswith(UNPROVEN_THREAD)

    def _within_recipient_limit(self, row: OutboxRow, now: datetime) -> None:
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
