"""One-time codes: how a requester whose channel proved nothing shows an order is theirs.

A code goes to the order's own email address or phone number through the outbox, in the
turn's transaction, and is typed back in the conversation. Codes are short, single use,
expiring, hashed at rest, with a bounded number of tries; sends are limited per order and per
conversation. A request about an order that does not exist is answered and stored exactly as
one about someone else's order (a row that is never sent): nobody can probe which orders exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.models import ConversationRow, OutboxRow, VerificationCodeRow
from agent.outgoing_mail import queue_email
from agent.records import Order
from agent.replies import render

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_TRIES = 5  # wrong codes typed before a code stops working
SEND_WINDOW = timedelta(hours=1)
SENDS_PER_ORDER = 3  # codes sent to one order's contact per hour, whoever asks
REQUESTS_PER_CONVERSATION = 5  # codes one conversation may ask for per hour
CODE = re.compile(rf"(?<![\d-])\d{{{CODE_DIGITS}}}(?![\d-])")

Checked = Literal["confirmed", "wrong", "expired", "exhausted", "none"]


def normalise_contact(value: str) -> str:
    """An email address lower-cased, or a phone number as its digits and a leading ``+``;
    a WhatsApp sender without its ``whatsapp:`` prefix."""
    value = value.strip().lower().removeprefix("whatsapp:")
    return value if "@" in value else re.sub(r"[^\d+]", "", value)


def is_customer(order: Order, contact: str | None) -> bool:
    """Whether ``contact`` (a proven contact) is the order's customer's email or phone."""
    if not contact:
        return False
    proven = normalise_contact(contact)
    known = [normalise_contact(c) for c in (order.customer.email, order.customer.phone) if c]
    return bool(proven) and proven in known


def extract_code(text: str) -> str | None:
    found = CODE.findall(text)
    return found[0] if len(found) == 1 else None


def _hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _since(session: Session, *where: object) -> int:
    return session.scalar(select(func.count()).select_from(VerificationCodeRow)
                          .where(*where)) or 0  # type: ignore[arg-type]


def request_code(session: Session, *, conv: ConversationRow, order_id: str,
                 order: Order | None, language: str, now: datetime,
                 deliver: bool = True) -> bool:
    """Make a code for ``order_id`` in this conversation and queue it to the order's contact.
    False when the conversation asked for too many codes lately (nothing is made). Whether
    the order exists, has a contact or reached its own send limit changes nothing the
    requester sees; nor does ``deliver`` False (the requester could never be answered), which
    sends nothing."""
    window = now - SEND_WINDOW
    if _since(session, VerificationCodeRow.conversation_id == conv.id,
              VerificationCodeRow.created_at > window) >= REQUESTS_PER_CONVERSATION:
        return False
    for earlier in session.scalars(select(VerificationCodeRow).where(
            VerificationCodeRow.conversation_id == conv.id,
            VerificationCodeRow.closed_at.is_(None))):
        earlier.closed_at = now  # one live code per conversation: the newest
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    deliverable = deliver and order is not None \
        and bool(order.customer.email or order.customer.phone) \
        and _since(session, VerificationCodeRow.order_id == order_id,
                   VerificationCodeRow.sent.is_(True),
                   VerificationCodeRow.created_at > window) < SENDS_PER_ORDER
    row = VerificationCodeRow(conversation_id=conv.id, order_id=order_id, salt=salt,
                              code_hash=_hash(salt, code), created_at=now,
                              expires_at=now + CODE_TTL, tries=0, sent=deliverable)
    session.add(row)
    session.flush()
    if deliverable:
        assert order is not None
        _queue_code(session, row, order, code, language, now)
    return True


def _queue_code(session: Session, row: VerificationCodeRow, order: Order, code: str,
                language: str, now: datetime) -> None:
    """The code to the order's email address, else to its phone by SMS: never to the
    requester, who may be anyone."""
    body = render("code_message", language, code=code, order_id=order.order_id,
                  minutes=int(CODE_TTL.total_seconds() // 60))
    key = f"verification-code:{row.id}"
    meta = {"kind": "verification_code", "conversation_id": row.conversation_id}
    if order.customer.email:
        # Not linked to the conversation: a reply to this mail is a new email conversation,
        # never a message in the (perhaps someone else's) chat that asked for the code.
        queue_email(session, dedupe_key=key, recipient=order.customer.email.lower(),
                    subject=render("code_subject", language), body=body,
                    kind="verification_code", now=now)
        return
    assert order.customer.phone
    session.add(OutboxRow(dedupe_key=key, channel="sms",
                          recipient=normalise_contact(order.customer.phone), subject=None,
                          body=body, created_at=now, meta=meta))


def live_code(session: Session, conv: ConversationRow, order_id: str) -> bool:
    """Whether the conversation holds a code for this order that may still be typed."""
    return session.scalar(select(VerificationCodeRow.id).where(
        VerificationCodeRow.conversation_id == conv.id,
        VerificationCodeRow.order_id == order_id,
        VerificationCodeRow.closed_at.is_(None))) is not None


def check_code(session: Session, *, conv: ConversationRow, order_id: str, typed: str,
               now: datetime) -> tuple[Checked, int]:
    """Check a typed code against the conversation's live code for ``order_id``: the result
    and the tries left."""
    row = session.scalar(select(VerificationCodeRow).where(
        VerificationCodeRow.conversation_id == conv.id,
        VerificationCodeRow.order_id == order_id,
        VerificationCodeRow.closed_at.is_(None)).order_by(VerificationCodeRow.id.desc()))
    if row is None:
        return "none", 0
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(
        tzinfo=now.tzinfo)
    if now >= expires:
        row.closed_at = now
        return "expired", 0
    row.tries += 1
    if hmac.compare_digest(row.code_hash, _hash(row.salt, typed)) and row.sent:
        row.closed_at = now  # single use
        return "confirmed", 0
    left = MAX_TRIES - row.tries
    if left <= 0:
        row.closed_at = now
        return "exhausted", 0
    return "wrong", left
