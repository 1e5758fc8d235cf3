"""The HTTP server as a client sees it; demo data loads when the database is empty."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from base.logs import configure_logging
from base.settings import Settings
from channels.app import create_app
from tests.conftest import chat_token
from tests.support.scenarios import DELIVERED_HEADLAMP_US

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    settings = Settings(data_dir=tmp_path_factory.mktemp("server"), _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, load_demo_if_empty=True, smtp_server=False, outbox_worker=False)
    with TestClient(app) as test_client:
        yield test_client  # type: ignore[misc]


def test_health_shows_the_loaded_demo_data(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["records"]["pages"] >= 60 and body["records"]["orders"] >= 80
    assert body["chunks"] > 1000


def test_knowledge_search_returns_cited_fields(client: TestClient) -> None:
    hits = client.get("/v1/knowledge/search",
                      params={"q": "Wie schwer ist die Schreibtischlampe?", "marketplace": "DE",
                              "asin": "B0DE4LT7K2"}).json()
    assert hits[0]["asin"] == "B0DE4LT7K2"
    assert "attributes.item_weight" in [h["field"] for h in hits[:3]]


@pytest.mark.parametrize("params", [{"q": ""}, {"q": "x", "k": 0}, {"q": "x", "marketplace": "de"},
                                    {"q": "x", "asin": "B0SHORT"}])
def test_bad_queries_get_a_clear_4xx(client: TestClient, params: dict[str, object]) -> None:
    response = client.get("/v1/knowledge/search", params=params)
    assert response.status_code == 422 and response.json()["detail"]


def test_openapi_is_served(client: TestClient) -> None:
    assert "/v1/knowledge/search" in client.get("/openapi.json").json()["paths"]


# --- operations: metrics and logs -----------------------------------------------------------

HEADLAMP_CUSTOMER = {"email": DELIVERED_HEADLAMP_US.customer_email, "marketplace": "US",
                     "order_id": DELIVERED_HEADLAMP_US.order_id,
                     "identity_token": chat_token(DELIVERED_HEADLAMP_US.customer_email)}
UNANSWERED = "Does the headlamp fit on a Petzl bicycle helmet mount?"


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def test_metrics_count_turns_latency_backlog_and_cases(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    before = scrape(client)
    started = client.post("/v1/conversations", json=HEADLAMP_CUSTOMER).json()
    key, secret = started["conversation_id"], started["conversation_secret"]
    with caplog.at_level(logging.DEBUG):
        reply = client.post(f"/v1/conversations/{key}/messages",
                            headers={"X-Conversation-Secret": secret},
                            json={"text": UNANSWERED, "client_message_id": "m-metrics"}).json()
    assert reply["outcome"] == "escalated"
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        series = (name, tuple(sorted(labels.items())))
        return after.get(series, 0.0) - before.get(series, 0.0)

    assert grew("csba_turns_total", channel="chat", intent=reply["intent"],
                outcome="escalated") == 1
    assert grew("csba_turn_seconds_count", channel="chat") == 1
    assert grew("csba_turn_seconds_sum", channel="chat") > 0
    # The worker is off in this app: the seller's notification waits in the outbox.
    assert grew("csba_outbox_backlog", channel="email") == 1
    assert grew("csba_cases", status="awaiting_seller") == 1
    assert after[("csba_outbox_oldest_unsent_seconds", ())] >= 0

    # The turn's logs hold ids and counts, never the customer's words or address.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert reply["case_id"] in logged
    assert "Petzl" not in logged and HEADLAMP_CUSTOMER["email"] not in logged


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json")
        logging.getLogger("agent.core").info("turn conversation=%s outcome=%s", "c1", "answered")
    finally:
        root.handlers[:], root.level = saved
    [line] = capsys.readouterr().err.strip().splitlines()
    record = json.loads(line)
    assert record["message"] == "turn conversation=c1 outcome=answered"
    assert (record["level"], record["logger"]) == ("INFO", "agent.core") and record["time"]
