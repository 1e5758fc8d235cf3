"""Emails we queue: our own Message-ID on each, recorded by index, and the customer's thread.

Every email row goes through ``queue_email`` so a reply to it (In-Reply-To, References) finds
its conversation or case again. This module queues; it never sends and never reads mail.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.messages import ReplyMail
from agent.models import ConversationRow, MessageRow, OutboxRow, SentEmailRow

MAIL_DOMAIN = "csba.example"  # the domain of the service's own address (channels.email_out)
MAX_REFERENCES = 20  # RFC 5322 lets a long References list be trimmed to root + recent ids
_MSGID = re.compile(r"<[^<>\s]+>")
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|antw)\s*:", re.IGNORECASE)
SUBJECT_CHARS = 256


def new_message_id(kind: str, *, domain: str = MAIL_DOMAIN) -> str:
    """A Message-ID of ours; random, so it tells nothing about the case or the customer."""
    return f"<{kind.replace('_', '-')}.{secrets.token_hex(10)}@{domain}>"


def is_message_id(value: str) -> bool:
    return bool(_MSGID.fullmatch(value))


def trim_references(ids: Sequence[str]) -> tuple[str, ...]:
    """At most MAX_REFERENCES ids, each once: the thread's root and the most recent ones."""
    unique = list(dict.fromkeys(ids))
    if len(unique) <= MAX_REFERENCES:
        return tuple(unique)
    return (unique[0], *unique[-(MAX_REFERENCES - 1):])


def dedupe_key(prefix: str, message_id: str) -> str:
    """An outbox dedupe key for the reply to one inbound mail, within the column's 128 chars."""
    key = f"{prefix}:{message_id}"
    if len(key) <= 128:
        return key
    return f"{prefix}:sha256:{hashlib.sha256(message_id.encode()).hexdigest()}"


def email_reply_key(message_id: str) -> str:
    """The outbox key of the one reply to an inbound mail, whoever queues it (its turn, the
    rate limit's refusal, a late reply, a hand-over's answer)."""
    return dedupe_key("email-reply", message_id)


def late_reply_key(row: MessageRow) -> str:
    """The outbox key of the reply to one message; email uses the key its channel uses, so a
    later redelivery of the same mail cannot queue a second reply."""
    if row.channel == "email":
        return email_reply_key(row.provider_message_id)
    return f"late-reply:{row.id}"


def reply_subject(subject: str) -> str | None:
    """"Re: <subject>" (once), or None when there is no subject to answer."""
    if not subject:
        return None
    return (subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}")[:SUBJECT_CHARS]


def queue_email(session: Session, *, dedupe_key: str, recipient: str, subject: str | None,
                body: str, kind: str, now: datetime, conversation_id: str | None = None,
                case_id: str | None = None, in_reply_to: str | None = None,
                references: Sequence[str] = (), domain: str = MAIL_DOMAIN) -> OutboxRow:
    """Add one email to the outbox with a Message-ID of ours, in the caller's transaction.

    A second row with the same ``dedupe_key`` fails the flush with ``IntegrityError``: the
    caller's way of knowing the email was already queued.
    """
    message_id = new_message_id(kind, domain=domain)
    meta: dict[str, str | None] = {"kind": kind, "message_id": message_id,
                                   "conversation_id": conversation_id, "case_id": case_id}
    if in_reply_to:
        meta["in_reply_to"] = in_reply_to
        meta["references"] = " ".join(trim_references([*references, in_reply_to]))
    row = OutboxRow(dedupe_key=dedupe_key, channel="email", recipient=recipient,
                    subject=subject, body=body, meta=meta, created_at=now, attempts=0)
    session.add(row)
    session.flush()  # the row's id, and the dedupe key checked now rather than at commit
    session.add(SentEmailRow(message_id=message_id, outbox_id=row.id, kind=kind,
                             conversation_id=conversation_id, case_id=case_id))
    return row


@dataclass(frozen=True, slots=True)
class CustomerThread:
    """Where a later email to the customer belongs: the mail it answers and the subject."""

    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str | None


def customer_thread(session: Session, conversation: ConversationRow) -> CustomerThread:
    """The customer's last mail in this conversation, and the subject of our last reply.

    A follow-up answering that mail lands in the customer's thread; the customer's reply to
    the follow-up then finds the conversation by our Message-ID (``SentEmailRow``).
    """
    theirs = [mid for mid in session.scalars(
        select(MessageRow.provider_message_id)
        .where(MessageRow.conversation_id == conversation.id, MessageRow.channel == "email")
        .order_by(MessageRow.received_at, MessageRow.id)) if is_message_id(mid)]
    subject = session.scalar(
        select(OutboxRow.subject).join(SentEmailRow, SentEmailRow.outbox_id == OutboxRow.id)
        .where(SentEmailRow.conversation_id == conversation.id,
               OutboxRow.subject.is_not(None))
        .order_by(OutboxRow.id.desc()).limit(1))
    if not theirs:
        return CustomerThread(None, (), reply_subject(subject or ""))
    root = [conversation.thread_key] if is_message_id(conversation.thread_key) else []
    return CustomerThread(theirs[-1], trim_references([*root, *theirs[:-1]]),
                          reply_subject(subject or ""))


def queue_email_reply(session: Session, *, message_id: str, recipient: str, mail: ReplyMail,
                      body: str, now: datetime, conversation_id: str | None = None) -> bool:
    """Queue ``body`` as the mail answering inbound mail ``message_id``, in the caller's
    transaction, unless its reply is queued already; whether it was queued."""
    key = email_reply_key(message_id)
    if session.scalar(select(OutboxRow.id).where(OutboxRow.dedupe_key == key)) is not None:
        return False
    queue_email(session, dedupe_key=key, recipient=recipient, subject=reply_subject(mail.subject),
                body=body, kind="email_reply", now=now, conversation_id=conversation_id,
                in_reply_to=message_id, references=mail.references, domain=mail.domain)
    return True
