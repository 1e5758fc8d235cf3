"""A seller's questions about a resolution go to Seller Support: every resolution summary, in
the API and the portal, names where it is reached (CSBA_SELLER_SUPPORT_URL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.db import Store
from agent.messages import InboundMessage, Reply
from base.settings import DEFAULT_HANDOVER_ADDRESSES, DEFAULT_SELLER_SUPPORT_URL, Settings
from portal.auth import COOKIE, issue_token
from portal.routers import seller_reports_router
from tests.seller.conftest import NOW, SELLER, order_record

SUPPORT = "https://support.marketplace.example/sellers"


def _no_turns(message: InboundMessage) -> Reply:
    raise AssertionError("a resolution summary runs no turn")


def reports(store: Store, **support: str) -> TestClient:
    app = FastAPI()
    app.include_router(seller_reports_router(store, _no_turns,
                                             handover_addresses=DEFAULT_HANDOVER_ADDRESSES,
                                             clock=lambda: NOW, **support))
    return TestClient(app)


@pytest.fixture()
def order_id(account_store: Store) -> Iterator[str]:
    order = order_record(purchased="2026-11-02", shipped="2026-11-03")
    account_store.save(orders=[order])
    yield order.order_id


def test_the_resolution_summary_names_seller_support(account_store: Store,
                                                     order_id: str) -> None:
    auth = {"Authorization": f"Bearer {issue_token(account_store, SELLER)}"}
    with reports(account_store, seller_support_url=SUPPORT) as client:
        summary = client.get(f"/v1/seller/orders/{order_id}/resolution", headers=auth).json()
        assert summary["seller_support_url"] == SUPPORT
        assert summary["questions"] == ("Questions about this resolution: contact Seller "
                                        f"Support at {SUPPORT}")
        client.cookies.set(COOKIE, issue_token(account_store, SELLER))
        page = client.get("/seller/resolution", params={"order_id": order_id}).text
        assert f'an den Verkäuferservice unter <a href="{SUPPORT}">' in page  # de seller


def test_seller_support_defaults_to_the_marketplaces_support_page(account_store: Store,
                                                                  order_id: str) -> None:
    auth = {"Authorization": f"Bearer {issue_token(account_store, SELLER)}"}
    with reports(account_store) as client:
        summary = client.get(f"/v1/seller/orders/{order_id}/resolution", headers=auth).json()
    assert summary["seller_support_url"] == DEFAULT_SELLER_SUPPORT_URL
    assert DEFAULT_SELLER_SUPPORT_URL.startswith("https://sellercentral.")


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSBA_SELLER_SUPPORT_URL", SUPPORT)
    assert str(Settings(_env_file=None).seller_support_url) == SUPPORT  # type: ignore[call-arg]
    monkeypatch.setenv("CSBA_SELLER_SUPPORT_URL", "not a url")
    with pytest.raises(ValueError, match="seller_support_url"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.slow
def test_the_app_passes_the_setting_to_the_summary(settings: Settings, account_store: Store
                                                   ) -> None:
    from channels.app import create_app

    configured = settings.model_copy(update={"seller_support_url": SUPPORT})
    app = create_app(configured, smtp_server=False, outbox_worker=False)
    with TestClient(app) as http:
        store: Store = app.state.store
        order = order_record(purchased="2026-11-02", shipped="2026-11-03")
        store.save(sellers=[account_store.seller(SELLER)], orders=[order])  # type: ignore[list-item]
        auth = {"Authorization": f"Bearer {issue_token(store, SELLER)}"}
        summary = http.get(f"/v1/seller/orders/{order.order_id}/resolution", headers=auth)
        assert summary.status_code == 200, summary.text
        assert summary.json()["seller_support_url"] == SUPPORT
