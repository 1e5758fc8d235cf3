"""Many customers at once on one SQLite file: every turn is stored and answered, none fails.

A turn reads, then writes, in one transaction, and the server runs up to 40 turns at once. On
SQLite they queue for the one write lock: each write transaction takes it when it begins (a
transaction that began as a reader cannot become a writer once another writer has committed
after its snapshot), a writer waits for it as long as the queue needs, and the turns queued
leave the pool enough connections for the reads of the turn holding it.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from agent.core import Agent
from agent.db import Store, make_engine, write_gate
from agent.messages import InboundMessage, Reply
from agent.models import CaseRow, MessageRow, TurnClaimRow
from seller.ingest import DEMO_DATA_DIR
from tests.conftest import NOW

CUSTOMERS = 40


def demo_orders() -> list[tuple[str, str]]:
    """(order id, customer email) of distinct delivered or shipped orders."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in (DEMO_DATA_DIR / "orders.jsonl").read_text().splitlines():
        order = json.loads(line)
        email = order["customer"].get("email")
        if order["status"] in {"delivered", "shipped"} and email and email not in seen:
            seen.add(email)
            found.append((order["order_id"], email))
    return found


def messages() -> list[InboundMessage]:
    """Status questions (a conversation and a contact written) and product questions the
    pages cannot answer (a case and a seller notification written too)."""
    texts = ("Where is my order {order_id}?",
             "Does it fit on a Petzl bicycle helmet mount? Order {order_id}")
    orders = demo_orders()[:CUSTOMERS]
    assert len(orders) == CUSTOMERS
    return [InboundMessage(channel="email", sender=email, verified_contact=email,
                           text=texts[n % 2].format(order_id=order_id),
                           thread_key=f"thread-{n}", received_at=datetime.fromisoformat(NOW),
                           provider_message_id=f"concurrent-{n}")
            for n, (order_id, email) in enumerate(orders)]


def test_concurrent_turns_on_sqlite_all_succeed(agent: Agent, store: Store) -> None:
    inbound = messages()
    start = threading.Barrier(len(inbound))
    replies: dict[str, Reply] = {}
    failures: list[BaseException] = []

    def customer(msg: InboundMessage) -> None:
        start.wait()
        try:
            replies[msg.provider_message_id] = agent.handle(msg)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported below
            failures.append(exc)

    threads = [threading.Thread(target=customer, args=(m,)) for m in inbound]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [repr(f) for f in failures] == []
    assert set(replies) == {m.provider_message_id for m in inbound}
    with store.sessions() as session:
        stored = {row.provider_message_id: row.reply
                  for row in session.scalars(select(MessageRow))}
        claims = session.scalar(select(func.count()).select_from(TurnClaimRow))
        cases = session.scalar(select(func.count()).select_from(CaseRow))
    assert set(stored) == set(replies)
    assert all(reply is not None for reply in stored.values())
    assert claims == 0
    assert cases == sum(1 for r in replies.values() if r.case_id)
    assert any(r.case_id for r in replies.values())


def test_writes_take_the_lock_when_they_begin_and_reads_never_wait(tmp_path: Path) -> None:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'locks.sqlite3'}"))
    begun: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cu, statement, *_: begun.append(statement)
                 if statement.startswith("BEGIN") else None)
    with store.sessions.begin() as writer:
        writer.execute(select(func.count()).select_from(MessageRow))
        assert begun == ["BEGIN IMMEDIATE"]  # the lock is held before anything is written
        with store.reads() as reader:  # a reader beside the writer neither waits nor fails
            assert reader.scalar(select(func.count()).select_from(MessageRow)) == 0
        assert store.counts()["orders"] == 0
    assert begun == ["BEGIN IMMEDIATE", "BEGIN", "BEGIN"]


def test_the_write_gate_opens_however_a_write_transaction_ends(tmp_path: Path) -> None:
    database = tmp_path / "gate.sqlite3"
    store = Store(make_engine(f"sqlite:///{database}"))
    gate = write_gate(str(database))
    with store.sessions.begin() as session:
        session.execute(select(func.count()).select_from(MessageRow))
        assert gate.locked()  # held with the write lock
    assert not gate.locked()  # committed
    with pytest.raises(RuntimeError), store.sessions.begin() as session:
        session.execute(select(func.count()).select_from(MessageRow))
        raise RuntimeError("the turn failed")
    assert not gate.locked()  # rolled back
    session = store.sessions()
    session.execute(select(func.count()).select_from(MessageRow))
    session.close()  # neither committed nor rolled back by the caller: the pool rolls back
    assert not gate.locked()
    with store.reads() as reader:  # reads never take it
        reader.execute(select(func.count()).select_from(MessageRow))
        assert not gate.locked()
