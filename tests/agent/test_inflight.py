"""One turn per message: the claim that keeps concurrent deliveries from answering twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from agent import inflight
from agent.core import Agent, StoredMessage
from agent.db import Store
from agent.messages import InboundMessage
from agent.models import CaseRow, MessageRow, TurnClaimRow
from tests.conftest import NOW
from tests.support.scenarios import DELIVERED_HEADLAMP_US

pytestmark = pytest.mark.on_every_database

QUESTION = ("Does the headlamp fit on a Petzl bicycle helmet mount? "
            f"Order {DELIVERED_HEADLAMP_US.order_id}")
PHONE = DELIVERED_HEADLAMP_US.phone


def message(provider_id: str = "SM-claimed") -> InboundMessage:
    return InboundMessage(channel="sms", sender=PHONE, text=QUESTION, verified_contact=PHONE,
                          thread_key=PHONE, received_at=datetime.fromisoformat(NOW),
                          provider_message_id=provider_id)


def stored_id(store: Store) -> int:
    with store.sessions() as session:
        return session.scalars(select(MessageRow.id)).one()


def cases(store: Store) -> int:
    with store.sessions() as session:
        return session.scalar(select(func.count()).select_from(CaseRow)) or 0


def store_only(agent: Agent, msg: InboundMessage) -> int:
    """The message stored as a delivery would store it, its turn not run yet and not claimed
    (as after a process that died between storing and answering, its lease run out)."""
    stored = agent._store_message(msg, datetime.fromisoformat(NOW))
    assert isinstance(stored, StoredMessage)
    inflight.release(agent.store, stored.message_id)
    return stored.message_id


def test_the_delivery_that_stores_a_message_holds_its_claim(agent: Agent, store: Store) -> None:
    stored = agent._store_message(message(), datetime.fromisoformat(NOW))
    assert isinstance(stored, StoredMessage) and stored.claimed is True
    assert inflight.claim(store, stored.message_id) is False  # a concurrent delivery must wait
    again = agent._store_message(message(), datetime.fromisoformat(NOW))
    assert isinstance(again, StoredMessage) and again.message_id == stored.message_id
    assert again.claimed is False


def test_a_message_is_claimed_once(agent: Agent, store: Store) -> None:
    message_id = store_only(agent, message())
    assert inflight.claim(store, message_id) is True
    assert inflight.claim(store, message_id) is False
    inflight.release(store, message_id)
    assert inflight.claim(store, message_id) is True


def test_a_stale_claim_is_taken_over(agent: Agent, store: Store) -> None:
    message_id = store_only(agent, message())
    long_ago = datetime.now(UTC) - inflight.CLAIM_LEASE - timedelta(seconds=1)
    assert inflight.claim(store, message_id, clock=lambda: long_ago) is True
    assert inflight.claim(store, message_id) is True  # the claimer died: its lease ran out
    assert inflight.claim(store, message_id) is False


def test_a_delivery_during_the_turn_waits_for_its_reply(
        agent: Agent, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    message_id = store_only(agent, message())
    assert inflight.claim(store, message_id)  # a first delivery is mid-turn
    monkeypatch.setattr(inflight, "WAIT_FOR_REPLY_SECONDS", 0.3)
    with pytest.raises(inflight.MessageInFlight, match="is being answered"):
        agent.handle(message())
    assert cases(store) == 0  # the waiting delivery ran no turn of its own

    monkeypatch.setattr(inflight, "WAIT_FOR_REPLY_SECONDS", 10.0)
    inflight.release(store, message_id)
    first = agent.handle(message())  # the first delivery finishes...
    assert first.case_id and cases(store) == 1
    assert agent.handle(message()) == first  # ...and a late one gets its reply


def test_concurrent_deliveries_share_one_turn(agent: Agent, store: Store) -> None:
    message_id = store_only(agent, message())
    assert inflight.claim(store, message_id)
    replies: list[str | None] = []

    def deliver() -> None:
        replies.append(agent.handle(message()).case_id)

    waiting = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in waiting:
        thread.start()
    while sum(t.is_alive() for t in waiting) < 3:
        pass
    inflight.release(store, message_id)  # the claimer gave up: one waiting delivery takes over
    for thread in waiting:
        thread.join(timeout=30)
    assert len(replies) == 3 and len(set(replies)) == 1 and replies[0]
    assert cases(store) == 1
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TurnClaimRow)) == 0
