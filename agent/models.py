"""Every table of the service, in one place: what is stored, and why each column exists.

The schema changes only through a migration (``agent/migrations/``): a model edited here
gets a revision beside it (``alembic revision --autogenerate``), which every database, new or
made by an earlier version, runs at start.

Records keep their whole contract JSON (sellers, orders, pages), so fields other programs
add survive a round trip; the columns beside it exist only to look records up. No table of
a case, claim or hand-over holds a customer's words or contact details; only the
conversation and its messages do, and they are never shown to a seller.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from base.money import as_decimal


class ExactAmount(TypeDecorator[Decimal]):
    """An amount of money, exact on every database: ``NUMERIC`` where the database has one
    (PostgreSQL, unconstrained, so "28.98" comes back as 28.98 and "1499" as 1499), its
    decimal text on SQLite, whose ``NUMERIC`` goes through a float.

    The ledger gives back the very amount it was given: a refund, a claim and the amount
    granted on it are compared and summed as ``Decimal`` in code, never in SQL.
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | float | str | None,
                           dialect: Dialect) -> Decimal | str | None:
        if value is None:
            return None
        exact = as_decimal(value)
        return format(exact, "f") if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else as_decimal(value)


class Base(DeclarativeBase):
    pass


class SellerRow(Base):
    __tablename__ = "sellers"
    seller_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class OrderRow(Base):
    __tablename__ = "orders"
    order_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    marketplace: Mapped[str] = mapped_column(String(2))
    customer_email: Mapped[str | None] = mapped_column(String(320), index=True)
    customer_phone: Mapped[str | None] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class PageRow(Base):
    __tablename__ = "product_pages"
    asin: Mapped[str] = mapped_column(String(10), primary_key=True)
    marketplace: Mapped[str] = mapped_column(String(2), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class ConversationRow(Base):
    """One customer conversation on one channel thread; all state the agent keeps between turns.

    ``contact`` is the channel address replies go to; it never leaves this table for a seller.
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "thread_key"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    thread_key: Mapped[str] = mapped_column(String(512))
    contact: Mapped[str] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(2))
    marketplace: Mapped[str | None] = mapped_column(String(2))
    order_id: Mapped[str | None] = mapped_column(String(32))
    # The order whose one-time code was typed back in this conversation (or a seller handed
    # over): usable here whoever sends the next message.
    verified_order_id: Mapped[str | None] = mapped_column(String(32))
    # The contact the channel proved when the conversation began (a chat's login the host
    # site signed); channels that prove each message carry it on the message instead.
    verified_contact: Mapped[str | None] = mapped_column(String(320))
    asin: Mapped[str | None] = mapped_column(String(10))
    pending: Mapped[str | None] = mapped_column(String(32))  # what the agent last asked for
    pending_intent: Mapped[str | None] = mapped_column(String(32))
    # The return reason the customer gave before the agent asked a question (which item, how
    # many): the answer ("the lamp", "2") continues that request and states no reason itself.
    pending_reason: Mapped[str | None] = mapped_column(String(32))
    misunderstood: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MessageRow(Base):
    """Every inbound message, stored before it is answered; the reply is added when made."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("channel", "provider_message_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The reply rides in the webhook's HTTP answer (TwiML) and has not been seen leaving: a
    # process killed between the turn's commit and that answer would leave the customer with
    # none, so the server sends it by other means when this stays set (channels/recovery.py).
    awaiting_delivery: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # What the channel proved the message comes from (``InboundMessage.verified_contact``):
    # a message answered again after a restart is judged on the same proof.
    verified_contact: Mapped[str | None] = mapped_column(String(320))


class VerificationCodeRow(Base):
    """A one-time code sent to an order's contact so a requester can prove the order is theirs.

    Only a salted hash of the code is kept. A request about an order that does not exist (or
    has no contact) gets a row too, never sent: whoever asks cannot tell the two apart.
    """

    __tablename__ = "verification_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # used, replaced
    sent: Mapped[bool] = mapped_column(Boolean, default=False)


class CaseRow(Base):
    """A Case Log entry for a seller. Holds no transcript and no customer contact details."""

    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    marketplace: Mapped[str] = mapped_column(String(2))
    asins: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(48))
    question: Mapped[str] = mapped_column(Text)  # restated by the agent, never the message
    needs: Mapped[str] = mapped_column(Text)  # what the agent needs from the seller
    topic: Mapped[str | None] = mapped_column(String(64))  # page field that would answer
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    add_to_knowledge: Mapped[bool] = mapped_column(default=False)
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The expiry rule fixed when the case opened (knowledge/case_rules.json): its deadline
    # is ``due_at`` and it decides the case if the seller does not answer by then.
    expiry_rule: Mapped[str | None] = mapped_column(String(64))
    # The return decision the customer was told when the case opened (method, refund): an
    # expired return or problem case carries out this one, not a new one.
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Links back to the customer's conversation; never shown to the seller.
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    language: Mapped[str] = mapped_column(String(2))


class SentEmailRow(Base):
    """The Message-ID of every email we queue, by index: a reply's In-Reply-To or References
    finds its conversation (or the case a seller notification was about) without reading
    the outbox's JSON."""

    __tablename__ = "sent_email_ids"
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    case_id: Mapped[str | None] = mapped_column(String(16), index=True)


class OutboxRow(Base):
    """A message to send (seller notification, customer follow-up), written in the same
    transaction as the state change that causes it and sent after, exactly once."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class TurnClaimRow(Base):
    """A message being answered right now. Inserting the row is the claim (its key is unique),
    so concurrent deliveries of one message run one turn; a claim older than its lease belongs
    to a process that died and may be taken over."""

    __tablename__ = "turn_claims"
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The cause of ledger rows from before causes were recorded: one refund per order line then.
LEGACY_REFUND_CAUSE = "legacy"


class RefundRow(Base):
    """A refund the service issued on an order line, for some of its units.

    One row per line and cause (the turn's message, the expired case, the operator's
    request): a replayed turn or case finds its row and cannot pay twice, while a later,
    different cause may refund the line's other units.
    """

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("order_id", "asin", "cause",
                                       name="uq_refunds_order_asin_cause"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    asin: Mapped[str] = mapped_column(String(10))
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    # Exact, in the currency's smallest unit.
    amount: Mapped[Decimal] = mapped_column(ExactAmount())
    currency: Mapped[str] = mapped_column(String(3))
    rule: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The refund ledger: what kind of refund, why, and who issued it. Only refunds the service
    # issued can be claimed back by the seller; rows from before these columns were
    # returnless refunds of the service.
    kind: Mapped[str] = mapped_column(String(24), default="returnless_refund",
                                      server_default="returnless_refund")
    reason: Mapped[str | None] = mapped_column(String(48))
    issued_by: Mapped[str] = mapped_column(String(8), default="service",
                                           server_default="service")
    # The return's delivery scan, when the refund followed a return (starts a claim window).
    return_delivered_on: Mapped[date | None] = mapped_column(Date)
    # The units refunded; empty on rows from before, which refunded the whole line.
    units: Mapped[int | None] = mapped_column(Integer)
    # What caused the refund, its idempotency key ("message:12", "case:K7…", "operator:…").
    cause: Mapped[str] = mapped_column(String(80), default=LEGACY_REFUND_CAUSE,
                                       server_default=LEGACY_REFUND_CAUSE)


class EnrolmentRow(Base):
    """One period a seller was enrolled in the service; an open period has no opt-out date.

    Coverage is decided from these periods at the order's purchase date, and the free trial
    from the first one, so the history is kept, never overwritten.
    """

    __tablename__ = "enrolment_periods"
    __table_args__ = (UniqueConstraint("seller_id", "enrolled_on"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    enrolled_on: Mapped[date] = mapped_column(Date)
    opted_out_on: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))  # "contract" (sellers.jsonl) or "portal"


class TrackingRateRow(Base):
    """A seller's valid tracking rate (VTR) for one month, as a decimal string (exact).

    A month's fee uses that month's rate, never today's: the history is kept, one row per
    month; a later reading of the same month replaces it (the rate settles as the month ends).
    """

    __tablename__ = "valid_tracking_rates"
    __table_args__ = (UniqueConstraint("seller_id", "month"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    rate: Mapped[str] = mapped_column(String(16))  # "0.97"
    source: Mapped[str] = mapped_column(String(16))  # "contract" (sellers.jsonl) or "operator"
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContactRow(Base):
    """A customer contact the service handled about a seller's MFN order: one per order and
    day, whatever the channel and the number of messages. It holds no message text."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("order_id", "day"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    marketplace: Mapped[str] = mapped_column(String(2))
    order_id: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date, index=True)  # UTC day of the first message
    channel: Mapped[str] = mapped_column(String(16))  # the channel the contact began on
    outcome: Mapped[str] = mapped_column(String(16))  # of the latest turn that day
    turns: Mapped[int] = mapped_column(Integer, default=1)
    conversation_id: Mapped[str] = mapped_column(String(32))  # never shown to the seller


class SellerAnswerRow(Base):
    """A seller's answer to a product question, published to the product's knowledge with the
    seller's consent. Kept apart from the page record, which a catalog re-ingest overwrites,
    and joined to the page when the page is indexed (``agent/seller_answers.py``).

    Who answered (the case, the seller), when, the consent and the text: never the question,
    the order, the conversation or anything else about the customer who asked.
    """

    __tablename__ = "seller_answers"
    __table_args__ = (UniqueConstraint("asin", "marketplace", "answer_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asin: Mapped[str] = mapped_column(String(10), index=True)
    marketplace: Mapped[str] = mapped_column(String(2))
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[str] = mapped_column(String(16), unique=True)
    answer: Mapped[str] = mapped_column(Text)
    # The text's SHA-256: one answer is published once per page (a text column is too long
    # for every database's unique index).
    answer_hash: Mapped[str] = mapped_column(String(64))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The seller agreed, when answering, that the answer goes on the product's knowledge
    # (the portal's checkbox, the mail's consent line); only such answers are rows here.
    consented: Mapped[bool] = mapped_column(Boolean, default=True)


class ClaimRow(Base):
    """A seller's claim on one refund the service issued (one claim per refund)."""

    __tablename__ = "claims"
    __table_args__ = (Index("uq_claims_refund_id", "refund_id", unique=True),)
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    # The ledger row claimed; empty on claims filed when a claim covered the whole order.
    refund_id: Mapped[int | None] = mapped_column(Integer)
    asin: Mapped[str | None] = mapped_column(String(10))
    marketplace: Mapped[str] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(String(48))
    description: Mapped[str] = mapped_column(Text)
    tracking_id: Mapped[str | None] = mapped_column(String(64))
    signature_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_claimed: Mapped[Decimal] = mapped_column(ExactAmount())
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), index=True)
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_ends_on: Mapped[str] = mapped_column(String(10))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    amount_granted: Mapped[Decimal | None] = mapped_column(ExactAmount())
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class HandoverRow(Base):
    """One hand-over, taken over or refused, by the key of what carried it (the forward's
    Message-ID, or the seller's own reference): a redelivery is processed once.

    ``conversation_id`` links to the customer's conversation; it is never shown to a seller.
    """

    __tablename__ = "handovers"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    source_key: Mapped[str] = mapped_column(String(300), unique=True)
    source: Mapped[str] = mapped_column(String(8))
    seller_id: Mapped[str | None] = mapped_column(String(64), index=True)
    order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str | None] = mapped_column(String(48))
    outcome: Mapped[str | None] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(8))  # "email" or "sms"
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MailSecretRow(Base):
    """The service's random key for the cases' reply addresses, when no setting names one:
    made once, shared by every server process on the database."""

    __tablename__ = "mail_secrets"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary(64))


class SellerMailRow(Base):
    """One processed seller mail by its Message-ID: the key makes a redelivery a no-op."""

    __tablename__ = "seller_mail"
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    case_id: Mapped[str | None] = mapped_column(String(16), index=True)
    result: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SellerTokenRow(Base):
    """A seller's portal token, by its SHA-256 hash: a leaked table grants no access."""

    __tablename__ = "seller_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
