"""Shared fixtures: the real embedding model (loaded once) and an index over the demo data."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The demo data and every dataset here are dated around this instant: every service a test
# builds from settings, in this process or a server it starts, runs on a clock started here, so
# a return window or a delivery estimate means the same on any day the suite runs.
NOW = "2026-11-25T10:00:00+00:00"
os.environ["CSBA_CLOCK_START"] = NOW

# Mail senders are proven by DKIM/SPF/DMARC: every service a test builds, here or in a server
# it starts, asks the test DNS on loopback, and trusts the test inbound provider's verdict.
from tests.support.dns import shared_test_dns  # noqa: E402
from tests.support.mail_auth import AUTHSERV_ID  # noqa: E402

os.environ["CSBA_DNS_NAMESERVER"] = shared_test_dns().nameserver
os.environ["CSBA_EMAIL_AUTHSERV_ID"] = AUTHSERV_ID

from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402

from agent.core import Agent  # noqa: E402
from agent.db import Store, make_engine  # noqa: E402
from agent.messages import Channel, InboundMessage, Reply  # noqa: E402
from agent.records import Order, Seller  # noqa: E402
from base.jsonl import read_jsonl  # noqa: E402
from base.settings import DEFAULT_EMBEDDING_MODEL, Settings  # noqa: E402
from knowledge.embeddings import MINILM_MODEL, load_embeddings  # noqa: E402
from knowledge.index import KnowledgeIndex  # noqa: E402
from knowledge.loaders import load_catalog  # noqa: E402
from knowledge.pages import ProductPage  # noqa: E402
from seller.ingest import DEMO_DATA_DIR  # noqa: E402
from tests.support.identity import CHAT_IDENTITY_SECRET, CLOCK_START, chat_token  # noqa: E402
from tests.support.mail import MailCatcher, running_relay  # noqa: E402
from tests.support.postgres import (  # noqa: E402
    PostgresUnavailable,
    drop_database,
    fresh_database,
    running_cluster,
)
from tests.support.redis import RedisServer, RedisUnavailable, running_redis  # noqa: E402

# Every service a test builds (in this process or a server it starts) verifies chat logins
# with this key; ``chat_token`` signs as a host site would.
os.environ["CSBA_CHAT_IDENTITY_SECRET"] = CHAT_IDENTITY_SECRET
assert CLOCK_START == NOW
__all__ = ["CHAT_IDENTITY_SECRET", "NOW", "chat_token"]

FIXTURES = Path(__file__).parent / "fixtures"
Say = Callable[..., Reply]


@pytest.fixture(scope="session")
def embeddings() -> Embeddings:
    """The default model (the one ``Settings()`` names, so the two always agree)."""
    return load_embeddings(DEFAULT_EMBEDDING_MODEL)


@pytest.fixture(scope="session")
def minilm_embeddings() -> Embeddings:
    """A sentence-transformers model, for what concerns that kind of model (torch threads)."""
    return load_embeddings(MINILM_MODEL)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture()
def index(settings: Settings, embeddings: Embeddings) -> Iterator[KnowledgeIndex]:
    opened = KnowledgeIndex.open(settings, embeddings=embeddings)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def demo_pages() -> list[ProductPage]:
    return load_catalog(DEMO_DATA_DIR / "catalog.jsonl")


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory, embeddings: Embeddings,
               demo_pages: list[ProductPage]) -> Iterator[KnowledgeIndex]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("demo"), _env_file=None)  # type: ignore[call-arg]
    opened = KnowledgeIndex.open(settings, embeddings=embeddings)
    opened.sync(demo_pages)
    yield opened
    opened.close()


# The databases the service runs on. A test marked ``on_every_database`` (a module's
# ``pytestmark``) runs once on each: its ``database_url``, and so its ``store``, is
# parametrised, so both databases are held to one set of expectations.
DATABASES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if ("database_url" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("on_every_database")):
        metafunc.parametrize("database_url", DATABASES, indirect=True)


@pytest.fixture()
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: SQLite in the test's directory, or each database in turn for a test
    marked ``on_every_database``."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path / 'agent.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def store(database_url: str, demo_pages: list[ProductPage]) -> Iterator[Store]:
    """The demo records in a fresh database (see ``database_url``)."""
    store = Store(make_engine(database_url))
    store.save(sellers=read_jsonl(DEMO_DATA_DIR / "sellers.jsonl", Seller),
               orders=read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order), pages=demo_pages)
    yield store
    store.engine.dispose()  # a PostgreSQL database is dropped next: its connections go first


@pytest.fixture()
def agent(store: Store, demo_index: KnowledgeIndex) -> Agent:
    return Agent(store, demo_index, portal_url="http://127.0.0.1:8000/seller")


@pytest.fixture()
def say(agent: Agent) -> Say:
    counter = iter(range(1, 10_000))

    def send(text: str, *, sender: str = "customer@example.com", channel: Channel = "email",
             thread: str = "thread-1", at: str = NOW, order_id: str | None = None,
             message_id: str | None = None, marketplace: str | None = None) -> Reply:
        return agent.handle(InboundMessage(
            channel=channel, sender=sender, text=text, thread_key=thread,
            received_at=datetime.fromisoformat(at),
            provider_message_id=message_id or f"msg-{next(counter)}", verified_contact=sender,
            order_id=order_id, marketplace=marketplace))

    return send


@pytest.fixture()
def mail_relay() -> Iterator[MailCatcher]:
    """A real SMTP relay on loopback catching what the service sends."""
    with running_relay() as catcher:
        yield catcher


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server on loopback for the whole session (the admin database's URL).

    Skips only when no server can be started here; ``make test`` sets
    ``CSBA_TEST_REQUIRE_POSTGRES=1`` so that there a missing server fails the run instead.
    """
    try:
        with running_cluster() as url:
            yield url
    except PostgresUnavailable as exc:
        if os.environ.get("CSBA_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture()
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    url = fresh_database(postgres_server)
    yield url
    drop_database(postgres_server, url)


@contextmanager
def started_redis() -> Iterator[RedisServer]:
    """A fresh Redis server. Skips only when none can be started here; ``make test`` sets
    ``CSBA_TEST_REQUIRE_REDIS=1`` so that there a missing server fails the run instead."""
    try:
        with running_redis() as server:
            yield server
    except RedisUnavailable as exc:
        if os.environ.get("CSBA_TEST_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required here: {exc}")
        pytest.skip(f"Redis unavailable: {exc}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server on loopback for the whole session."""
    with started_redis() as server:
        yield server


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis server, emptied for the test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture()
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of the test's own, which it may stop (an outage)."""
    with started_redis() as server:
        yield server
