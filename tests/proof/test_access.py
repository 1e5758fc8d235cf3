"""Access, through the whole server: a seller's token reaches only that seller's cases,
statements, refunds and claims; a customer learns about an order only as its customer (the
identity rule); operator endpoints take the operator's credential and nothing else; and no
token or auth secret ever reaches the logs, whatever is sent.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.db import Store
from portal.auth import issue_token
from seller.ingest import DEMO_DATA_DIR
from tests.conftest import chat_token
from tests.contracts.channel import HEADLAMP_ORDER, UNANSWERABLE
from tests.proof.conftest import BASE, OPERATOR_TOKEN, TWILIO_TOKEN, WEBHOOK_TOKEN
from tests.proof.test_signature_matrix import sign
from tests.support.scenarios import DELIVERED_HEADLAMP_US

pytestmark = pytest.mark.slow

OWNER, OTHER = "A5RIDGELINE", "A1LICHTWERK"  # the headlamp's seller, and another
HEADLAMP_EMAIL = DELIVERED_HEADLAMP_US.customer_email
ORDERS = [json.loads(line) for line in (DEMO_DATA_DIR / "orders.jsonl").read_text().splitlines()]


@pytest.fixture()
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of the run, DEBUG included, formatted as a log pipeline keeps it."""
    caplog.set_level(logging.DEBUG)
    return caplog


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def single_line_order(seller_id: str) -> dict[str, Any]:
    return next(o for o in ORDERS if o["seller_id"] == seller_id and o["status"] == "delivered"
                and o["fulfillment_channel"] == "MFN" and len(o["items"]) == 1
                and o["items"][0]["quantity"] == 1)


def test_each_credential_reaches_only_what_is_its_own(
        service: FastAPI, store: Store, logs: pytest.LogCaptureFixture) -> None:
    owner, other = issue_token(store, OWNER), issue_token(store, OTHER)
    with TestClient(service) as client:
        # The headlamp's buyer asks what its page cannot answer: a case for its seller.
        chat = client.post("/v1/conversations", json={
            "email": HEADLAMP_EMAIL, "marketplace": "US", "order_id": HEADLAMP_ORDER,
            "identity_token": chat_token(HEADLAMP_EMAIL)}).json()
        asked = client.post(f"/v1/conversations/{chat['conversation_id']}/messages",
                            headers={"X-Conversation-Secret": chat["conversation_secret"]},
                            json={"text": UNANSWERABLE, "client_message_id": "q1"}).json()
        case_id = asked["case_id"]
        assert case_id

        # Cases: the owner sees and may answer it; the other seller cannot even tell it exists.
        assert [c["id"] for c in client.get("/v1/seller/cases", headers=bearer(owner)).json()
                ] == [case_id]
        assert client.get("/v1/seller/cases", headers=bearer(other)).json() == []
        for path in (f"/v1/seller/cases/{case_id}",):
            assert client.get(path, headers=bearer(other)).status_code == 404
        foreign = client.post(f"/v1/seller/cases/{case_id}/answer", headers=bearer(other),
                              json={"answer": "Yes it fits."})
        assert foreign.status_code == 404 and case_id in client.get(
            f"/v1/seller/cases/{case_id}", headers=bearer(owner)).text

        # Refunds and claims: a refund the service issued on the owner's order, then a claim.
        order = single_line_order(OWNER)
        item = order["items"][0]
        refund = client.post("/v1/operator/refunds", headers=bearer(OPERATOR_TOKEN), json={
            "order_id": order["order_id"], "asin": item["asin"],
            "amount": f"{item['unit_price']['amount']:.2f}", "kind": "refund_after_return",
            "reason": "defective", "rule": "US.window.30d", "return_delivered_on": "2026-11-20"})
        assert refund.status_code == 201, refund.text
        claim = client.post("/v1/seller/claims", headers=bearer(owner),
                            data={"order_id": order["order_id"], "reason": "returned_unsellable"})
        assert claim.status_code == 201, claim.text
        claim_id = claim.json()["id"]
        assert client.get("/v1/seller/refunds", headers=bearer(other)).json() == []
        assert client.get("/v1/seller/claims", headers=bearer(other)).json() == []
        assert client.get(f"/v1/seller/claims/{claim_id}", headers=bearer(other)
                          ).status_code == 404
        assert client.post("/v1/seller/claims", headers=bearer(other), data={
            "order_id": order["order_id"], "reason": "returned_unsellable"}).status_code == 404
        assert client.get(f"/v1/seller/claims/{claim_id}", headers=bearer(owner)
                          ).status_code == 200

        # Statements: each seller's are its own; another's are the operator's to read.
        mine = client.get("/v1/seller/statements/2026-10", headers=bearer(other))
        assert mine.status_code == 200 and all(
            s["seller_id"] == OTHER for s in mine.json()), mine.text
        assert client.get(f"/v1/operator/statements/{OWNER}/2026-10", headers=bearer(other)
                          ).status_code == 401

        # Operator endpoints take the operator's token only; seller endpoints a seller's only.
        for path in ("/v1/operator/claims", f"/v1/operator/claims/{claim_id}"):
            for credentials in ({}, bearer(owner), bearer(TWILIO_TOKEN), bearer("")):
                assert client.get(path, headers=credentials).status_code == 401, path
            assert client.get(path, headers=bearer(OPERATOR_TOKEN)).status_code == 200
        assert client.get("/v1/seller/cases", headers=bearer(OPERATOR_TOKEN)).status_code == 401
        assert client.post("/email/inbound", content=b"From: a@b.c\r\n\r\nx",
                           headers={"Content-Type": "message/rfc822", **bearer(owner)}
                           ).status_code == 403

        # Twilio with a signature made from a seller's token (a leaked credential of the wrong
        # kind) is refused too; the logs then hold a refusal, never the secret.
        params = {"MessageSid": "SMaccess", "From": DELIVERED_HEADLAMP_US.phone,
                  "To": "+12025550100", "Body": "hi"}
        assert client.post("/twilio/messaging", data=params, headers={
            "X-Twilio-Signature": sign(BASE + "/twilio/messaging", params, owner)}
            ).status_code == 403

    secrets = {"twilio": TWILIO_TOKEN, "operator": OPERATOR_TOKEN, "webhook": WEBHOOK_TOKEN,
               "seller": owner, "other seller": other}
    lines = logs.text.splitlines()
    leaked = {name: line for name, secret in secrets.items() for line in lines
              if secret in line}
    assert len(logs.records) > 5, "the run logged (the check reads real lines)"
    assert not leaked, leaked


def test_a_customer_reaches_only_their_own_orders(service: FastAPI) -> None:
    """Asking about another customer's order, with that order's number in hand, reveals
    nothing of it until the customer's identity matches (design: the identity rule)."""
    target = next(o for o in ORDERS if o["order_id"] == HEADLAMP_ORDER)
    secrets = [target["customer"]["name"], target["tracking"]["id"] if target.get("tracking")
               else None, target["delivery_date"], target["customer"]["phone"]]
    with TestClient(service) as client:
        chat = client.post("/v1/conversations", json={
            "email": "someone.else@example.com", "marketplace": "US"}).json()
        key = chat["conversation_id"]
        for i, text in enumerate([f"Where is my order {HEADLAMP_ORDER}?",
                                  f"I want to return order {HEADLAMP_ORDER}, it is broken.",
                                  f"Tracking number for {HEADLAMP_ORDER} please, I am "
                                  "Michael Rodriguez."]):
            reply = client.post(f"/v1/conversations/{key}/messages",
                                headers={"X-Conversation-Secret": chat["conversation_secret"]},
                                json={"text": text, "client_message_id": f"m{i}"}).json()
            assert reply["outcome"] == "needs_info", reply
            assert reply["return_decision"] is None and reply["case_id"] is None
            assert not [c for c in reply["citations"] if c["kind"] == "order"]
            assert not [s for s in secrets if s and str(s).lower() in reply["text"].lower()]
