"""Rate limits counted in one Redis server are one budget for every worker that names it; a
Redis that goes away loosens them to per-process counts and never fails a message."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage
from base.settings import Settings
from channels import rate_limit
from channels.app import create_app
from channels.credential_guesses import CredentialGuesses
from channels.rate_limit import SenderRateLimiter, limit_storage, rate_limited
from knowledge.index import KnowledgeIndex
from tests.conftest import chat_token
from tests.support.redis import RedisServer
from tests.support.scenarios import DELIVERED_BEDDING_DE, DELIVERED_HEADLAMP_US

CUSTOMER = DELIVERED_BEDDING_DE.customer_email
QUESTION = f"Wo ist meine Bestellung {DELIVERED_BEDDING_DE.order_id}?"
CLIENT = "203.0.113.7"


def mail(n: int) -> InboundMessage:
    return InboundMessage(channel="email", sender=CUSTOMER, text=QUESTION, thread_key=f"t{n}",
                          received_at=datetime(2026, 11, 25, tzinfo=UTC),
                          provider_message_id=f"shared-{n}", verified_contact=CUSTOMER)


def two_workers(url: str | None, spec: str = "2/minute"
                ) -> tuple[SenderRateLimiter, SenderRateLimiter]:
    """The sender limiters two server processes would build from the same settings."""
    return (SenderRateLimiter(spec, limit_storage(url)),
            SenderRateLimiter(spec, limit_storage(url)))


def test_two_workers_on_one_redis_share_a_senders_budget(redis_url: str) -> None:
    a, b = two_workers(redis_url)
    assert [a.allow(mail(1)), b.allow(mail(2)), a.allow(mail(3)), b.allow(mail(4))] == [
        True, True, False, False]


def test_without_redis_each_worker_counts_alone() -> None:
    a, b = two_workers(None)
    assert [a.allow(mail(1)), a.allow(mail(2)), a.allow(mail(3))] == [True, True, False]
    assert [b.allow(mail(4)), b.allow(mail(5)), b.allow(mail(6))] == [True, True, False]


def test_limiters_sharing_a_redis_keep_their_counts_apart(redis_url: str) -> None:
    storage = limit_storage(redis_url)
    start = SenderRateLimiter("1/minute", storage, "chat_start")
    message = SenderRateLimiter("1/minute", storage, "chat_message")
    assert start.wait([f"ip:{CLIENT}"]) == 0
    assert message.wait([f"ip:{CLIENT}"]) == 0  # its own budget, not the start limiter's
    wait = start.wait([f"ip:{CLIENT}"])
    assert 0 < wait <= 60


def test_credential_guesses_on_two_workers_are_counted_together(redis_url: str) -> None:
    a = CredentialGuesses("2/minute", limit_storage(redis_url))
    b = CredentialGuesses("2/minute", limit_storage(redis_url))
    a.failed(CLIENT)
    assert b.retry_after(CLIENT) is None
    b.failed(CLIENT)
    for worker in (a, b):
        wait = worker.retry_after(CLIENT)
        assert wait is not None and 0 < wait <= 60
    assert a.retry_after("198.51.100.9") is None


def test_redis_holds_no_contact_address_or_client_ip(redis_server: RedisServer,
                                                     redis_url: str) -> None:
    a, _ = two_workers(redis_url, "2/minute;10/day")
    assert a.allow(mail(1))
    CredentialGuesses("2/minute", limit_storage(redis_url)).failed(CLIENT)
    with redis_server.client() as client:
        keys = [key.decode() for key in client.keys("*")]
    assert len(keys) == 3  # the sender's minute and day, the client's guesses
    assert not any(CUSTOMER.lower() in key or CLIENT in key for key in keys), keys


def test_a_redis_outage_falls_back_to_counting_in_the_process(
        own_redis: RedisServer, agent: Agent, store: Store, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rate_limit, "RETRY_SHARED_SECONDS", 0.0)  # ask Redis on every call
    limiter = SenderRateLimiter("2/minute", limit_storage(own_redis.url))
    handle = rate_limited(agent.handle, limiter, store)
    assert handle(mail(1)).intent != "rate_limited"  # one message counted in Redis

    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="channels.rate_limit"):
        replies = [handle(mail(n)) for n in (2, 3, 4)]
    # The agent answered the first two (this process's memory starts empty) and stored them;
    # the third is over the per-process budget.
    assert [r.intent == "rate_limited" for r in replies] == [False, False, True]
    assert replies[0].text and replies[0].citations
    assert store.has_message("email", "shared-2") and store.has_message("email", "shared-3")
    outage = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage) == 1, outage  # once per outage, not once per message
    assert CUSTOMER.lower() not in caplog.text

    own_redis.start()  # back on the same port, empty: the shared count starts again
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="channels.rate_limit"):
        assert [limiter.allow(mail(n)) for n in (5, 6, 7)] == [True, True, False]
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    with own_redis.client() as client:
        assert client.dbsize() == 1


def test_a_redis_outage_waits_before_asking_again(own_redis: RedisServer) -> None:
    limiter = SenderRateLimiter("5/minute", limit_storage(own_redis.url))
    own_redis.stop()
    assert limiter.allow(mail(1))
    own_redis.start()
    # Within RETRY_SHARED_SECONDS the limiter keeps counting in memory: Redis sees nothing.
    assert limiter.allow(mail(2))
    with own_redis.client() as client:
        assert client.dbsize() == 0


# --- over HTTP ----------------------------------------------------------------------------


@pytest.fixture()
def two_apps(tmp_path: Path, demo_index: KnowledgeIndex, redis_url: str
             ) -> Iterator[tuple[TestClient, TestClient]]:
    """The service twice, as two workers on one database and one Redis, each allowing two new
    chats a minute from one client."""
    database_url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"

    def app(name: str) -> TestClient:
        settings = Settings(data_dir=tmp_path / name, database_url=database_url,
                            redis_url=redis_url, chat_start_limit="2/minute",
                            _env_file=None)  # type: ignore[call-arg]
        return TestClient(create_app(settings, smtp_server=False, outbox_worker=False,
                                     index=demo_index), client=(CLIENT, 50000))

    with app("a") as a, app("b") as b:
        yield a, b


def test_the_third_chat_from_one_client_is_refused_whichever_worker_it_reaches(
        two_apps: tuple[TestClient, TestClient]) -> None:
    a, b = two_apps
    start = {"email": DELIVERED_HEADLAMP_US.customer_email, "marketplace": "US",
             "identity_token": chat_token(DELIVERED_HEADLAMP_US.customer_email)}
    assert a.post("/v1/conversations", json=start).status_code == 201
    assert b.post("/v1/conversations", json=start).status_code == 201
    for worker in (a, b):
        refused = worker.post("/v1/conversations", json=start)
        assert refused.status_code == 429, refused.text
        assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_a_service_whose_redis_is_down_starts_and_answers(
        tmp_path: Path, store: Store, demo_index: KnowledgeIndex,
        own_redis: RedisServer) -> None:
    own_redis.stop()  # down before the service starts, and for the whole test
    settings = Settings(data_dir=tmp_path / "data", database_url=str(store.engine.url),
                        redis_url=own_redis.url, _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, smtp_server=False, outbox_worker=False, index=demo_index)
    with TestClient(app, client=(CLIENT, 50000)) as client:
        started = client.post("/v1/conversations", json={
            "email": DELIVERED_HEADLAMP_US.customer_email, "marketplace": "US",
            "order_id": DELIVERED_HEADLAMP_US.order_id,
            "identity_token": chat_token(DELIVERED_HEADLAMP_US.customer_email)})
        assert started.status_code == 201, started.text
        body = started.json()
        answered = client.post(
            f"/v1/conversations/{body['conversation_id']}/messages",
            json={"text": "Where is my order?", "client_message_id": "m1"},
            headers={"X-Conversation-Secret": body["conversation_secret"]})
    assert answered.status_code == 200, answered.text
    assert answered.json()["outcome"] == "answered", answered.json()  # by the agent
