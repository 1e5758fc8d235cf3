"""Sellers answer a case by replying to its notification email.

A reply is recognised by the case's secret reply address (the notification's Reply-To,
``case+<case id>.<token>@<our domain>``, the token an HMAC of the case id under a key only the
service holds), by the case number in its subject or by In-Reply-To/References naming the
notification. It answers the case only when both hold: it was sent to that case's secret
address, and its From is the seller's registered address, proven by DMARC alignment
(``channels.mail_auth``). Every other outcome is at most one short reply that tells a
non-seller nothing about any case, and only to a sender the checks proved: a forged From
gets no mail at all. This module never handles a customer's mail and never logs text or
addresses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.cases import CASE_ID_PATTERN, OPEN, SELLER_NOTIFICATION, CaseError, seller_language
from agent.db import Store
from agent.models import CaseRow, ConversationRow, MailSecretRow, SellerMailRow, SentEmailRow
from agent.outgoing_mail import MAIL_DOMAIN, dedupe_key, queue_email, reply_subject
from agent.replies import render
from base.clock import Clock, wall_clock
from channels.base import Delivery

if TYPE_CHECKING:
    from channels.base import MessageHandler
    from channels.mail_auth import CheckKind, SenderAuth
    from channels.mailbox import InboundMail
    from channels.mime import ParsedEmail

log = logging.getLogger(__name__)

SellerMailResult = Literal["answered", "refused", "duplicate"]
# What the sender is told. "no_case" covers an unknown case, another seller's case and a
# sender that is not the case's seller alike, so the reply confirms no case to anyone.
# "unproven": not from the seller's proven address, or not to the case's secret address.
Refusal = Literal["no_case", "answered", "expired", "empty", "unproven"]
REPLY_KIND = "seller_mail_reply"

# Reply and forward prefixes of the common clients (en, de, fr, es, it, nordic) and gateway
# tags such as "[EXTERNAL]", any number of them, before the notification's own subject.
_SUBJECT_PREFIX = r"(?:\s*(?:(?:re|aw|antw|fwd?|wg|tr|rv|r|sv|vs)(?:\[\d+\])?\s*:|\[[^\]]*\]))*"
# The notification's subject begins with "Case", "Fall", "Caso" or "Cas" (the seller's
# language) and the case id, which is what a reply is matched by.
_CASE_SUBJECT = re.compile(rf"^{_SUBJECT_PREFIX}\s*(?:case|fall|caso|cas)\s+({CASE_ID_PATTERN})\b",
                           re.IGNORECASE)
# The consent line the notification asks for, in any seller language or English, on a line
# of its own.
_CONSENT_LINE = re.compile(
    r"^\s*(?:add\s+to\s+page|zur\s+seite\s+hinzuf(?:ü|ue)gen|a(?:ñ|n)adir\s+a\s+la\s+"
    r"p(?:á|a)gina|ajouter\s+(?:à|a)\s+la\s+page|aggiungi\s+alla\s+pagina)"
    r"\s*:\s*(\w+)\s*[.!]?\s*$", re.IGNORECASE)
_YES = frozenset({"yes", "ja", "sí", "si", "oui", "sì"})
_CASE_LOCAL = re.compile(rf"^case\+({CASE_ID_PATTERN})\.([a-z2-7]{{26}})$", re.IGNORECASE)
TOKEN_BYTES = 16  # 128 bits of HMAC-SHA256: no sender guesses it




def stored_secret(store: Store, name: str = "case_reply") -> bytes:
    with store.reads() as session:
        row = session.get(MailSecretRow, name)
        if row is not None:
            return bytes(row.value)
    try:
        with store.sessions.begin() as session:
            session.add(MailSecretRow(name=name, value=secrets.token_bytes(32)))
    except IntegrityError:  # another process made it first: theirs is the one
        pass
    with store.reads() as session:
        return bytes(session.get_one(MailSecretRow, name).value)


class CaseAddresses:
    """Each case's secret reply address, the way ticket systems prove a reply: only whoever
    got the notification knows it."""

    def __init__(self, secret: bytes, domain: str) -> None:
        if len(secret) < 16:
            raise ValueError("the case address key needs at least 16 bytes")
        self.secret = secret
        self.domain = domain.lower()

    def token(self, case_id: str) -> str:
        mac = hmac.new(self.secret, f"case-reply:{case_id.upper()}".encode(), hashlib.sha256)
        return base64.b32encode(mac.digest()[:TOKEN_BYTES]).decode().rstrip("=").lower()

    def address(self, case_id: str) -> str:
        return f"case+{case_id.lower()}.{self.token(case_id)}@{self.domain}"

    def case_of(self, addresses: Iterable[str]) -> str | None:
        """The case whose secret address is among ``addresses``, or None."""
        for address in addresses:
            local, _, domain = address.strip().strip("<>").lower().rpartition("@")
            match = _CASE_LOCAL.match(local)
            if domain != self.domain or match is None:
                continue
            case_id = match.group(1).upper()
            if hmac.compare_digest(match.group(2).lower(), self.token(case_id)):
                return case_id
        return None




class CaseAnswerer(Protocol):
    """``Agent.answer_case``: records the answer and relays it to the customer."""

    def __call__(self, case_id: str, seller_id: str, answer: str, *, add_to_knowledge: bool,
                 now: datetime,
                 record: Callable[[Session, CaseRow], None] | None = None) -> CaseRow: ...


class SellerMailOut(BaseModel):
    """A seller's reply to a case notification; a refusal was mailed to the sender."""

    seller_mail: SellerMailResult


@dataclass(frozen=True, slots=True)
class SellerMailOutcome:
    result: SellerMailResult
    reason: Refusal | None = None

    @property
    def sender_unproven(self) -> bool:
        return self.reason == "unproven"

    def response(self) -> SellerMailOut:
        return SellerMailOut(seller_mail=self.result)


def case_in_subject(subject: str) -> str | None:
    """The case number of a notification's subject, under any reply or forward prefixes."""
    match = _CASE_SUBJECT.match(subject)
    return match.group(1).upper() if match else None


def read_answer(text: str) -> tuple[str, bool]:
    """The seller's answer without the consent line, and whether it consents to the page.

    Consent is a line of its own, "ADD TO PAGE: yes" (German "ZUR SEITE HINZUFÜGEN: ja",
    Spanish "AÑADIR A LA PÁGINA: sí", French "AJOUTER À LA PAGE : oui", Italian
    "AGGIUNGI ALLA PAGINA: sì");
    no such line, or any such line not saying yes, is no consent.
    """
    kept: list[str] = []
    votes: list[bool] = []
    for line in text.split("\n"):
        match = _CONSENT_LINE.match(line)
        if match:
            votes.append(match.group(1).lower() in _YES)
        else:
            kept.append(line)
    return "\n".join(kept).strip(), bool(votes) and all(votes)


def same_address(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def _closed(status: str | None) -> Refusal:
    # "resolved" reads as answered to the seller: either way the case is done.
    return "expired" if status == "expired" else "answered"


class SellerMail:
    """The mailbox of sellers' answers to case notifications: a reply becomes the case's
    answer, or is refused by mail."""

    check: CheckKind = "seller_answer"
    reply_kind = REPLY_KIND
    response_model: type[BaseModel] = SellerMailOut

    def __init__(self, store: Store, answer_case: CaseAnswerer, *, domain: str = MAIL_DOMAIN,
                 clock: Clock = wall_clock, secret: bytes | None = None) -> None:
        self.store = store
        self.answer_case = answer_case
        self.domain = domain
        self.clock = clock
        self.addresses = CaseAddresses(secret or stored_secret(store), domain)

    def recognise(self, parsed: ParsedEmail, recipients: Iterable[str] = ()) -> str | None:
        """The id of the case this mail answers, or None for a customer's mail.

        The case's own customer writing with the case number in the subject is a customer
        writing to the service, not a refused seller.
        """
        secret_case = self.addresses.case_of([*recipients, *parsed.recipients])
        if secret_case is not None:
            return secret_case
        answered_ids = [mid for mid in (parsed.in_reply_to, *parsed.references) if mid]
        with self.store.reads() as session:
            if answered_ids:
                case_id = session.scalar(select(SentEmailRow.case_id).where(
                    SentEmailRow.message_id.in_(answered_ids),
                    SentEmailRow.kind == SELLER_NOTIFICATION,
                    SentEmailRow.case_id.is_not(None)).limit(1))
                if case_id:
                    return case_id
            case_id = case_in_subject(parsed.subject)
            if case_id is None:
                return None
            case = session.get(CaseRow, case_id)
            conv = session.get(ConversationRow, case.conversation_id) if case else None
            if conv is not None and conv.channel == "email" and same_address(conv.contact,
                                                                            parsed.sender):
                return None
        return case_id

    def accepts(self, mail: InboundMail) -> bool:
        return self.recognise(mail.parsed, mail.envelope) is not None

    def receive(self, mail: InboundMail, handle: MessageHandler) -> SellerMailOutcome:
        return self.answer(mail.parsed, self.recognise(mail.parsed, mail.envelope), mail.auth,
                           mail.envelope)

    def reply_to(self, row: Delivery) -> str | None:
        """A case notification's answer comes to the case's secret address."""
        case_id = row.meta.get("case_id")
        if row.meta.get("kind") == SELLER_NOTIFICATION and case_id:
            return self.addresses.address(str(case_id))
        return None

    def answer(self, parsed: ParsedEmail, case_id: str | None, auth: SenderAuth,
               recipients: Iterable[str] = ()) -> SellerMailOutcome:
        """Answer the case or refuse, once per Message-ID however often the mail arrives.

        ``auth`` is what the mail checks proved about the sender; ``recipients`` the SMTP
        envelope's (the headers' are on ``parsed``).
        """
        if self._seen(parsed.message_id):
            return self._duplicate(parsed.message_id)
        now = self.clock()
        # Replies go only to a sender the checks proved: a forged From gets no mail.
        reply_to = auth.verified_address
        with self.store.reads() as session:
            # None: recognised when accepted, no longer since; refused as an unknown case.
            case = session.get(CaseRow, case_id) if case_id is not None else None
            seller = self.store.seller(case.seller_id) if case is not None else None
            status = case.status if case is not None else None
        if case is None or seller is None or not same_address(seller.email, parsed.sender):
            log.info("seller mail %s for case %s refused: %s", parsed.message_id,
                     case_id, "unknown case" if case is None else "not its seller")
            return self._refuse(parsed, "no_case", now, case_id=None, reply_to=reply_to)
        secret_case = self.addresses.case_of([*recipients, *parsed.recipients])
        if not auth.proves(seller.email) or secret_case != case.id:
            log.warning("seller mail %s for case %s refused: sender not proven (%s, secret "
                        "address %s)", parsed.message_id, case.id, auth.describe(),
                        "right" if secret_case == case.id else "missing")
            return self._refuse(parsed, "unproven", now, case_id=None, reply_to=reply_to)
        lang = seller_language(seller)
        if status != OPEN:
            return self._refuse(parsed, _closed(status), now, case_id=case.id, language=lang,
                                reply_to=reply_to)
        answer, consent = read_answer(parsed.text)
        if not answer:
            return self._refuse(parsed, "empty", now, case_id=case.id, language=lang,
                                reply_to=reply_to)

        def record(session: Session, answered: CaseRow) -> None:
            session.add(SellerMailRow(message_id=parsed.message_id, case_id=answered.id,
                                      result="answered", received_at=now))
            knowledge = ""
            if answered.category == "product_question":
                knowledge = render("seller_mail_added" if answered.add_to_knowledge
                                   else "seller_mail_not_added", lang)
            self._queue_reply(session, parsed, now, case_id=answered.id, body=render(
                "seller_mail_relayed", lang, case_id=answered.id, knowledge=knowledge),
                recipient=reply_to)

        try:
            self.answer_case(case.id, case.seller_id, answer, add_to_knowledge=consent, now=now,
                             record=record)
        except (CaseError, IntegrityError):
            # Answered since we looked: by the portal, or by this very mail delivered twice
            # at once (then the refusal below finds its Message-ID taken and stays silent).
            with self.store.reads() as session:
                status = session.get_one(CaseRow, case.id).status
            if status == OPEN:  # it failed for another reason: the sender's retry may succeed
                raise
            return self._refuse(parsed, _closed(status), now, case_id=case.id, language=lang,
                                reply_to=reply_to)
        log.info("seller mail %s answered case %s (consent %s, %d chars)", parsed.message_id,
                 case.id, consent, len(answer))
        return SellerMailOutcome("answered")

    def _seen(self, message_id: str) -> bool:
        with self.store.reads() as session:
            return session.get(SellerMailRow, message_id) is not None

    @staticmethod
    def _duplicate(message_id: str) -> SellerMailOutcome:
        log.info("seller mail %s already processed", message_id)
        return SellerMailOutcome("duplicate")

    def _refuse(self, parsed: ParsedEmail, reason: Refusal, now: datetime, *,
                case_id: str | None, reply_to: str | None,
                language: str = "en") -> SellerMailOutcome:
        """Record the refusal and queue its one reply; a redelivery finds the record."""
        body = (render("seller_mail_refused_unknown", language)
                if reason in {"no_case", "unproven"}
                else render(f"seller_mail_refused_{reason}", language, case_id=case_id))
        try:
            with self.store.sessions.begin() as session:
                session.add(SellerMailRow(message_id=parsed.message_id, case_id=case_id,
                                          result="refused", reason=reason, received_at=now))
                session.flush()
                self._queue_reply(session, parsed, now, case_id=case_id, body=body,
                                  recipient=reply_to)
        except IntegrityError:
            return self._duplicate(parsed.message_id)
        log.info("seller mail %s refused (%s) case=%s", parsed.message_id, reason,
                 case_id or "-")
        return SellerMailOutcome("refused", reason)

    def _queue_reply(self, session: Session, parsed: ParsedEmail, now: datetime, *,
                     case_id: str | None, body: str, recipient: str | None) -> None:
        # case_id only when the sender is the case's seller: a reply to a refusal sent to
        # anyone else must not lead back to a case.
        if recipient is None:
            log.info("seller mail %s: no reply, the sender is not proven", parsed.message_id)
            return
        queue_email(session, dedupe_key=dedupe_key("seller-mail", parsed.message_id),
                    recipient=recipient, subject=reply_subject(parsed.subject), body=body,
                    kind=REPLY_KIND, now=now, case_id=case_id, in_reply_to=parsed.message_id,
                    references=parsed.references, domain=self.domain)
