"""A database that cannot be reached answers 503 with Retry-After on every route, not 500,
and the service answers again as soon as the database is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from agent.db import Store
from base.settings import Settings
from channels.app import create_app
from channels.unavailable import RETRY_AFTER_SECONDS
from knowledge.index import KnowledgeIndex
from tests.conftest import chat_token
from tests.contracts.channel import Answer
from tests.support.scenarios import DELIVERED_HEADLAMP_US

CUSTOMER = {"email": DELIVERED_HEADLAMP_US.customer_email,
            "marketplace": DELIVERED_HEADLAMP_US.marketplace,
            "order_id": DELIVERED_HEADLAMP_US.order_id,
            "identity_token": chat_token(DELIVERED_HEADLAMP_US.customer_email)}
QUESTION = {"text": "Where is my order?", "client_message_id": "m1"}


@pytest.fixture()
def client(settings: Settings, demo_index: KnowledgeIndex) -> Iterator[TestClient]:
    app = create_app(settings, smtp_server=False, outbox_worker=False, index=demo_index)
    with TestClient(app) as test_client:
        yield test_client


class Unreachable:
    """Takes the SQLite file away from the running service (a database server that went
    down), and puts it back."""

    def __init__(self, client: TestClient) -> None:
        self.store: Store = client.app.state.store  # type: ignore[attr-defined]
        self.path = Path(str(self.store.engine.url.database))
        self.aside = self.path.with_name(self.path.name + ".aside")

    def __enter__(self) -> None:
        self.store.engine.dispose()  # no pooled connection outlives the file
        self.path.rename(self.aside)
        self.path.mkdir()  # no database can be opened here

    def __exit__(self, *_: object) -> None:
        self.path.rmdir()
        self.aside.rename(self.path)


def assert_unavailable(response: Answer) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "database is unavailable" in response.json()["detail"]


def test_the_chat_api_answers_503_while_the_database_is_unreachable(
        client: TestClient) -> None:
    started = client.post("/v1/conversations", json=CUSTOMER).json()
    key, secret = started["conversation_id"], {"X-Conversation-Secret":
                                               started["conversation_secret"]}
    with Unreachable(client):
        with pytest.raises(OperationalError):  # what the routes ran into before
            client.app.state.store.counts()  # type: ignore[attr-defined]
        assert_unavailable(client.post("/v1/conversations", json=CUSTOMER))
        assert_unavailable(client.post(f"/v1/conversations/{key}/messages", json=QUESTION,
                                       headers=secret))
        assert_unavailable(client.get(f"/v1/conversations/{key}/messages", headers=secret))
    answered = client.post(f"/v1/conversations/{key}/messages", json=QUESTION, headers=secret)
    assert answered.status_code == 200 and answered.json()["conversation_id"] == key


def test_other_routes_answer_503_too(client: TestClient) -> None:
    with Unreachable(client):
        assert_unavailable(client.get("/healthz"))
        assert_unavailable(client.get("/v1/knowledge/pages/B0USRL3HL4"))
        assert_unavailable(client.get("/v1/seller/cases",
                                      headers={"Authorization": "Bearer csba_unknown"}))
    assert client.get("/healthz").status_code == 200


def test_the_schema_lists_the_503_and_its_retry_after_on_every_operation(
        client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    operations = [op for ops in paths.values() for op in ops.values() if "responses" in op]
    assert operations
    for operation in operations:
        unavailable = operation["responses"]["503"]
        assert "Retry-After" in unavailable["headers"] and unavailable["content"]
