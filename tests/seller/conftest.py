"""Builders for the seller-account tests: a store holding only the sellers and orders a test
writes, and the real agent over it (order questions need no product page)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.core import Agent
from agent.db import Store, make_engine
from agent.messages import Channel, InboundMessage, Reply
from agent.records import Order, Seller
from base.settings import Settings
from knowledge.index import KnowledgeIndex
from portal.auth import issue_token
from portal.routers import seller_account_router

SELLER = "A8KONTOR"
OTHER = "A9NACHBAR"
_ids = itertools.count(1)


def seller_record(seller_id: str = SELLER, *, enrolled_on: str = "2026-01-05",
                  opted_out_on: str | None = None, vtr: float | None = 0.90,
                  country: str = "DE") -> Seller:
    csba: dict[str, Any] = {"status": "opted_out" if opted_out_on else "active",
                            "enrolled_on": enrolled_on, "valid_tracking_rate": vtr}
    if opted_out_on:
        csba["opted_out_on"] = opted_out_on
    return Seller.model_validate({
        "seller_id": seller_id, "name": f"{seller_id} GmbH", "country": country,
        "email": f"ops@{seller_id.lower()}.example", "languages": ["de", "en"],
        "return_addresses": {}, "returns": {"prepaid_label": True}, "csba": csba})


def order_record(*, seller_id: str = SELLER, marketplace: str = "DE", purchased: str,
                 shipped: str | None = None, status: str = "delivered", quantity: int = 1,
                 price: float = 20.0, channel: str = "MFN", prime: bool = False,
                 asin: str = "B0KONTOR01", **extra: Any) -> Order:
    n = next(_ids)
    currency = {"US": "USD", "JP": "JPY", "UK": "GBP"}.get(marketplace, "EUR")
    ship = date.fromisoformat(shipped) if shipped else None
    return Order.model_validate({
        "order_id": f"028-{n:07d}-{n:07d}", "marketplace": marketplace,
        "seller_id": seller_id, "fulfillment_channel": channel,
        "seller_fulfilled_prime": prime, "status": status, "purchase_date": purchased,
        "ship_date": shipped, "estimated_delivery_date": str(ship) if ship else None,
        "delivery_date": str(ship) if ship and status == "delivered" else None,
        "ship_to_country": marketplace,
        "items": [{"asin": asin, "quantity": quantity,
                   "unit_price": {"amount": price, "currency": currency}}],
        "tracking": {"carrier": "DHL", "id": f"JJD{n:012d}"},
        "customer": {"name": f"Kundin {n}", "email": f"kundin{n}@example.de",
                     "phone": f"+49151{n:08d}"}, **extra})


@pytest.fixture()
def account_store(tmp_path: Path) -> Store:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'account.sqlite3'}"))
    store.save(sellers=[seller_record(), seller_record(OTHER, enrolled_on="2026-02-01")])
    return store


@pytest.fixture()
def account_agent(account_store: Store, index: KnowledgeIndex) -> Agent:
    return Agent(account_store, index, portal_url="http://127.0.0.1:8000/seller")


NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
OPERATOR = "operator-secret-for-tests"
Client = Callable[[datetime], TestClient]


@pytest.fixture()
def account_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", operator_token=OPERATOR,  # type: ignore[arg-type]
                    _env_file=None)  # type: ignore[call-arg]


@pytest.fixture()
def client_at(account_store: Store, account_settings: Settings) -> Iterator[Client]:
    opened: list[TestClient] = []

    def make(now: datetime) -> TestClient:
        app = FastAPI()
        app.include_router(seller_account_router(account_store, account_settings,
                                                 clock=lambda: now))
        client = TestClient(app)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture()
def client(client_at: Client) -> TestClient:
    return client_at(NOW)


@pytest.fixture()
def seller_auth(account_store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(account_store, SELLER)}"}


@pytest.fixture()
def other_auth(account_store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(account_store, OTHER)}"}


operator_auth = {"Authorization": f"Bearer {OPERATOR}"}


def refused(response: Any, status: int, rule: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["detail"]["rule"] == rule
    assert response.json()["detail"]["message"]


Ask = Callable[..., Reply]


@pytest.fixture()
def ask(account_agent: Agent) -> Ask:
    """A customer asks about an order, on a channel, at a time."""
    counter = itertools.count(1)

    def send(order: Order, at: str, *, channel: Channel = "email", thread: str | None = None,
             text: str | None = None, proven: bool = True) -> Reply:
        email = order.customer.email or ""
        sender = email if channel == "email" else f"session-{next(counter)}"
        body = text or (f"Where is my order {order.order_id}?" if channel == "email" else
                        f"Where is my order {order.order_id}? My email is {email}")
        # Every channel proves the customer here: the mail's sender, the chat's signed login.
        return account_agent.handle(InboundMessage(
            channel=channel, sender=sender, verified_contact=email if proven else None,
            text=body,
            thread_key=thread or f"{channel}-{order.order_id}-{at}",
            received_at=datetime.fromisoformat(f"{at}T10:00:00+00:00"),
            provider_message_id=f"m-{next(counter)}"))

    return send
