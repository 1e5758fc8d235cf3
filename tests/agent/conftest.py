"""An agent over the demo data: real SQLite, the real index, customers as the demo orders name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from agent.core import Agent
from agent.db import Store, make_engine
from agent.messages import Channel, InboundMessage, Reply
from agent.records import Order, Seller
from csba.jsonl import read_jsonl
from csba.services import DEMO_DATA_DIR
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage

NOW = "2026-11-25T10:00:00+00:00"
Say = Callable[..., Reply]


@pytest.fixture()
def store(tmp_path: Path, demo_pages: list[ProductPage]) -> Store:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'agent.sqlite3'}"))
    store.save(sellers=read_jsonl(DEMO_DATA_DIR / "sellers.jsonl", Seller),
               orders=read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order), pages=demo_pages)
    return store


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
            provider_message_id=message_id or f"msg-{next(counter)}",
            order_id=order_id, marketplace=marketplace))

    return send
