"""Hand-over by the seller API and portal, and the resolution summary a seller may ask for."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agent.core import Agent
from agent.db import Store
from agent.models import ConversationRow, MessageRow, OutboxRow, RefundRow
from base.settings import DEFAULT_HANDOVER_ADDRESSES
from portal.auth import COOKIE, issue_token
from portal.routers import seller_reports_router
from tests.conftest import NOW
from tests.support.scenarios import (
    AFN_DESK_LAMP_DE,
    CN_LOW_VALUE_SMART_PLUG_DE,
    DELIVERED_DESK_LAMP_DE,
    DELIVERED_HEADLAMP_US,
    DELIVERED_POWER_STRIPS_DE,
    NO_SUCH_ORDER_ID,
)

pytestmark = pytest.mark.slow

CLOCK = datetime.fromisoformat(NOW)
LICHTWERK, BRIGHTWAY = "A1LICHTWERK", "A3BRIGHTWAY"
JANA = DELIVERED_DESK_LAMP_DE
# A3BRIGHTWAY (CN) selling into DE under the low-value line: a defect means a returnless refund.
URSULA = CN_LOW_VALUE_SMART_PLUG_DE
LICHTWERK_AFN = AFN_DESK_LAMP_DE.order_id
RIDGELINE_ORDER = DELIVERED_HEADLAMP_US.order_id


@pytest.fixture()
def client(agent: Agent) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(seller_reports_router(
        agent.store, agent.handle, handover_addresses=DEFAULT_HANDOVER_ADDRESSES,
        clock=lambda: CLOCK))
    with TestClient(app) as test_client:
        yield test_client


def bearer(store: Store, seller_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(store, seller_id)}"}


def hand_over(client: TestClient, auth: dict[str, str], order_id: str, message: str,
              **more: Any) -> Any:
    return client.post("/v1/seller/handovers", headers=auth,
                       json={"order_id": order_id, "message": message, **more})


def count(store: Store, table: type) -> int:
    with store.sessions() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_pasted_message_is_answered_to_the_orders_customer(client: TestClient,
                                                             store: Store) -> None:
    order_id, email, phone = JANA.order_id, JANA.customer_email, JANA.phone
    response = hand_over(client, bearer(store, LICHTWERK), order_id,
                         "Hallo, wo ist meine Bestellung? Gruß Jana", subject="Lampe")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["order_id"], body["answered_by"], body["outcome"]) == (
        "taken_over", order_id, "email", "answered")
    assert re.fullmatch(r"HO-[A-Z2-9]{7}", body["handover_id"])
    assert email not in response.text and phone not in response.text
    with store.sessions() as session:
        mail = session.scalars(select(OutboxRow)).one()
    assert (mail.recipient, mail.subject) == (email, "Re: Lampe")
    assert "12. November 2026" in mail.body


def test_a_client_reference_makes_a_retried_post_one_hand_over(client: TestClient,
                                                               store: Store) -> None:
    auth = bearer(store, LICHTWERK)
    first = hand_over(client, auth, JANA.order_id, "Wo ist meine Bestellung?",
                      client_reference="ticket-77")
    again = hand_over(client, auth, JANA.order_id, "Wo ist meine Bestellung?",
                      client_reference="ticket-77")
    assert first.json()["handover_id"] == again.json()["handover_id"]
    assert count(store, MessageRow) == 1 and count(store, OutboxRow) == 1


@pytest.mark.parametrize("order_id", [RIDGELINE_ORDER, NO_SUCH_ORDER_ID])
def test_another_sellers_order_and_an_unknown_one_look_the_same(client: TestClient,
                                                                store: Store,
                                                                order_id: str) -> None:
    response = hand_over(client, bearer(store, LICHTWERK), order_id, "Where is my order?")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail["rule"] == "handover.unknown_order" and order_id not in detail["message"]
    assert count(store, ConversationRow) == 0 and count(store, OutboxRow) == 0


@pytest.mark.parametrize(("order_id", "message", "rule"), [
    (JANA.order_id, "Können Sie mir bitte eine Rechnung mit ausgewiesener MwSt. schicken?",
     "scope.invoice"),
    (LICHTWERK_AFN, "Wo ist meine Bestellung?", "scope.fulfilled_by_marketplace"),
])
def test_what_the_service_does_not_cover_is_refused_with_the_reason(
        client: TestClient, store: Store, order_id: str, message: str, rule: str) -> None:
    response = hand_over(client, bearer(store, LICHTWERK), order_id, message)
    assert response.status_code == 422
    assert response.json()["detail"]["rule"] == rule
    assert "selbst" in response.json()["detail"]["message"]  # "yourself": Lichtwerk reads de
    assert count(store, ConversationRow) == 0 and count(store, OutboxRow) == 0


def test_a_marketplace_fulfilled_order_is_answered_by_the_seller_in_buyer_seller_messaging(
        client: TestClient, store: Store) -> None:
    # The service's page: for orders the marketplace fulfilled, the seller answers the
    # customer in buyer-seller messaging; the marketplace's customer service does not take
    # over a message the customer sent the seller.
    response = hand_over(client, bearer(store, LICHTWERK), LICHTWERK_AFN,
                         "Wo ist meine Bestellung?")
    message = response.json()["detail"]["message"]
    assert response.json()["detail"]["rule"] == "scope.fulfilled_by_marketplace"
    assert "Käufer-Verkäufer-Kommunikation" in message  # buyer-seller messaging, in German
    assert "antworten Sie dem Kunden" in message
    assert "customer service answers" not in message and "Kundenservice" not in message


def test_the_portal_form_hands_over_and_shows_the_regions_address(client: TestClient,
                                                                  store: Store) -> None:
    client.cookies.set(COOKIE, issue_token(store, LICHTWERK))
    page = client.get("/seller/handover")
    assert page.status_code == 200 and DEFAULT_HANDOVER_ADDRESSES["DE"] in page.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert csrf
    done = client.post("/seller/handover", data={
        "order_id": f"Bestellung {JANA.order_id}", "message": "Wo ist meine Bestellung?",
        "csrf": csrf.group(1)})
    assert done.status_code == 200 and "übernommen" in done.text
    assert JANA.customer_email not in done.text
    forged = client.post("/seller/handover", data={
        "order_id": JANA.order_id, "message": "Wo ist meine Bestellung?", "csrf": "0" * 64})
    assert forged.status_code == 403 and count(store, MessageRow) == 1


# --- resolution summary -----------------------------------------------------------------------

def test_the_resolution_summary_gives_outcome_rule_refund_and_dates_never_the_conversation(
        client: TestClient, store: Store) -> None:
    order_id, email = URSULA.order_id, URSULA.customer_email
    message = "Hallo, das Ladegerät ist defekt, ich möchte es zurückgeben. Ursula Lehmann"
    taken = hand_over(client, bearer(store, BRIGHTWAY), order_id, message)
    assert taken.status_code == 201, taken.text

    response = client.get(f"/v1/seller/orders/{order_id}/resolution",
                          headers=bearer(store, BRIGHTWAY))
    assert response.status_code == 200
    summary = response.json()
    with store.sessions() as session:
        refund = session.scalars(select(RefundRow)).one()
        conversation = session.scalars(select(ConversationRow)).one()
        reply = session.scalars(select(MessageRow)).one().reply
    assert reply is not None
    assert (summary["resolution"], summary["outcome"]) == ("resolved", "answered")
    assert summary["rule"] == reply["return_decision"]["rule"] == refund.rule
    assert summary["refunds"] == [{
        "asin": refund.asin, "amount": f"{refund.amount:.2f}", "currency": "EUR",
        "kind": "returnless_refund", "rule": refund.rule, "reason": refund.reason,
        "issued_at": "2026-11-25T10:00:00Z"}]
    decision = summary["decisions"][0]
    assert (decision["intent"], decision["return_decision"]["method"]) == (
        "return_request", "returnless_refund")
    assert decision["at"] == "2026-11-25T10:00:00Z"
    assert summary["handovers"][0]["handover_id"] == taken.json()["handover_id"]
    # Never the conversation, its id or the customer's contact details.
    dumped = json.dumps(summary)
    for secret in (email, "Ursula", "Lehmann", "Ladegerät ist defekt", reply["text"][:40],
                   conversation.id, conversation.thread_key):
        assert secret not in dumped


def test_a_seller_cannot_ask_about_another_sellers_order(client: TestClient,
                                                         store: Store) -> None:
    hand_over(client, bearer(store, BRIGHTWAY), URSULA.order_id, "Das Ladegerät ist defekt.")
    other = client.get(f"/v1/seller/orders/{URSULA.order_id}/resolution",
                       headers=bearer(store, LICHTWERK))
    unknown = client.get(f"/v1/seller/orders/{NO_SUCH_ORDER_ID}/resolution",
                         headers=bearer(store, LICHTWERK))
    assert other.status_code == unknown.status_code == 404
    assert client.get(f"/v1/seller/orders/{URSULA.order_id}/resolution").status_code == 401


def test_the_portal_shows_the_resolution(client: TestClient, store: Store) -> None:
    hand_over(client, bearer(store, BRIGHTWAY), URSULA.order_id, "Das Ladegerät ist defekt, "
              "ich möchte es zurückgeben.")
    client.cookies.set(COOKIE, issue_token(store, BRIGHTWAY))
    page = client.get(f"/seller/resolution?order_id={URSULA.order_id}")
    assert page.status_code == 200
    assert "returnless_refund" in page.text and "Refunds issued" in page.text
    assert URSULA.customer_email not in page.text and "Lehmann" not in page.text


def test_a_handed_over_partial_problem_decides_the_units_the_customer_names(
        client: TestClient, store: Store) -> None:
    # Two power strips at 24.99 EUR: "one of the two is broken" is one strip, not both.
    order_id = DELIVERED_POWER_STRIPS_DE.order_id
    taken = hand_over(client, bearer(store, LICHTWERK), order_id,
                      "Hallo, eine der zwei Steckdosenleisten ist kaputt angekommen.")
    assert taken.status_code == 201, taken.text
    with store.sessions() as session:
        reply = session.scalars(select(MessageRow)).one().reply
    assert reply is not None and reply["return_decision"]["quantity"] == 1
    assert reply["return_decision"]["refund"] == {"amount": 24.99, "currency": "EUR"}
    # The seller's resolution summary shows the units decided.
    summary = client.get(f"/v1/seller/orders/{order_id}/resolution",
                         headers=bearer(store, LICHTWERK)).json()
    assert summary["decisions"][0]["return_decision"]["quantity"] == 1
