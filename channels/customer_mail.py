"""The customers' mailbox: a customer's mail becomes a turn of the agent, threaded with the
mails before it, and the reply is queued as a mail answering it.

The last mailbox the app factory registers: every mail no other mailbox took is a customer's.
Only an address the sender checks proved is ever mailed back (no backscatter), and a sender
nothing proved gets a conversation of its own that nothing is ever mailed from.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.db import Store
from agent.messages import InboundMessage, Outcome, Reply, ReplyMail
from agent.models import ConversationRow, MessageRow, SentEmailRow
from agent.outgoing_mail import MAIL_DOMAIN, queue_email_reply
from base.clock import Clock, wall_clock
from channels.base import Delivery, MessageHandler
from channels.mail_auth import CheckKind
from channels.mailbox import InboundMail
from channels.mime import ParsedEmail, require_text_of

log = logging.getLogger(__name__)

CHANNEL: Literal["email"] = "email"
REPLY_KIND = "email_reply"  # agent.outgoing_mail queues a turn's reply under this kind
# The thread key prefix of a conversation started by a sender nothing proved: nothing in it
# is ever mailed (a late answer, a seller's answer to its case), since whoever wrote chose it.
UNPROVEN_THREAD = "unproven "


class AcceptedOut(BaseModel):
    conversation_id: str
    outcome: Outcome
    queued: Literal[True] = True


@dataclass(frozen=True, slots=True)
class CustomerReply:
    """The agent's reply to a customer's mail; ``proven``: whether it may be mailed."""

    reply: Reply
    proven: bool

    @property
    def sender_unproven(self) -> bool:
        return not self.proven

    def response(self) -> AcceptedOut:
        return AcceptedOut(conversation_id=self.reply.conversation_id,
                           outcome=self.reply.outcome)


def resolve_thread_key(session: Session, parsed: ParsedEmail, *, proven: bool = True) -> str:
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
        return _own_thread(key, parsed.sender, prefix=UNPROVEN_THREAD)
    contact = session.scalar(select(ConversationRow.contact).where(
        ConversationRow.channel == CHANNEL, ConversationRow.thread_key == key))
    if contact is not None and contact.lower() != parsed.sender.lower():
        return _own_thread(key, parsed.sender)
    return key


def _own_thread(key: str, sender: str, *, prefix: str = "") -> str:
    """The thread key of one address inside another's thread; its digest when the key would
    not fit the 512-character column."""
    own = f"{key} {sender.lower()}"
    if len(prefix + own) > 512:
        own = f"sha256:{hashlib.sha256(own.encode()).hexdigest()}"
    return prefix + own


class CustomerMail:
    """A customer's mail: stored and answered in its conversation, the reply queued as mail."""

    check: CheckKind = "customer"
    reply_kind = REPLY_KIND
    response_model: type[BaseModel] = AcceptedOut

    def __init__(self, store: Store, *, domain: str = MAIL_DOMAIN,
                 clock: Clock = wall_clock) -> None:
        self.store = store
        self.domain = domain
        self.clock = clock

    def accepts(self, mail: InboundMail) -> bool:
        return True  # whatever no other mailbox took

    def receive(self, mail: InboundMail, handle: MessageHandler) -> CustomerReply:
        parsed, proven = mail.parsed, mail.proven
        require_text_of(parsed)
        # Stored and answered in the conversation whoever sent it, but nothing is mailed to
        # an address that did not prove itself, and the agent is told nothing was proven.
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
        return CustomerReply(reply, proven=proven is not None)

    def reply_to(self, row: Delivery) -> str | None:
        return None  # a customer answers to the address our mail came from

    def _queue_refusal(self, parsed: ParsedEmail, mail: ReplyMail, reply: Reply) -> None:
        """Queue the rate limit's polite reply, once per inbound Message-ID."""
        try:
            with self.store.sessions.begin() as session:
                queue_email_reply(session, message_id=parsed.message_id,
                                  recipient=parsed.sender, mail=mail, body=reply.text,
                                  now=self.clock())
        except IntegrityError:  # a concurrent delivery of the same mail queued it first
            return
