"""The database: its engine (SQLite by default, any SQLAlchemy URL; PostgreSQL for several
workers) and the ``Store`` of sellers, orders and product pages.

The tables are in ``agent/models.py``; the engine brings the schema to the newest revision
of ``agent/migrations/`` when it is made.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Text, cast, create_engine, event, func, make_url, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from agent import migrations
from agent.models import CaseRow, MessageRow, OrderRow, PageRow, SellerAnswerRow, SellerRow
from agent.records import Order, Seller
from base.settings import Settings
from knowledge.pages import ProductPage

log = logging.getLogger(__name__)


# The execution option of write transactions: on SQLite they begin with BEGIN IMMEDIATE.
WRITE_TRANSACTION = "csba_write_transaction"
# How long a SQLite writer waits for the write lock before its statement fails.
SQLITE_BUSY_TIMEOUT_MS = 15_000


def make_engine(url: str) -> Engine:
    """An engine on ``url``, its database brought to the newest schema revision (made, if
    empty)."""
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
        gate = write_gate(make_url(url).database or "")
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
    migrations.migrate(engine, {WRITE_TRANSACTION: True})
    move_page_seller_answers(engine)
    return engine


# One gate per SQLite file, shared by every engine of the process on that file.
_WRITE_GATES: dict[str, threading.Lock] = {}
_WRITE_GATES_LOCK = threading.Lock()


def write_gate(database: str) -> threading.Lock:
    """The lock the writers of this process queue on for the SQLite file ``database``."""
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


def _json(record: Order | Seller | ProductPage) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude_none=False)


class RecordStore(Protocol):
    """What the service asks of its database: the records by key, and transactions for the
    rest (conversations, cases, the ledger: ``agent/models.py``).

    ``Store`` is the one implementation, on SQLite and PostgreSQL alike;
    ``tests/test_store_contract.py`` holds it to this contract on both, and any other
    implementation must pass the same suite.
    """

    engine: Engine
    # Transactions that write (or read, then write); ``reads``: transactions that only read.
    sessions: sessionmaker[Session]
    reads: sessionmaker[Session]

    def save(self, *, sellers: Iterable[Seller] = (), orders: Iterable[Order] = (),
             pages: Iterable[ProductPage] = ()) -> None: ...
    def delete_pages(self, keys: Sequence[tuple[str, str]]) -> None: ...
    def seller(self, seller_id: str) -> Seller | None: ...
    def orders_for_contact(self, contact: str) -> list[Order]: ...
    def order(self, order_id: str) -> Order | None: ...
    def page(self, asin: str, marketplace: str) -> ProductPage | None: ...
    def page_keys(self) -> set[tuple[str, str]]: ...
    def has_message(self, channel: str, provider_message_id: str) -> bool: ...
    def counts(self) -> dict[str, int]: ...


class Store:
    """Reads and writes the records (``RecordStore``); every write is one transaction (of
    ``sessions``), every read its own (of ``reads``)."""

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
