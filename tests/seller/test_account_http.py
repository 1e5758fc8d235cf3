"""The seller account over HTTP: enrolment, statements (JSON, CSV, pages), the refund ledger;
a seller reaches only its own, bad input gets a 4xx naming its rule."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from agent.db import Store
from agent.models import ContactRow
from base.settings import Settings
from portal.auth import COOKIE, issue_token
from tests.seller.conftest import NOW, SELLER, Client, operator_auth, order_record, refused
from tests.support.scenarios import NO_SUCH_ORDER_ID


def seed_activity(store: Store) -> None:
    """100 units and 12 contacts from August to October, 50 units in November: November
    costs 50 x 0.41 = 20.50 EUR (CPU 12 %)."""
    orders = ([order_record(purchased="2026-08-03", shipped="2026-08-03") for _ in range(60)]
              + [order_record(purchased="2026-10-03", shipped="2026-10-03", quantity=2)
                 for _ in range(20)]
              + [order_record(purchased="2026-11-03", shipped="2026-11-03", quantity=5)
                 for _ in range(10)])
    store.save(orders=orders)
    with store.sessions.begin() as session:
        for n, order in enumerate(orders[:12]):
            session.add(ContactRow(seller_id=SELLER, marketplace="DE", order_id=order.order_id,
                                   day=date(2026, 9, 1) + timedelta(days=n), channel="email",
                                   outcome="answered", turns=1, conversation_id=f"c{n}"))


# --- enrolment --------------------------------------------------------------------------------

def test_opt_out_and_enrol_again(client_at: Client, seller_auth: dict[str, str]) -> None:
    now = client_at(NOW)
    start = now.get("/v1/seller/enrolment", headers=seller_auth).json()
    assert start == {"seller_id": SELLER, "status": "active", "trial_ends_on": "2026-02-04",
                     "periods": [{"enrolled_on": "2026-01-05", "opted_out_on": None}]}
    out = now.post("/v1/seller/enrolment/opt-out", headers=seller_auth).json()
    assert out["status"] == "opted_out"
    assert out["periods"] == [{"enrolled_on": "2026-01-05", "opted_out_on": "2026-11-25"}]
    refused(now.post("/v1/seller/enrolment/opt-out", headers=seller_auth), 409,
            "enrolment.not_active")
    later = client_at(NOW + timedelta(days=10))
    back = later.post("/v1/seller/enrolment", headers=seller_auth).json()
    assert back["status"] == "active" and back["trial_ends_on"] == "2026-02-04"  # no 2nd trial
    assert back["periods"][-1] == {"enrolled_on": "2026-12-05", "opted_out_on": None}
    refused(later.post("/v1/seller/enrolment", headers=seller_auth), 409,
            "enrolment.already_active")


def test_the_account_api_needs_a_seller_token(client: TestClient) -> None:
    for path in ("/v1/seller/enrolment", "/v1/seller/statements/2026-11",
                 "/v1/seller/refunds", "/v1/seller/claims"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=operator_auth).status_code == 401, path


# --- statements -------------------------------------------------------------------------------

def test_statements_as_json_and_csv(client: TestClient, account_store: Store,
                                    seller_auth: dict[str, str]) -> None:
    seed_activity(account_store)
    [statement] = client.get("/v1/seller/statements/2026-11", headers=seller_auth).json()
    assert statement["seller_id"] == SELLER and statement["marketplace"] == "DE"
    assert (statement["units_shipped"], statement["cpu_basis"]["cpu"], statement["tier"],
            statement["fee_per_unit"], statement["total"]) == (50, "0.1200", "cpu_le_15",
                                                               "0.41", "20.50")
    assert statement["final"] is False  # 25 November: the month is not over
    assert client.get("/v1/seller/statements/2026-11", headers=seller_auth,
                      params={"marketplace": "US"}).json()[0]["total"] == "0.00"
    response = client.get("/v1/seller/statements/2026-11/csv", headers=seller_auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="statement-{SELLER}-2026-11.csv"' in response.headers[
        "content-disposition"]
    assert response.text.splitlines()[1].startswith(f"{SELLER},DE,2026-11,false,EUR,DE,50,")


@pytest.mark.parametrize(("path", "params", "status", "rule"), [
    ("/v1/seller/statements/2026-12", {}, 422, "statement.month_in_future"),
    ("/v1/seller/statements/2026-13", {}, 422, "statement.month_format"),
    ("/v1/seller/statements/november", {}, 422, "statement.month_format"),
    ("/v1/seller/statements/2026-12/csv", {}, 422, "statement.month_in_future"),
])
def test_bad_months_name_their_rule(client: TestClient, seller_auth: dict[str, str],
                                    path: str, params: dict[str, str], status: int,
                                    rule: str) -> None:
    refused(client.get(path, headers=seller_auth, params=params), status, rule)


def test_an_unknown_marketplace_is_refused(client: TestClient,
                                           seller_auth: dict[str, str]) -> None:
    response = client.get("/v1/seller/statements/2026-11", headers=seller_auth,
                          params={"marketplace": "XX"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "marketplace"


def test_a_seller_reaches_only_its_own_statements(client: TestClient, account_store: Store,
                                                  other_auth: dict[str, str]) -> None:
    seed_activity(account_store)
    assert client.get("/v1/seller/statements/2026-11", headers=other_auth).json() == []
    mine = client.get(f"/v1/operator/statements/{SELLER}/2026-11", headers=operator_auth)
    assert mine.json()[0]["total"] == "20.50"
    refused(client.get("/v1/operator/statements/A0NOBODY/2026-11", headers=operator_auth),
            404, "statement.unknown_seller")
    assert client.get(f"/v1/operator/statements/{SELLER}/2026-11",
                      headers=other_auth).status_code == 401


# --- refund ledger ----------------------------------------------------------------------------

def test_refunds_after_a_return_and_goodwill_enter_the_ledger(
        client: TestClient, account_store: Store, seller_auth: dict[str, str],
        other_auth: dict[str, str]) -> None:
    order = order_record(purchased="2026-10-01", shipped="2026-10-02", quantity=2)
    account_store.save(orders=[order])
    body = {"order_id": order.order_id, "asin": order.items[0].asin, "amount": "40.00",
            "kind": "refund_after_return", "reason": "defective",
            "rule": "DE.window.30d", "return_delivered_on": "2026-11-20"}
    created = client.post("/v1/operator/refunds", headers=operator_auth, json=body)
    assert created.status_code == 201, created.text
    refused(client.post("/v1/operator/refunds", headers=operator_auth,
                        json={**body, "kind": "goodwill"}), 409, "refund.line_refunded")
    refused(client.post("/v1/operator/refunds", headers=operator_auth,
                        json={**body, "amount": "1.005"}), 422, "refund.amount_precision")
    refused(client.post("/v1/operator/refunds", headers=operator_auth,
                        json={**body, "order_id": NO_SUCH_ORDER_ID}), 404,
            "refund.unknown_order")
    assert client.post("/v1/operator/refunds", headers=seller_auth,
                       json=body).status_code == 401
    [ledger] = client.get("/v1/seller/refunds", headers=seller_auth).json()
    assert ledger == {"refund_id": created.json()["refund_id"], "order_id": order.order_id,
                      "asin": "B0KONTOR01", "amount": "40.00",
                      "currency": "EUR", "kind": "refund_after_return", "reason": "defective",
                      "rule": "DE.window.30d", "issued_by": "service",
                      "issued_on": "2026-11-25", "return_delivered_on": "2026-11-20",
                      "units": 2}
    assert client.get("/v1/seller/refunds", headers=other_auth).json() == []
    # the return's delivery scan starts the claim window: 60 days from 20 November
    claim = client.post("/v1/seller/claims", headers=seller_auth,
                        data={"order_id": order.order_id, "reason": "returned_unsellable"})
    assert claim.json()["window_ends_on"] == "2027-01-24"


def test_an_operator_refunds_a_line_unit_by_unit_and_a_retried_request_once(
        client: TestClient, account_store: Store, seller_auth: dict[str, str]) -> None:
    order = order_record(purchased="2026-10-01", shipped="2026-10-02", quantity=2)
    account_store.save(orders=[order])
    body = {"order_id": order.order_id, "asin": order.items[0].asin, "amount": "20.00",
            "kind": "goodwill", "reason": "defective", "rule": "DE.goodwill", "units": 1,
            "request_id": "op-1"}
    first = client.post("/v1/operator/refunds", headers=operator_auth, json=body)
    assert first.status_code == 201, first.text
    retried = client.post("/v1/operator/refunds", headers=operator_auth, json=body)
    assert retried.status_code == 200 and retried.json() == first.json()
    second = client.post("/v1/operator/refunds", headers=operator_auth,
                         json={**body, "request_id": "op-2"})
    assert second.status_code == 201, second.text
    assert second.json()["refund_id"] != first.json()["refund_id"]
    refused(client.post("/v1/operator/refunds", headers=operator_auth,
                        json={**body, "request_id": "op-3"}), 409, "refund.line_refunded")
    refused(client.post("/v1/operator/refunds", headers=operator_auth,
                        json={**body, "units": 3, "request_id": "op-4"}), 422, "refund.units")
    ledger = client.get("/v1/seller/refunds", headers=seller_auth).json()
    assert [(r["units"], r["amount"]) for r in ledger] == [(1, "20.00"), (1, "20.00")]


# --- pages ------------------------------------------------------------------------------------

def test_the_portal_pages_show_enrolment_and_statements(client: TestClient,
                                                        account_store: Store) -> None:
    assert client.get("/seller/account", follow_redirects=False).status_code == 303
    seed_activity(account_store)
    client.cookies.set(COOKIE, issue_token(account_store, SELLER))
    page = client.get("/seller/account").text
    # A German seller's page.
    assert "Service aktiv" in page and "2026-01-05" in page and "2026-02-04" in page
    assert 'href="/seller/statements"' in page and 'href="/seller/cases"' in page
    statement = client.get("/seller/statements", params={"month": "2026-11"}).text
    assert "<svg" in statement and "20.50 EUR" in statement and "CPU ≤ 15 %" in statement
    assert "2026-10: 12.0 %" not in statement  # October's tier came from May..July: unknown
    assert "2026-11: 12.0 %" in statement
    future = client.get("/seller/statements", params={"month": "2027-01"})
    assert future.status_code == 422 and "hat noch nicht begonnen" in future.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert csrf
    forged = client.post("/seller/account/enrolment",
                         data={"action": "opt_out", "csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403
    done = client.post("/seller/account/enrolment",
                       data={"action": "opt_out", "csrf": csrf.group(1)},
                       follow_redirects=False)
    assert done.status_code == 303
    assert "abgemeldet" in client.get("/seller/account").text


def test_pages_show_no_customer_details(client: TestClient, account_store: Store) -> None:
    seed_activity(account_store)
    client.cookies.set(COOKIE, issue_token(account_store, SELLER))
    pages = client.get("/seller/account").text + client.get(
        "/seller/statements", params={"month": "2026-11"}).text
    assert "@example.de" not in pages and "Kundin" not in pages and "+49151" not in pages


@pytest.mark.slow
def test_create_app_mounts_the_account_routes(settings: Settings) -> None:
    from channels.app import create_app

    app = create_app(settings, smtp_server=False, outbox_worker=False)
    with TestClient(app) as http:
        paths = http.get("/openapi.json").json()["paths"]
        assert {"/v1/seller/statements/{month}", "/v1/seller/claims",
                "/v1/operator/claims/{claim_id}/decision", "/v1/seller/enrolment"} <= set(paths)
        assert http.get("/v1/seller/enrolment").status_code == 401
        assert http.get("/v1/operator/claims", headers={
            "Authorization": "Bearer dev-insecure-operator-token"}).json() == []
