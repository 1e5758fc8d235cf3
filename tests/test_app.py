"""The HTTP server as a client sees it; demo data loads when the database is empty."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from channels.app import create_app
from csba.settings import Settings

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
