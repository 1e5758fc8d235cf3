"""Playing conversations through the service's own doors, turn by turn.

Each conversation runs against the whole FastAPI app on a fresh copy of the loaded database,
through the entry point of its channel as a customer's traffic arrives: the web chat's HTTP
API with a host site's signed login, the Twilio webhooks for SMS, WhatsApp and voice signed
with Twilio's own ``RequestValidator`` (voice: the call, then each turn with ``SpeechResult``
or ``Digits`` at the URL the previous TwiML named), and email as raw MIME on the inbound
webhook with the mail provider's verdict. What a turn is judged on is what the customer got:
the chat reply, the TwiML ``<Message>`` or ``<Say>`` texts, the mails and texts queued to them
during the turn; the outcome, intent and case come from the reply the service stored.

The app is made by the caller (``make_app``): ``evals`` sits beside ``channels`` and never
imports it, so ``csba eval`` and the tests hand in ``channels.app.create_app``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient
from langchain_core.embeddings import Embeddings
from pydantic import HttpUrl, SecretStr
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from agent.cases import OPEN
from agent.db import Store
from agent.messages import Reply
from agent.models import CaseRow, MessageRow, OutboxRow
from base.settings import Settings
from evals.conversations import Conversation, Turn, TurnExpect, fill_conversation_customers
from evals.runner import eval_settings, fresh_copy, loaded_data
from evals.scoring import Check, check_reply, contains, normalise
from knowledge.index import KnowledgeIndex
from seller.ingest import IngestInput

log = logging.getLogger(__name__)

CONVERSATION_RESULTS = "conversation_results.jsonl"
AppFactory = Callable[[Settings, KnowledgeIndex], FastAPI]

# The run's own credentials: every request is signed as the real senders sign theirs.
BASE_URL = "http://testserver"
TWILIO_TOKEN = "conversation-eval-twilio-token-0123456789"
CHAT_SECRET = "conversation-eval-chat-identity-secret"
AUTHSERV_ID = "mx.conversation-eval.example"
SERVICE_ADDRESS = "service@csba.example"
# The service's phone line per marketplace: the number dialled tells the marketplace.
LINES = {"DE": "+4930555010200", "ES": "+34910555010", "UK": "+442079460100",
         "US": "+12025550100", "FR": "+33140555010", "IT": "+390655501000"}


@dataclass
class TurnResult:
    """What one turn got and which of its checks failed."""

    text: str
    reply: Reply | None
    failures: list[str]
    latency_ms: float
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class ConversationResult:
    """One line of conversation_results.jsonl: a conversation passes when every turn does."""

    id: str
    turns: list[TurnResult]
    failures: list[str]  # the conversation's own (cases in all, a crash)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and all(t.passed for t in self.turns)

    def to_json(self) -> dict[str, Any]:
        # Ids, outcomes and what was missing; the replies' text is the service's own words.
        return {"id": self.id, "passed": self.passed, "failures": self.failures,
                "error": self.error,
                "turns": [{"passed": t.passed, "failures": t.failures,
                           "outcome": t.reply.outcome if t.reply else None,
                           "intent": t.reply.intent if t.reply else None,
                           "case_id": t.reply.case_id if t.reply else None,
                           "text": t.text, "latency_ms": round(t.latency_ms, 2)}
                          for t in self.turns]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ConversationResult:
        turns = [TurnResult(text=t.get("text", ""), reply=None, failures=list(t["failures"]),
                            latency_ms=float(t.get("latency_ms", 0.0))) for t in raw["turns"]]
        return cls(id=raw["id"], turns=turns, failures=list(raw["failures"]),
                   error=raw.get("error"))


def sign_login(contact: str, expires: int) -> str:
    """The host site's signed login, in the format the chat API documents."""
    payload = f"v1.{expires}.{contact}"
    digest = hmac.new(CHAT_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{digest}"


def said_in(twiml: str) -> tuple[list[str], str | None, bool]:
    """(the texts said or sent, the next turn's action URL, whether the call hung up)."""
    root = ET.fromstring(twiml)
    texts = [(el.text or "").strip() for el in root.iter() if el.tag in {"Say", "Message"}]
    gather = next(root.iter("Gather"), None)
    action = gather.get("action") if gather is not None else None
    return [t for t in texts if t], action, next(root.iter("Hangup"), None) is not None


class Player:
    """One conversation's client: sends each turn through its channel, reads what came back."""

    def __init__(self, client: TestClient, conv: Conversation, settings: Settings) -> None:
        self.client, self.conv, self.settings = client, conv, settings
        self.line = LINES.get(conv.marketplace, LINES["US"])
        digest = hashlib.sha1(conv.id.encode()).hexdigest()
        # A stranger's number and address, the same on every run.
        self.phone = conv.customer.phone or f"+1555{int(digest[:8], 16) % 10**7:07d}"
        self.email = conv.customer.email or f"{conv.id}@customer.example"
        self.validator = RequestValidator(TWILIO_TOKEN)
        self.chat: tuple[str, str] | None = None
        self.voice_url: str | None = None
        self.hung_up = False
        self.mail_ids: list[str] = []
        self.turn = 0

    def signed(self, path: str, params: dict[str, str]) -> str:
        signature = self.validator.compute_signature(BASE_URL + path, params)
        response = self.client.post(path, data=params,
                                     headers={"X-Twilio-Signature": signature})
        response.raise_for_status()
        return response.text

    def send(self, turn: Turn) -> str:
        """The turn through the channel; the text the customer got back at once."""
        self.turn += 1
        channel = self.conv.channel
        if channel == "chat":
            return self._chat(turn.message or "")
        if channel in {"sms", "whatsapp"}:
            return self._messaging(turn.message or "")
        if channel == "voice":
            return self._voice(turn)
        self._email(turn.message or "")
        return ""

    def _chat(self, text: str) -> str:
        if self.chat is None:
            expires = int((self.settings.clock() + timedelta(hours=2)).timestamp())
            start: dict[str, Any] = {"marketplace": self.conv.marketplace, "email": self.email,
                                     "identity_token": sign_login(self.email, expires)}
            if self.conv.order_given and self.conv.order_id:
                start["order_id"] = self.conv.order_id
            made = self.client.post("/v1/conversations", json=start)
            made.raise_for_status()
            body = made.json()
            self.chat = body["conversation_id"], body["conversation_secret"]
        key, secret = self.chat
        answered = self.client.post(f"/v1/conversations/{key}/messages",
                                    json={"text": text, "client_message_id": f"t{self.turn}"},
                                    headers={"X-Conversation-Secret": secret})
        answered.raise_for_status()
        return str(answered.json()["text"])

    def _messaging(self, text: str) -> str:
        whatsapp = self.conv.channel == "whatsapp"
        sid = f"SM{hashlib.sha1(f'{self.conv.id}:{self.turn}'.encode()).hexdigest()[:32]}"
        params = {"MessageSid": sid, "SmsSid": sid,
                  "AccountSid": self.settings.twilio_account_sid,
                  "From": f"whatsapp:{self.phone}" if whatsapp else self.phone,
                  "To": f"whatsapp:{self.line}" if whatsapp else self.line,
                  "Body": text, "NumMedia": "0"}
        texts, _, _ = said_in(self.signed("/twilio/messaging", params))
        return "\n".join(texts)

    def _voice(self, turn: Turn) -> str:
        call = {"CallSid": f"CA{hashlib.sha1(self.conv.id.encode()).hexdigest()[:32]}",
                "AccountSid": self.settings.twilio_account_sid, "From": self.phone,
                "To": self.line, "Caller": self.phone, "Called": self.line,
                "CallStatus": "in-progress", "Direction": "inbound"}
        if self.voice_url is None:
            _, self.voice_url, _ = said_in(self.signed("/twilio/voice", call))
        if self.hung_up or self.voice_url is None:
            raise CallEnded("the call had ended before this turn")
        params = dict(call)
        if turn.digits is not None:
            params["Digits"] = turn.digits
        else:
            params |= {"SpeechResult": turn.message or "", "Confidence": "0.92"}
        path = self.voice_url if self.voice_url.startswith("/") else urlsplit(self.voice_url).path
        texts, self.voice_url, self.hung_up = said_in(self.signed(path, params))
        return " ".join(texts)

    def _email(self, text: str) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"] = self.email, SERVICE_ADDRESS
        if self.conv.subject:
            mail["Subject"] = ("Re: " if self.mail_ids else "") + self.conv.subject
        mail["Date"] = format_datetime(self.settings.clock())
        message_id = f"<{self.conv.id}.{self.turn}@customer.example>"
        mail["Message-ID"] = message_id
        if self.mail_ids:
            mail["In-Reply-To"] = self.mail_ids[-1]
            mail["References"] = " ".join(self.mail_ids)
        mail.set_content(text)
        domain = self.email.rpartition("@")[2]
        # What the inbound provider adds once it has checked the sender's domain.
        verdict = (f"Authentication-Results: {AUTHSERV_ID}; dkim=pass header.d={domain}; "
                   f"dmarc=pass header.from={domain}\r\n")
        raw = verdict.encode() + mail.as_bytes()
        posted = self.client.post("/email/inbound", content=raw,
                                  headers={"Content-Type": "message/rfc822"})
        posted.raise_for_status()
        self.mail_ids.append(message_id)


class CallEnded(Exception):
    """The call hung up while the conversation still had turns."""


@dataclass
class Seen:
    """Where the records stood before a turn: what is newer is the turn's."""

    message_id: int = 0
    outbox_id: int = 0
    cases: frozenset[str] = frozenset()


def _now_seen(store: Store) -> Seen:
    with store.reads() as session:
        return Seen(session.scalar(select(func.max(MessageRow.id))) or 0,
                    session.scalar(select(func.max(OutboxRow.id))) or 0,
                    frozenset(session.scalars(select(CaseRow.id))))


def _turn_records(store: Store, before: Seen, contacts: set[str]
                  ) -> tuple[Reply | None, list[str]]:
    """The reply stored for the turn's message and the texts queued to the customer."""
    with store.reads() as session:
        stored = session.scalars(select(MessageRow.reply).where(
            MessageRow.id > before.message_id, MessageRow.reply.is_not(None))
            .order_by(MessageRow.id.desc())).first()
        queued = session.scalars(select(OutboxRow).where(
            OutboxRow.id > before.outbox_id).order_by(OutboxRow.id)).all()
        bodies = [row.body for row in queued
                  if row.recipient.removeprefix("whatsapp:") in contacts]
    return (Reply.model_validate(stored) if stored else None), bodies


def _conversation_cases(store: Store, start: Seen) -> tuple[int, int]:
    """(cases this conversation opened, of which awaiting the seller)."""
    with store.reads() as session:
        rows = [(case_id, status) for case_id, status in
                session.execute(select(CaseRow.id, CaseRow.status)) if case_id not in start.cases]
    return len(rows), sum(status == OPEN for _, status in rows)


def check_turn(expect: TurnExpect, language: str, text: str, reply: Reply | None,
               previous: str | None, open_cases: int) -> list[Check]:
    """The dev eval's checks on the text the customer got, and the conversation's own."""
    shown = reply.model_copy(update={"text": text}) if reply is not None else None
    checks = check_reply(expect.model_copy(update={"language": expect.language or language}),
                         shown)
    if reply is None and text:
        # No stored reply (the channel answered by itself): outcome and intent are unknown,
        # but the text still counts for facts and forbidden phrases: it is what was heard.
        checks = [c for c in checks if c.kind not in {"fact", "forbidden"}]
        checks += [Check("fact", contains(text, f), f"fact missing: {f}") for f in expect.facts]
        checks += [Check("forbidden", not contains(text, p), f"forbidden phrase said: {p}")
                   for p in expect.forbidden]
    if expect.case_open is not None:
        is_open = open_cases > 0
        checks.append(Check("escalation", is_open == expect.case_open,
                            "no seller case is open, one should be" if not is_open else
                            "a seller case is open, none should be"))
    if expect.not_repeating and previous and normalise(previous) in normalise(text):
        checks.append(Check("forbidden", False, "the previous reply was said again whole"))
    return checks


def play_conversation(client: TestClient, store: Store, conv: Conversation,
                      settings: Settings) -> ConversationResult:
    player = Player(client, conv, settings)
    contacts = {c for c in (player.email, player.phone) if c}
    start = _now_seen(store)
    results: list[TurnResult] = []
    previous: str | None = None
    error: str | None = None
    for turn in conv.turns:
        before = _now_seen(store)
        began = time.perf_counter()
        try:
            said = player.send(turn)
        except Exception:  # noqa: BLE001 - a crash is this conversation's result, not a stop
            log.warning("conversation %s failed on turn %d", conv.id, len(results) + 1)
            error = traceback.format_exc()
            break
        latency = (time.perf_counter() - began) * 1000
        reply, queued = _turn_records(store, before, contacts)
        text = "\n".join(t for t in (said, *queued) if t)
        _, open_cases = _conversation_cases(store, start)
        checks = check_turn(turn.expect, conv.language, text, reply, previous, open_cases)
        results.append(TurnResult(text=text, reply=reply, latency_ms=latency, checks=checks,
                                  failures=[c.detail for c in checks if not c.passed]))
        previous = text
    failures: list[str] = []
    if error is not None:
        failures.append(f"error on turn {len(results) + 1}: {error.strip().splitlines()[-1]}")
        results += [TurnResult(text="", reply=None, latency_ms=0.0,
                               failures=["not played: an earlier turn failed"])
                    for _ in conv.turns[len(results):]]
    opened, _ = _conversation_cases(store, start)
    if conv.max_cases is not None and opened > conv.max_cases:
        failures.append(f"cases: {opened} opened, at most {conv.max_cases} allowed")
    return ConversationResult(conv.id, results, failures, error)


def conversation_settings(base: Settings, data_dir: Path, database: Path,
                          conv: Conversation) -> Settings:
    """The eval's settings on one conversation's database, its clock at the conversation's
    ``now``, and the run's own keys for Twilio, the chat login and the mail provider."""
    return eval_settings(base, data_dir).model_copy(update={
        "database_url": f"sqlite:///{database}", "clock_start": conv.now,
        "twilio_auth_token": SecretStr(TWILIO_TOKEN), "public_base_url": HttpUrl(BASE_URL),
        "twilio_api_base": HttpUrl("http://127.0.0.1:9"),
        "chat_identity_secret": SecretStr(CHAT_SECRET), "email_authserv_id": AUTHSERV_ID,
        "email_webhook_token": None, "smtp_url": "smtp://127.0.0.1:9"})


@contextmanager
def _conversation_db(pristine: Path, workdir: Path) -> Iterator[Path]:
    yield fresh_copy(pristine, workdir, "conversation.sqlite3")


def _write(handle: TextIO, result: ConversationResult) -> None:
    handle.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    handle.flush()


def run_conversations(conversations: list[Conversation], data: IngestInput, out_dir: Path, *,
                      settings: Settings, make_app: AppFactory,
                      embeddings: Embeddings | None = None,
                      on_done: Callable[[Conversation, ConversationResult], None] | None = None
                      ) -> list[tuple[Conversation, ConversationResult]]:
    """Every conversation through the app on a fresh copy of the loaded data; results are
    written to ``out_dir/conversation_results.jsonl`` as they come."""
    out_dir.mkdir(parents=True, exist_ok=True)
    conversations = fill_conversation_customers(conversations, data.orders)
    done: list[tuple[Conversation, ConversationResult]] = []
    with tempfile.TemporaryDirectory(prefix="csba-conversations-") as tmp:
        work = Path(tmp)
        with loaded_data(settings, work, data, embeddings) as (_, index, pristine), \
                (out_dir / CONVERSATION_RESULTS).open("w", encoding="utf-8") as out:
            for conv in conversations:
                with _conversation_db(pristine, work) as database:
                    result = _play_on_app(conv, conversation_settings(
                        settings, work / "data", database, conv), index, make_app)
                _write(out, result)
                done.append((conv, result))
                if on_done:
                    on_done(conv, result)
    return done


def _play_on_app(conv: Conversation, settings: Settings, index: KnowledgeIndex,
                 make_app: AppFactory) -> ConversationResult:
    app = make_app(settings, index)
    store: Store = app.state.store
    try:
        with TestClient(app, base_url=BASE_URL) as client:
            return play_conversation(client, store, conv, settings)
    finally:
        store.engine.dispose()


def read_conversation_results(path: Path) -> list[ConversationResult]:
    with path.open(encoding="utf-8") as handle:
        return [ConversationResult.from_json(json.loads(line)) for line in handle
                if line.strip()]
