"""The channel contract, written once: every channel's test class inherits ``ChannelContract``.

What each channel promises whatever its wire format: a delivery that is not authenticated is
refused and writes nothing; a provider id delivered twice, even concurrently, is processed once
(one stored message, one reply, one case); an empty or oversized body gets a precise 4xx and
writes nothing; a failure inside the agent answers with a status that makes the provider retry,
keeps the stored message, and the retry answers it once.

A subclass says how its wire delivers (``deliver``, ``forged``, ``empty``, ``oversized``) and
provides a ``mount`` fixture: the channel's router on an app with a given message handler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage, Reply
from agent.models import Base, CaseRow, ConversationRow, MessageRow, OutboxRow
from channels.base import MessageHandler
from tests.support.scenarios import DELIVERED_HEADLAMP_US

Mount = Callable[[MessageHandler], TestClient]
# The headlamp page does not say whether it fits a Petzl helmet mount: the agent opens a case.
HEADLAMP_ORDER = DELIVERED_HEADLAMP_US.order_id
UNANSWERABLE = f"Does the headlamp fit on a Petzl bicycle helmet mount? Order {HEADLAMP_ORDER}"
REPLAYS = 5


class Answer(Protocol):
    """An HTTP response as the test client returns it."""

    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    def json(self) -> Any: ...


def rows(store: Store, table: type[Base]) -> int:
    with store.sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def written(store: Store) -> dict[str, int]:
    """Everything a delivery can write, by table."""
    return {t.__tablename__: rows(store, t)
            for t in (MessageRow, ConversationRow, OutboxRow, CaseRow)}


class CountingHandler:
    """The agent behind a counter: the contract proves refused deliveries never reach it."""

    def __init__(self, inner: MessageHandler) -> None:
        self.inner = inner
        self.calls = 0

    def __call__(self, msg: InboundMessage) -> Reply:
        self.calls += 1
        return self.inner(msg)


class ChannelContract(ABC):
    #: what an accepted delivery answers, and what a refused unauthenticated one answers
    accepted_status: int = 200
    refused_status: int = 403
    retry_status: int = 503

    # --- what each channel fills in ---------------------------------------------------------

    @abstractmethod
    def deliver(self, client: TestClient, text: str, provider_id: str) -> Answer:
        """One authenticated, well-formed delivery of ``text`` under ``provider_id``."""

    @abstractmethod
    def forged(self, client: TestClient, text: str, provider_id: str) -> list[Answer]:
        """Every unauthenticated variant the channel must refuse (unsigned, wrong key...)."""

    @abstractmethod
    def empty(self, client: TestClient) -> Answer: ...

    @abstractmethod
    def oversized(self, client: TestClient) -> Answer: ...

    def prepare(self, client: TestClient) -> None:
        """What a client does before its first message (the chat opens a conversation)."""
        return None  # most channels need nothing

    def reply_of(self, answer: Answer) -> str:
        """What the customer sees in the answer (compared between replays)."""
        return answer.text

    def outbox_per_delivery(self) -> int:
        """Outbox rows one processed delivery of ``UNANSWERABLE`` writes (the seller's
        notification, plus the reply itself where the channel answers later)."""
        return 1

    # --- the contract -----------------------------------------------------------------------

    def test_an_unauthenticated_delivery_is_refused_and_writes_nothing(
            self, mount: Mount, agent: Agent, store: Store) -> None:
        handler = CountingHandler(agent.handle)
        client = mount(handler)
        answers = self.forged(client, UNANSWERABLE, "ID-forged")
        assert answers, "a channel must name at least one forged delivery"
        for answer in answers:
            assert answer.status_code == self.refused_status, answer.text
            assert answer.json()["detail"], "a refusal says why"
        assert handler.calls == 0
        assert set(written(store).values()) == {0}

    def test_a_replayed_provider_id_is_processed_once(self, mount: Mount, agent: Agent,
                                                      store: Store) -> None:
        client = mount(agent.handle)
        first = self.deliver(client, UNANSWERABLE, "ID-replayed")
        again = self.deliver(client, UNANSWERABLE, "ID-replayed")
        assert first.status_code == again.status_code == self.accepted_status, first.text
        assert self.reply_of(first) == self.reply_of(again)
        assert written(store)["messages"] == 1 and written(store)["cases"] == 1
        assert written(store)["outbox"] == self.outbox_per_delivery()

    def test_concurrent_replays_are_processed_once(self, mount: Mount, agent: Agent,
                                                   store: Store) -> None:
        client = mount(agent.handle)
        with ThreadPoolExecutor(REPLAYS) as pool:
            answers = list(pool.map(
                lambda _: self.deliver(client, UNANSWERABLE, "ID-concurrent"), range(REPLAYS)))
        # The first delivery runs the turn; the others wait for its reply and answer with it.
        assert [a.status_code for a in answers] == [self.accepted_status] * REPLAYS
        assert len({self.reply_of(a) for a in answers}) == 1
        counts = written(store)
        assert (counts["messages"], counts["cases"]) == (1, 1), counts
        assert counts["outbox"] == self.outbox_per_delivery()

    def test_an_empty_or_oversized_body_gets_a_clear_4xx(self, mount: Mount, agent: Agent,
                                                         store: Store) -> None:
        handler = CountingHandler(agent.handle)
        client = mount(handler)
        self.prepare(client)
        before = written(store)
        for answer in (self.empty(client), self.oversized(client)):
            assert 400 <= answer.status_code < 500, answer.text
            assert answer.json()["detail"], "a 4xx says what was wrong"
        assert handler.calls == 0
        assert written(store) == before

    def test_an_agent_failure_keeps_the_message_for_the_retry(
            self, mount: Mount, agent: Agent, store: Store,
            monkeypatch: pytest.MonkeyPatch) -> None:
        def broken_turn(*args: object, **kwargs: object) -> Reply:
            raise RuntimeError("the knowledge index is unreachable")

        with monkeypatch.context() as patched:
            patched.setattr(agent, "_turn", broken_turn)
            failed = self.deliver(mount(agent.handle), UNANSWERABLE, "ID-retried")
        assert failed.status_code == self.retry_status, failed.text
        with store.sessions() as session:
            kept = session.scalars(select(MessageRow)).one()
            assert kept.reply is None  # stored before the turn, waiting for the retry
        retried = self.deliver(mount(agent.handle), UNANSWERABLE, "ID-retried")
        assert retried.status_code == self.accepted_status, retried.text
        counts = written(store)
        assert (counts["messages"], counts["cases"]) == (1, 1), counts
        with store.sessions() as session:
            assert session.scalars(select(MessageRow)).one().reply is not None
