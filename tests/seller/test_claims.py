"""Claims (SAFE-T) over HTTP: one test per eligibility rule, evidence limits, and the life
cycle filed -> decided -> visible; a refused claim stores nothing."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agent.db import Store
from agent.models import ClaimRow
from agent.records import Order
from agent.refunds import IssuedBy, record_refund
from base.settings import Settings
from portal.auth import COOKIE, issue_token
from seller.evidence import MAX_PHOTO_BYTES
from seller.terms import ClaimTerms, load_terms
from tests.seller.conftest import (
    SELLER,
    Client,
    operator_auth,
    order_record,
    refused,
)
from tests.support.scenarios import NO_SUCH_ORDER_ID

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def refunded(store: Store, *, issued: str = "2026-11-01", by: IssuedBy = "service",
             amount: float | None = None, returned: str | None = None,
             refund: bool = True, **order: Any) -> Order:
    """An order of the seller (two units at 20.00 EUR), refunded in full unless told."""
    placed = order.pop("purchased", "2026-10-01")
    o = order_record(purchased=placed, shipped=order.pop("shipped", "2026-10-02"),
                     quantity=2, **order)
    store.save(orders=[o])
    if refund:
        with store.sessions.begin() as session:
            record_refund(session, order_id=o.order_id, asin=o.items[0].asin,
                          seller_id=o.seller_id,
                          amount=Decimal("40.00") if amount is None else amount,
                          currency=o.items[0].unit_price.currency, kind="returnless_refund",
                          reason="damaged", rule=f"{o.marketplace}.window.30d",
                          issued_at=datetime.fromisoformat(f"{issued}T09:00:00+00:00"),
                          issued_by=by, units=2, ordered=2, cause="message:1",
                          return_delivered_on=date.fromisoformat(returned) if returned else None)
    return o


def file(client: TestClient, auth: dict[str, str], order: Order, *,
         reason: str = "buyer_abuse", photos: list[tuple[str, bytes]] | None = None,
         **form: str) -> Any:
    files = [("photos", (name, content, "image/png")) for name, content in (photos or [])]
    return client.post("/v1/seller/claims", headers=auth, data={
        "order_id": order.order_id, "reason": reason, "description": "Returned empty box.",
        **form}, files=files or None)


def nothing_stored(store: Store, settings: Settings) -> bool:
    with store.sessions() as session:
        claims = session.scalar(select(func.count()).select_from(ClaimRow))
    folder = settings.data_dir / "claims"
    return claims == 0 and (not folder.exists() or not any(folder.iterdir()))


# --- eligibility, one rule each -----------------------------------------------------------

def test_an_eligible_claim_is_filed(client: TestClient, account_store: Store,
                                    seller_auth: dict[str, str]) -> None:
    order = refunded(account_store)
    response = file(client, seller_auth, order, photos=[("box.png", PNG)],
                    tracking_id="JJD0001")
    assert response.status_code == 201, response.text
    claim = response.json()
    assert claim["status"] == "filed" and claim["order_id"] == order.order_id
    assert claim["amount_claimed"] == "40.00" and claim["currency"] == "EUR"
    assert claim["window_ends_on"] == "2026-12-31"  # 60 days from the refund on 1 Nov
    assert claim["evidence"][0]["content_type"] == "image/png"


@pytest.mark.parametrize("by", ["no refund", "seller"])
def test_only_refunds_the_service_issued_can_be_claimed(
        client: TestClient, account_store: Store, account_settings: Settings,
        seller_auth: dict[str, str], by: str) -> None:
    order = (refunded(account_store, refund=False) if by == "no refund"
             else refunded(account_store, by="seller"))
    refused(file(client, seller_auth, order, photos=[("a.png", PNG)]), 422,
            "claim.not_service_issued")
    assert nothing_stored(account_store, account_settings)


def test_a_refund_of_part_of_an_order_can_be_claimed(client: TestClient,
                                                    account_store: Store,
                                                    seller_auth: dict[str, str]) -> None:
    # The service refunded one of two units: that refund is claimable, for its own amount.
    order = refunded(account_store, amount=20.0)
    response = file(client, seller_auth, order)
    assert response.status_code == 201, response.text
    assert response.json()["amount_claimed"] == "20.00"


def test_one_claim_per_refund(client: TestClient, account_store: Store,
                              seller_auth: dict[str, str]) -> None:
    order = refunded(account_store)
    assert file(client, seller_auth, order).status_code == 201
    refused(file(client, seller_auth, order, reason="item_not_returned"), 409,
            "claim.one_per_refund")
    with account_store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ClaimRow)) == 1


def two_line_order(store: Store, *, second_by: IssuedBy = "service") -> tuple[Order, list[int]]:
    """An order of two lines (2 x 20.00 and 1 x 15.00 EUR), each refunded on its own: the
    first by the service, the second by ``second_by``; the ledger ids in that order."""
    o = order_record(purchased="2026-10-01", shipped="2026-10-02", items=[
        {"asin": "B0KONTOR01", "quantity": 2, "unit_price": {"amount": 20.0, "currency": "EUR"}},
        {"asin": "B0KONTOR02", "quantity": 1, "unit_price": {"amount": 15.0, "currency": "EUR"}},
    ])
    store.save(orders=[o])
    ids = []
    with store.sessions.begin() as session:
        for item, amount, by in ((o.items[0], "40.00", "service"),
                                 (o.items[1], "15.00", second_by)):
            row = record_refund(
                session, order_id=o.order_id, asin=item.asin, seller_id=o.seller_id,
                amount=Decimal(amount), currency="EUR", kind="returnless_refund",
                reason="damaged", rule="DE.window.30d",
                issued_at=datetime.fromisoformat("2026-11-01T09:00:00+00:00"), issued_by=by,
                units=item.quantity, ordered=item.quantity, cause="message:1").row
            assert row is not None
            ids.append(row.id)
    return o, ids


def test_each_service_refund_of_a_multi_line_order_is_claimed_on_its_own(
        client: TestClient, account_store: Store, account_settings: Settings,
        seller_auth: dict[str, str]) -> None:
    order, (first, second) = two_line_order(account_store)
    # Two refunds not claimed yet: the claim must say which.
    refused(file(client, seller_auth, order), 422, "claim.refund_required")
    assert nothing_stored(account_store, account_settings)
    one = file(client, seller_auth, order, refund_id=str(second))
    assert one.status_code == 201, one.text
    assert (one.json()["refund_id"], one.json()["asin"], one.json()["amount_claimed"]) == (
        second, "B0KONTOR02", "15.00")
    # The one left is the one a claim without a refund id is on.
    other = file(client, seller_auth, order, reason="item_not_returned")
    assert other.status_code == 201, other.text
    assert (other.json()["refund_id"], other.json()["amount_claimed"]) == (first, "40.00")
    refused(file(client, seller_auth, order, refund_id=str(first)), 409,
            "claim.one_per_refund")
    ledger = client.get("/v1/seller/refunds", headers=seller_auth).json()
    assert sorted(r["refund_id"] for r in ledger) == sorted([first, second])


def test_a_refund_the_seller_issued_neither_blocks_nor_is_claimed(
        client: TestClient, account_store: Store, seller_auth: dict[str, str]) -> None:
    order, (service, own) = two_line_order(account_store, second_by="seller")
    claim = file(client, seller_auth, order)
    assert claim.status_code == 201, claim.text
    assert (claim.json()["refund_id"], claim.json()["amount_claimed"]) == (service, "40.00")
    refused(file(client, seller_auth, order, refund_id=str(own)), 422,
            "claim.not_service_issued")


def test_no_claim_on_an_order_with_a_guarantee_claim(
        client: TestClient, account_store: Store, account_settings: Settings,
        seller_auth: dict[str, str]) -> None:
    order = refunded(account_store, guarantee_claim=True)
    refused(file(client, seller_auth, order), 422, "claim.guarantee_claim")
    assert nothing_stored(account_store, account_settings)


def test_the_reason_must_be_eligible(client: TestClient, account_store: Store,
                                     account_settings: Settings,
                                     seller_auth: dict[str, str]) -> None:
    response = file(client, seller_auth, refunded(account_store), reason="customer_was_rude")
    refused(response, 422, "claim.reason_not_eligible")
    assert "buyer_abuse" in response.json()["detail"]["message"]
    assert nothing_stored(account_store, account_settings)


# marketplace, refund day, return delivery scan, filing day, accepted
WINDOWS = [
    ("DE", "2026-09-01", None, "2026-10-31", True),  # day 60
    ("DE", "2026-09-01", None, "2026-11-01", False),  # day 61
    ("DE", "2026-09-01", "2026-10-01", "2026-11-30", True),  # the later scan starts it
    ("US", "2026-02-10", None, "2026-04-11", True),  # before 16 Feb 2026: 60 days
    ("US", "2026-02-16", None, "2026-03-18", True),  # from 16 Feb 2026: 30 days
    ("US", "2026-02-16", None, "2026-03-19", False),
    ("US", "2026-10-01", None, "2026-11-25", False),
]


@pytest.mark.parametrize(("mp", "issued", "returned", "filed", "accepted"), WINDOWS)
def test_the_window_comes_from_the_marketplace_data(
        client_at: Client, account_store: Store, account_settings: Settings,
        seller_auth: dict[str, str], mp: str, issued: str, returned: str | None, filed: str,
        accepted: bool) -> None:
    order = refunded(account_store, marketplace=mp, issued=issued, returned=returned,
                     purchased="2026-01-20", shipped="2026-01-21")
    client = client_at(datetime.fromisoformat(f"{filed}T23:00:00+00:00"))
    response = file(client, seller_auth, order)
    if accepted:
        assert response.status_code == 201, response.text
    else:
        refused(response, 422, "claim.outside_window")
        assert nothing_stored(account_store, account_settings)


def test_not_received_needs_proof_of_delivery(client: TestClient, account_store: Store,
                                              account_settings: Settings,
                                              seller_auth: dict[str, str]) -> None:
    lost = refunded(account_store, status="shipped")  # no delivery scan
    refused(file(client, seller_auth, lost, reason="not_received_delivery_proven",
                 tracking_id="JJD0001"), 422, "claim.delivery_not_proven")
    refused(file(client, seller_auth, lost, reason="not_received_delivery_proven",
                 signature_confirmed="true"), 422, "claim.delivery_not_proven")  # no photo
    assert nothing_stored(account_store, account_settings)
    signed = file(client, seller_auth, lost, reason="not_received_delivery_proven",
                  signature_confirmed="true", photos=[("signature.png", PNG)])
    assert signed.status_code == 201, signed.text
    delivered = refunded(account_store)  # delivered, with the carrier's tracking
    assert file(client, seller_auth, delivered,
                reason="not_received_delivery_proven").status_code == 201


def test_another_sellers_order_reads_as_no_order(client: TestClient, account_store: Store,
                                                 account_settings: Settings,
                                                 other_auth: dict[str, str]) -> None:
    theirs = file(client, other_auth, refunded(account_store))
    refused(theirs, 404, "claim.unknown_order")
    missing = client.post("/v1/seller/claims", headers=other_auth,
                          data={"order_id": NO_SUCH_ORDER_ID, "reason": "buyer_abuse"})
    refused(missing, 404, "claim.unknown_order")
    assert nothing_stored(account_store, account_settings)


@pytest.mark.parametrize(("photos", "status", "rule"), [
    ([("big.png", PNG + b"\x00" * MAX_PHOTO_BYTES)], 413, "evidence.too_large"),
    ([("fake.png", b"<?php echo 1; ?>")], 415, "evidence.type"),
    ([("doc.png", b"%PDF-1.7 ...")], 415, "evidence.type"),
    ([(f"{n}.png", PNG) for n in range(6)], 422, "evidence.too_many"),
])
def test_evidence_is_bounded_in_size_type_and_number(
        client: TestClient, account_store: Store, account_settings: Settings,
        seller_auth: dict[str, str], photos: list[tuple[str, bytes]], status: int,
        rule: str) -> None:
    refused(file(client, seller_auth, refunded(account_store), photos=photos), status, rule)
    assert nothing_stored(account_store, account_settings)


def test_claim_terms_are_data() -> None:
    terms: ClaimTerms = load_terms("US").claims
    assert terms.window_days(date(2026, 2, 15)) == 60
    assert terms.window_days(date(2026, 2, 16)) == 30
    assert load_terms("DE").claims.window_days(date(2027, 1, 1)) == 60


# --- the life cycle -------------------------------------------------------------------------

def test_filed_decided_visible(client: TestClient, account_store: Store,
                               account_settings: Settings, seller_auth: dict[str, str],
                               other_auth: dict[str, str]) -> None:
    order = refunded(account_store)
    filed = file(client, seller_auth, order, photos=[("box.jpg", JPEG), ("label.png", PNG)],
                 tracking_id="JJD0001").json()
    claim_id = filed["id"]
    sha = filed["evidence"][0]["sha256"]
    stored = list((account_settings.data_dir / "claims" / claim_id).iterdir())
    assert sorted(p.suffix for p in stored) == [".jpg", ".png"]
    assert all(p.stem in {e["sha256"] for e in filed["evidence"]} for p in stored)

    # the operator sees it among the filed claims and decides
    assert [c["id"] for c in client.get("/v1/operator/claims",
                                        headers=operator_auth).json()] == [claim_id]
    photo = client.get(f"/v1/operator/claims/{claim_id}/evidence/{sha}", headers=operator_auth)
    assert photo.status_code == 200 and photo.content == JPEG
    decided = client.post(f"/v1/operator/claims/{claim_id}/decision", headers=operator_auth,
                          json={"decision": "partial", "amount": "25.00",
                                "reason": "Box returned opened; one unit resellable."})
    assert decided.status_code == 200, decided.text
    again = client.post(f"/v1/operator/claims/{claim_id}/decision", headers=operator_auth,
                        json={"decision": "granted", "reason": "changed my mind"})
    refused(again, 409, "claim.already_decided")

    # the seller sees status, amount and reason
    seen = client.get(f"/v1/seller/claims/{claim_id}", headers=seller_auth).json()
    assert (seen["status"], seen["amount_granted"], seen["decision_reason"]) == (
        "partial", "25.00", "Box returned opened; one unit resellable.")
    assert seen["decided_at"] == "2026-11-25T12:00:00Z"
    assert [c["id"] for c in client.get("/v1/seller/claims", headers=seller_auth).json()] == [
        claim_id]
    own = client.get(f"/v1/seller/claims/{claim_id}/evidence/{sha}", headers=seller_auth)
    assert own.status_code == 200 and own.headers["x-content-type-options"] == "nosniff"
    assert client.get("/v1/operator/claims", headers=operator_auth).json() == []

    # another seller reaches neither the claim nor its photos
    assert client.get("/v1/seller/claims", headers=other_auth).json() == []
    refused(client.get(f"/v1/seller/claims/{claim_id}", headers=other_auth), 404,
            "claim.unknown")
    refused(client.get(f"/v1/seller/claims/{claim_id}/evidence/{sha}", headers=other_auth),
            404, "claim.unknown")


@pytest.mark.parametrize(("body", "status", "rule"), [
    ({"decision": "partial", "reason": "r"}, 422, "claim.partial_amount"),
    ({"decision": "partial", "reason": "r", "amount": "40.00"}, 422, "claim.partial_amount"),
    ({"decision": "granted", "reason": "r", "amount": "10.00"}, 422, "claim.amount_mismatch"),
    ({"decision": "partial", "reason": "r", "amount": "10.005"}, 422, "claim.amount_precision"),
])
def test_a_decision_must_fit_the_claim(client: TestClient, account_store: Store,
                                       seller_auth: dict[str, str], body: dict[str, str],
                                       status: int, rule: str) -> None:
    claim_id = file(client, seller_auth, refunded(account_store)).json()["id"]
    refused(client.post(f"/v1/operator/claims/{claim_id}/decision", headers=operator_auth,
                        json=body), status, rule)
    assert client.get(f"/v1/seller/claims/{claim_id}",
                      headers=seller_auth).json()["status"] == "filed"


@pytest.mark.parametrize("decision", ["granted", "denied"])
def test_granted_pays_the_claim_and_denied_nothing(client: TestClient, account_store: Store,
                                                   seller_auth: dict[str, str],
                                                   decision: str) -> None:
    claim_id = file(client, seller_auth, refunded(account_store)).json()["id"]
    decided = client.post(f"/v1/operator/claims/{claim_id}/decision", headers=operator_auth,
                          json={"decision": decision, "reason": "checked the photos"}).json()
    assert decided["status"] == decision
    assert decided["amount_granted"] == ("40.00" if decision == "granted" else "0.00")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Bearer dev-insecure-operator-token"}])
def test_operator_endpoints_need_the_operator_token(client: TestClient,
                                                    seller_auth: dict[str, str],
                                                    headers: dict[str, str]) -> None:
    for auth in (headers, seller_auth):
        assert client.get("/v1/operator/claims", headers=auth).status_code == 401
        assert client.post("/v1/operator/claims/CL-X/decision", headers=auth,
                           json={"decision": "denied", "reason": "r"}).status_code == 401


def test_production_refuses_the_development_operator_token() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="CSBA_OPERATOR_TOKEN"):
        Settings(mode="production", twilio_auth_token="real",  # type: ignore[arg-type]
                 _env_file=None)  # type: ignore[call-arg]


def test_a_claim_filed_from_the_portal_page(client: TestClient, account_store: Store,
                                            account_settings: Settings) -> None:
    order = refunded(account_store)
    late = refunded(account_store, issued="2026-08-01")
    client.cookies.set(COOKIE, issue_token(account_store, SELLER))
    page = client.get("/seller/account").text
    assert f'<option value="{order.order_id}|' in page and 'name="photos"' in page
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert csrf
    form = {"reason": "buyer_abuse", "description": "Empty box came back.",
            "csrf": csrf.group(1)}
    photos = [("photos", ("box.png", PNG, "image/png"))]
    refused_page = client.post("/seller/claims", data={**form, "order_id": late.order_id},
                               files=photos)
    assert refused_page.status_code == 422
    # The German seller reads the refusal in German, with the rule's stable code.
    assert "(Regel claim.outside_window)" in refused_page.text
    assert f"Die Antragsfrist für die Bestellung {late.order_id} endete am" in refused_page.text
    assert nothing_stored(account_store, account_settings)
    forged = client.post("/seller/claims", data={**form, "order_id": order.order_id,
                                                 "csrf": "0" * 64}, files=photos)
    assert forged.status_code == 403 and nothing_stored(account_store, account_settings)
    # The page's option names the order and its refund.
    option = re.search(rf'<option value="({order.order_id}\|\d+)"', page)
    assert option
    filed = client.post("/seller/claims", data={**form, "order_id": option.group(1)},
                        files=photos, follow_redirects=False)
    assert filed.status_code == 303
    shown = client.get(filed.headers["location"]).text
    assert "wurde gestellt" in shown and f'<option value="{order.order_id}|' not in shown
    assert '<span class="badge filed">eingereicht</span>' in shown
