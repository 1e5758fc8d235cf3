"""The relational state: sellers, orders and product pages (SQLite by default, any SQLAlchemy URL).

Each record keeps its whole contract JSON, so fields other programs add survive a round
trip; the columns beside it exist only to look records up.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    cast,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from agent.records import Order, Seller
from base.money import as_decimal, round_money
from base.settings import Settings
from knowledge.pages import ProductPage
from knowledge.policy import currency_decimals

log = logging.getLogger(__name__)


class DecimalText(TypeDecorator[Decimal]):
    """An amount of money stored as its exact decimal text ("28.98", "1499").

    SQLite has no decimal type (SQLAlchemy's ``Numeric`` goes through a float there), and the
    ledger must give back the very amount it was given, on every database.
    """

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: Decimal | float | str | None, dialect: Any) -> str | None:
        return None if value is None else format(as_decimal(value), "f")

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
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
    # Exact, in the currency's smallest unit; databases from before held a float (migrated
    # at start by ``_amounts_as_decimal_text``).
    amount: Mapped[Decimal] = mapped_column(DecimalText())
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


# The execution option of write transactions: on SQLite they begin with BEGIN IMMEDIATE.
WRITE_TRANSACTION = "csba_write_transaction"
# How long a SQLite writer waits for the write lock before its statement fails.
SQLITE_BUSY_TIMEOUT_MS = 15_000


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    postgres = url.startswith(("postgresql", "postgres"))
    # Stored times are UTC whatever zone the server or its role is configured with.
    # hide_parameters: a failed statement's error (and so the log) never carries a
    # customer's words or address, only the SQL.
    # A turn holds its transaction's connection while its reads open others, and the server
    # runs up to 40 turns at once (its thread pool): SQLAlchemy's default pool of 5 + 10 ran
    # dry under 50 concurrent chats and every turn waited 30 s for a connection. On SQLite
    # too: turns queued for the write lock hold a connection each, and the turn holding the
    # lock needs a second one for its reads. (An in-memory SQLite database has one
    # connection per thread, no pool to size.)
    in_memory = url.startswith("sqlite") and make_url(url).database in (None, "", ":memory:")
    pool = {} if in_memory else {"pool_size": 20, "max_overflow": 60}
    connect_args: dict[str, Any] = {"options": "-c timezone=UTC"} if postgres else {}
    gate = None
    if url.startswith("sqlite") and not in_memory:
        connect_args["factory"] = _GatedConnection
        gate = _write_gate(make_url(url).database or "")
    engine = create_engine(url, pool_pre_ping=postgres, hide_parameters=True,
                           connect_args=connect_args, **pool)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            # The driver would begin transactions itself, late (right before the first INSERT,
            # UPDATE or DELETE, leaving the reads before it out of the transaction) and always
            # deferred; the "begin" listener below begins them instead.
            connection.isolation_level = None
            # WAL lets the server read while another connection writes. Writers queue for
            # the one write lock: each write transaction takes it when it begins (BEGIN
            # IMMEDIATE), so no transaction has to upgrade a stale read snapshot to a write,
            # which fails at once whatever the timeout; waiting for the lock is what the
            # busy timeout bounds. Long enough for a queue of the server's concurrent turns,
            # within the 15 s a webhook has to answer.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA foreign_keys=ON")

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            if not connection.get_execution_options().get(WRITE_TRANSACTION, False):
                # Reads begin deferred: a WAL reader takes no lock and waits for no writer.
                connection.exec_driver_sql("BEGIN")
                return
            driver = connection.connection.dbapi_connection
            if gate is None or not isinstance(driver, _GatedConnection):
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return
            # The writers of this process wait at the gate, woken as the one before ends.
            # Left to SQLite, waiting writers poll the lock in sleeps of up to 100 ms and
            # whichever polls first gets it: under 50 concurrent chats some turns kept
            # missing it for 4 to 5 s while later ones went first.
            if not gate.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
                raise OperationalError("BEGIN IMMEDIATE", None,
                                       sqlite3.OperationalError("database is locked"))
            driver.gate = gate
            try:
                # Other processes' writers (a second worker, an ingest) still wait here.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                driver.open_gate()
                raise

    if engine.dialect.name == "postgresql":
        @event.listens_for(engine, "before_cursor_execute", retval=True)
        def _without_nul(_conn: Any, _cursor: Any, statement: str, parameters: Any,
                         _context: Any, _executemany: bool) -> tuple[str, Any]:
            # PostgreSQL text cannot hold NUL, which SQLite stores; a customer's stray NUL
            # must not make their message unstorable (and so unanswerable).
            return statement, _replace_nul(parameters)
    Base.metadata.create_all(engine)
    _add_missing_columns(engine)
    _amounts_as_decimal_text(engine)
    _refunds_unique_per_cause(engine)
    move_page_seller_answers(engine)
    return engine


# One gate per SQLite file, shared by every engine of the process on that file.
_WRITE_GATES: dict[str, threading.Lock] = {}
_WRITE_GATES_LOCK = threading.Lock()


def _write_gate(database: str) -> threading.Lock:
    key = os.path.realpath(database)
    with _WRITE_GATES_LOCK:
        return _WRITE_GATES.setdefault(key, threading.Lock())


class _GatedConnection(sqlite3.Connection):
    """A SQLite connection that opens its process's write gate when its write transaction
    ends, however it ends: committed, rolled back (also when the pool takes it back) or
    closed with the connection."""

    gate: threading.Lock | None = None

    def open_gate(self) -> None:
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.open_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.open_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.open_gate()


def _replace_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: _replace_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replace_nul(v) for v in value)
    return value


def _add_missing_columns(engine: Engine) -> None:
    """``create_all`` adds missing tables but not missing columns: a database made by an
    earlier version gets the optional columns added since (nullable or with a default)."""
    with engine.begin() as connection:
        inspector = inspect(connection)
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                ddl = f"{column.name} {column.type.compile(dialect=engine.dialect)}"
                default = getattr(column.server_default, "arg", None)
                if isinstance(default, str):
                    ddl += " DEFAULT '{}'".format(default.replace("'", "''"))
                connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")


def _amounts_as_decimal_text(engine: Engine) -> None:
    """Refund amounts stored as floats by earlier versions become exact decimal text,
    rounded to their currency's smallest unit. Run at every start; a migrated table is left
    alone."""
    def is_text(connection: Connection) -> bool:
        columns = inspect(connection).get_columns("refunds")
        amount = next(c for c in columns if c["name"] == "amount")
        return isinstance(amount["type"], String)

    with engine.begin() as connection:
        if not inspect(connection).has_table("refunds") or is_text(connection):
            return
        if engine.dialect.name == "postgresql":
            # Several workers may start at once: one migrates, the others find it done.
            connection.exec_driver_sql("LOCK TABLE refunds IN ACCESS EXCLUSIVE MODE")
            if is_text(connection):
                return
        connection.exec_driver_sql("ALTER TABLE refunds ADD COLUMN amount_text VARCHAR(32)")
        rows = connection.exec_driver_sql("SELECT id, amount, currency FROM refunds").all()
        for row_id, amount, currency in rows:
            exact = as_decimal(amount)
            try:
                exact = round_money(exact, currency_decimals(currency))
            except ValueError:  # a currency no marketplace pays in: kept as it was
                pass
            connection.execute(text("UPDATE refunds SET amount_text = :amount WHERE id = :id"),
                               {"amount": format(exact, "f"), "id": row_id})
        connection.exec_driver_sql("ALTER TABLE refunds DROP COLUMN amount")
        connection.exec_driver_sql("ALTER TABLE refunds RENAME COLUMN amount_text TO amount")


_REFUNDS_ONE_PER_LINE = "refunds_one_per_line"


def _refunds_unique_per_cause(engine: Engine) -> None:
    """A ledger made when a line had one refund at most becomes one refund per line and
    cause: every row kept (their cause the legacy one, their units empty: the whole line),
    the uniqueness moved from (order, line) to (order, line, cause). Run at every start; a
    migrated table is left alone."""
    def per_line(connection: Connection) -> tuple[list[str], list[str]]:
        """The names of the unique constraints and unique indexes on (order, line)."""
        inspector = inspect(connection)
        constraints = [u["name"] or "" for u in inspector.get_unique_constraints("refunds")
                       if sorted(u["column_names"]) == ["asin", "order_id"]]
        # PostgreSQL lists a UNIQUE constraint's own index too: dropped with the constraint.
        indexes = [i["name"] or "" for i in inspector.get_indexes("refunds")
                   if i["unique"] and sorted(c or "" for c in i["column_names"])
                   == ["asin", "order_id"]
                   and not i.get("duplicates_constraint")]
        return constraints, indexes

    # A write transaction: on SQLite it holds the write lock from its start, so a second
    # worker starting at once waits here and then finds the table migrated.
    with engine.execution_options(**{WRITE_TRANSACTION: True}).begin() as connection:
        if not inspect(connection).has_table("refunds") or per_line(connection) == ([], []):
            return
        if engine.dialect.name == "postgresql":
            # Several workers may start at once: one migrates, the others find it done.
            connection.exec_driver_sql("LOCK TABLE refunds IN ACCESS EXCLUSIVE MODE")
            constraints, indexes = per_line(connection)
            if not constraints and not indexes:
                return
            for name in constraints:
                connection.exec_driver_sql(f'ALTER TABLE refunds DROP CONSTRAINT "{name}"')
            for name in indexes:
                connection.exec_driver_sql(f'DROP INDEX "{name}"')
            connection.exec_driver_sql(
                "ALTER TABLE refunds ADD CONSTRAINT uq_refunds_order_asin_cause "
                "UNIQUE (order_id, asin, cause)")
        else:
            # SQLite cannot drop a table's UNIQUE: the table is made again and every row
            # copied over, unchanged, ids included (claims name them).
            rebuild_sqlite_table(connection, RefundRow, _REFUNDS_ONE_PER_LINE)
        log.info("refund ledger moved to one refund per order line and cause")


def rebuild_sqlite_table(connection: Connection, model: type[Base], old_name: str) -> None:
    """Make ``model``'s table again as it is declared and copy every row over, unchanged, ids
    included: SQLite cannot drop a UNIQUE. The rows' columns the model still has are kept;
    the old table is renamed to ``old_name`` while they are copied, then dropped."""
    table: Table = model.__table__  # type: ignore[assignment]
    name = table.name
    columns = {c["name"] for c in inspect(connection).get_columns(name)}
    kept = ", ".join(sorted(columns & {c.name for c in table.columns}))
    old_indexes = inspect(connection).get_indexes(name)
    connection.exec_driver_sql(f"ALTER TABLE {name} RENAME TO {old_name}")
    for index in old_indexes:  # their names are the new table's
        connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{index["name"]}"')
    table.create(connection)
    connection.exec_driver_sql(f"INSERT INTO {name} ({kept}) SELECT {kept} FROM {old_name}")
    connection.exec_driver_sql(f"DROP TABLE {old_name}")


def _json(record: Order | Seller | ProductPage) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude_none=False)


class Store:
    """Reads and writes the records; every write is one transaction (of ``sessions``), every
    read its own (of ``reads``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store of the configured database (``CSBA_DATABASE_URL``, else the data dir's
        SQLite file)."""
        return cls(make_engine(settings.resolved_database_url))

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Transactions that write (or read, then write): on SQLite they take the write lock
        # when they begin. A read inside one opens a session of ``reads`` (or a method of
        # this class), never a second one of these: that would wait for its own lock.
        self.sessions = sessionmaker(engine.execution_options(**{WRITE_TRANSACTION: True}),
                                     expire_on_commit=False)
        # Transactions that only read: they never wait for a writer.
        self.reads = sessionmaker(engine, expire_on_commit=False)

    def save(self, *, sellers: Iterable[Seller] = (), orders: Iterable[Order] = (),
             pages: Iterable[ProductPage] = ()) -> None:
        with self.sessions.begin() as session:
            for s in sellers:
                session.merge(SellerRow(seller_id=s.seller_id, data=_json(s)))
            for o in orders:
                session.merge(OrderRow(
                    order_id=o.order_id, seller_id=o.seller_id, marketplace=o.marketplace,
                    customer_email=(o.customer.email or "").lower() or None,
                    customer_phone=o.customer.phone, data=_json(o)))
            for p in pages:
                session.merge(PageRow(asin=p.asin, marketplace=p.marketplace,
                                      seller_id=p.seller_id, content_hash=p.content_hash(),
                                      data=_json(p)))

    def delete_pages(self, keys: Sequence[tuple[str, str]]) -> None:
        with self.sessions.begin() as session:
            for asin, marketplace in keys:
                row = session.get(PageRow, (asin, marketplace))
                if row is not None:
                    session.delete(row)

    def seller(self, seller_id: str) -> Seller | None:
        with self.reads() as session:
            row = session.get(SellerRow, seller_id)
            return Seller.model_validate(row.data) if row else None

    def orders_for_contact(self, contact: str) -> list[Order]:
        """Orders whose customer is this email address or phone number."""
        contact = contact.strip().lower().removeprefix("whatsapp:")
        with self.reads() as session:
            rows = session.scalars(select(OrderRow).where(
                (OrderRow.customer_email == contact) | (OrderRow.customer_phone == contact)))
            return [Order.model_validate(r.data) for r in rows]

    def order(self, order_id: str) -> Order | None:
        with self.reads() as session:
            row = session.get(OrderRow, order_id)
            return Order.model_validate(row.data) if row else None

    def page(self, asin: str, marketplace: str) -> ProductPage | None:
        with self.reads() as session:
            row = session.get(PageRow, (asin, marketplace))
            return ProductPage.model_validate(row.data) if row else None

    def page_keys(self) -> set[tuple[str, str]]:
        with self.reads() as session:
            return {(a, m) for a, m in session.execute(
                select(PageRow.asin, PageRow.marketplace))}

    def has_message(self, channel: str, provider_message_id: str) -> bool:
        with self.reads() as session:
            return session.scalar(select(MessageRow.id).where(
                MessageRow.channel == channel,
                MessageRow.provider_message_id == provider_message_id)) is not None

    def counts(self) -> dict[str, int]:
        with self.reads() as session:
            return {name: session.scalar(select(func.count()).select_from(table)) or 0
                    for name, table in (("sellers", SellerRow), ("orders", OrderRow),
                                        ("pages", PageRow))}


# --- Seller answers --------------------------------------------------------------------------


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


def answer_hash(answer: str) -> str:
    return hashlib.sha256(answer.encode("utf-8")).hexdigest()


def move_page_seller_answers(engine: Engine) -> int:
    """Move the answers earlier versions wrote into a page record's ``seller_answers`` into
    the ``seller_answers`` table; returns how many. Run at every start, so it is idempotent.

    Only an answer that a case of the page recorded with the seller's consent is moved (its
    row then names that case, seller and time); any other entry of a page's
    ``seller_answers`` came with the catalog line and stays in the page record, the
    catalog's own."""
    moved = 0
    writes = sessionmaker(engine.execution_options(**{WRITE_TRANSACTION: True}))
    with writes.begin() as session:
        # The text filter spares reading every page's JSON on each start.
        pages = session.scalars(select(PageRow).where(
            cast(PageRow.data, Text).like('%"seller_answers"%')))
        for page in pages:
            answers = page.data.get("seller_answers")
            if not isinstance(answers, list) or not answers:
                continue
            cases = {c.answer.strip(): c for c in session.scalars(select(CaseRow).where(
                CaseRow.marketplace == page.marketplace, CaseRow.add_to_knowledge.is_(True),
                CaseRow.answer.is_not(None))) if page.asin in (c.asins or [])[:1] and c.answer}
            kept = []
            for answer in answers:
                case = cases.get(answer.strip()) if isinstance(answer, str) else None
                if case is None:
                    kept.append(answer)
                    continue
                published = session.scalar(select(SellerAnswerRow.id).where(
                    (SellerAnswerRow.case_id == case.id)
                    | ((SellerAnswerRow.asin == page.asin)
                       & (SellerAnswerRow.marketplace == page.marketplace)
                       & (SellerAnswerRow.answer_hash == answer_hash(answer)))))
                if published is None:
                    session.add(SellerAnswerRow(
                        asin=page.asin, marketplace=page.marketplace, seller_id=case.seller_id,
                        case_id=case.id, answer=answer, answer_hash=answer_hash(answer),
                        answered_at=case.answered_at or case.created_at, consented=True))
                    session.flush()
                moved += 1
            if len(kept) != len(answers):
                data = {k: v for k, v in page.data.items() if k != "seller_answers"}
                if kept:
                    data["seller_answers"] = kept
                page.data = data
                page.content_hash = ProductPage.model_validate(data).content_hash()
    return moved
