"""The values every channel exchanges with the agent: one inbound message in, one reply out.

Channels build an ``InboundMessage`` from their wire format and render the ``Reply``; the agent
never sees a wire format. ``Reply`` is the contract the chat API sends as JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.returns import ReturnDecision

Channel = Literal["chat", "sms", "whatsapp", "voice", "email", "api", "handover"]
Outcome = Literal["answered", "needs_info", "escalated", "redirected"]
Redirect = Literal["seller_messaging", "marketplace_support"]
CitationKind = Literal["product_page", "order", "policy", "seller_answer"]
MAX_TEXT_CHARS = 4000


@dataclass(frozen=True, slots=True)
class ReplyMail:
    """How an email's reply answers it: the thread it joins and the address it leaves from."""

    subject: str
    domain: str
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message as a channel received it.

    ``provider_message_id`` is the provider's id (MessageSid, CallSid + turn, Message-ID), never
    a random one: a redelivered webhook then carries the same id and is processed once.
    ``sender`` is the channel identity (email address, phone number, chat session id).
    """

    channel: Channel
    sender: str
    text: str
    thread_key: str
    received_at: datetime
    provider_message_id: str
    marketplace: str | None = None
    order_id: str | None = None  # an order the channel already names (sent from the order page)
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # What the channel keeps on the conversation (the Twilio number the customer wrote to),
    # stored with the message before its turn: a reply sent later, even after a crash in the
    # turn, still knows where to leave from.
    channel_state: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # The channel answers in the webhook's own HTTP response (SMS and WhatsApp TwiML), which
    # nothing resends: the stored reply waits for ``mark_delivered`` once that answer is out.
    reply_in_response: bool = False
    # An email: its reply is queued as a mail answering this one, in the transaction that
    # stores the reply (a stored reply is a queued one, and the turn writes once).
    reply_mail: ReplyMail | None = None
    # The contact (email address or phone number) the channel proved this message comes from:
    # a number Twilio signed for, a mail sender the mail checks vouch for, a login the host
    # site signed, a code sent to the order's contact and typed back. ``sender`` is only where
    # replies go: an address or number anyone can type proves nothing.
    verified_contact: str | None = None
    # False when the channel will not deliver replies to this sender (a mail nothing proved
    # is answered in the record only): the agent then sends nothing on the message's behalf,
    # not even a one-time code to an order's contact, which could never be typed back.
    reaches_sender: bool = True

    def __post_init__(self) -> None:
        if not self.provider_message_id:
            raise ValueError("provider_message_id is required to process a message once")
        if not self.thread_key:
            raise ValueError("thread_key is required to keep the conversation")
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must carry a time zone")


class Citation(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: CitationKind
    text: str
    asin: str | None = None
    field: str | None = None
    order_id: str | None = None
    rule: str | None = None
    source: str | None = None
    case_id: str | None = None


class RequestPart(BaseModel):
    """One request of a message that made several: how it was understood and how it ended
    (a case it needed is the reply's one ``case_id``)."""

    model_config = ConfigDict(extra="allow")

    intent: str
    outcome: Outcome
    redirect: Redirect | None = None


class Reply(BaseModel):
    model_config = ConfigDict(extra="allow")

    conversation_id: str
    text: str = Field(max_length=MAX_TEXT_CHARS)
    language: str
    outcome: Outcome
    intent: str
    citations: list[Citation] = Field(default_factory=list)
    return_decision: ReturnDecision | None = None
    case_id: str | None = None
    # When the case's seller must answer by (its category's deadline): the date the reply
    # tells the customer.
    case_due: datetime | None = None
    redirect: Redirect | None = None
    # A message of several requests ("Wie schwer ist sie, und lädt sie ein iPhone 15?"): each
    # request in order; ``intent`` is the first one's, ``outcome`` the turn's (a question
    # asked back, else a case opened, else answered, else redirected). Empty for one request.
    requests: list[RequestPart] = Field(default_factory=list)


# What every channel calls with a message and what the hand-over desk calls for a handed-over
# one: defined beside the message types so the seller side can take one without the channels.
MessageHandler = Callable[[InboundMessage], Reply]
