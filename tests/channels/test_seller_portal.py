"""The seller portal: token auth, the seller's own cases only, answers relayed, no customer data."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage, Reply
from agent.models import CaseRow, OutboxRow, SellerTokenRow
from agent.records import Customer
from agent.seller_answers import pages_as_indexed
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage
from portal.auth import COOKIE, issue_token, revoke_tokens
from portal.cases import CasePublic
from portal.routers import seller_portal_router
from seller.privacy import redact_customer
from tests.channels import test_web_chat as chat_tests
from tests.conftest import NOW, Say
from tests.support.scenarios import DELIVERED_HEADLAMP_US

pytestmark = pytest.mark.slow

ORDER, EMAIL = DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.customer_email
CUSTOMER_SECRETS = ("Michael", "Rodriguez", EMAIL, DELIVERED_HEADLAMP_US.phone, "720-555-0187")
QUESTION = ("Hi, Michael Rodriguez here, call me on 720-555-0187. Does the headlamp fit on a "
            "Petzl bicycle helmet mount?")
SELLER = "A5RIDGELINE"
OTHER_SELLER = "A3BRIGHTWAY"
NOW_LATER = datetime.fromisoformat("2026-11-25T12:00:00+00:00")
headlamp_index = chat_tests.headlamp_index  # the headlamp page alone, once per module


@pytest.fixture()
def agent(store: Store, headlamp_index: KnowledgeIndex) -> Agent:
    """Overrides the shared agent: the question stays unanswered whatever other tests added
    to the demo index."""
    return Agent(store, headlamp_index, portal_url="http://127.0.0.1:8000/seller")


def portal_client(agent: Agent) -> TestClient:
    app = FastAPI()
    app.include_router(seller_portal_router(agent, clock=lambda: NOW_LATER))
    return TestClient(app)


@pytest.fixture()
def client(agent: Agent) -> Iterator[TestClient]:
    with portal_client(agent) as test_client:
        yield test_client


@pytest.fixture()
def token(store: Store) -> str:
    return issue_token(store, SELLER)


@pytest.fixture()
def case_id(say: Say) -> str:
    reply = say(f"{QUESTION} ({ORDER})", sender=EMAIL)
    assert reply.outcome == "escalated" and reply.case_id
    return reply.case_id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: TestClient, token: str) -> None:
    response = post_sign_in(client, token)
    assert response.status_code == 303 and response.headers["location"] == "/seller/cases"


def post_sign_in(client: TestClient, token: str) -> httpx.Response:
    """The sign-in form as a browser sends it: its CSRF field beside its cookie's twin."""
    form = client.get("/seller", follow_redirects=False)
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', form.text)
    assert found, "the sign-in form carries its CSRF field"
    return client.post("/seller/login", data={"token": token, "csrf": found.group(1)},
                       follow_redirects=False)


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "the answer form carries its CSRF field"
    return found.group(1)


# --- tokens -------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"},
                                     {"Authorization": "Basic dXNlcjpwYXNz"}])
def test_a_missing_or_wrong_token_gets_401(client: TestClient, token: str, case_id: str,
                                           headers: dict[str, str]) -> None:
    for path in ("/v1/seller/cases", f"/v1/seller/cases/{case_id}"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "token" in response.json()["detail"]
    answer = client.post(f"/v1/seller/cases/{case_id}/answer", headers=headers,
                         json={"answer": "Yes."})
    assert answer.status_code == 401


def test_tokens_are_stored_only_as_hashes_and_can_be_revoked(client: TestClient,
                                                             store: Store, token: str) -> None:
    with store.sessions() as s:
        [row] = s.scalars(select(SellerTokenRow))
        assert row.seller_id == SELLER
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert client.get("/v1/seller/cases", headers=bearer(token)).status_code == 200
    assert revoke_tokens(store, SELLER) == 1
    assert client.get("/v1/seller/cases", headers=bearer(token)).status_code == 401


def test_a_token_for_an_unknown_seller_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="no seller 'A0NOBODY'"):
        issue_token(store, "A0NOBODY")


# --- the API ------------------------------------------------------------------------------

def test_the_seller_lists_and_reads_its_cases(client: TestClient, token: str,
                                               case_id: str) -> None:
    [listed] = client.get("/v1/seller/cases", headers=bearer(token)).json()
    assert listed["id"] == case_id and listed["status"] == "awaiting_seller"
    assert set(listed) == set(CasePublic.model_fields)
    assert listed["order_id"] == ORDER and listed["asins"] == ["B0USRL3HL4"]
    assert listed["category"] == "product_question" and "helmet" in listed["question"]
    assert listed["due_at"] == "2026-11-26T10:00:00Z"
    read = client.get(f"/v1/seller/cases/{case_id}", headers=bearer(token)).json()
    assert read == listed
    assert client.get("/v1/seller/cases", headers=bearer(token),
                      params={"status": "answered"}).json() == []
    assert client.get("/v1/seller/cases", headers=bearer(token),
                      params={"status": "lost"}).status_code == 422


def test_case_public_has_no_field_for_the_customer() -> None:
    fields = set(CasePublic.model_fields)
    assert not fields & {"conversation_id", "contact", "transcript", "customer", "email",
                         "phone", "language"}


def test_the_answer_is_relayed_to_the_customer(client: TestClient, store: Store, token: str,
                                               case_id: str) -> None:
    response = client.post(f"/v1/seller/cases/{case_id}/answer", headers=bearer(token),
                           json={"answer": "  Yes, with the Petzl adapter.  "})
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["status"] == "answered" and case["answer"] == "Yes, with the Petzl adapter."
    assert case["answered_at"] == "2026-11-25T12:00:00Z" and case["added_to_knowledge"] is False
    with store.sessions() as s:
        relay = s.scalar(select(OutboxRow).where(OutboxRow.dedupe_key == f"case-answer:{case_id}"))
        assert relay is not None and relay.recipient == EMAIL
        assert relay.channel == "email" and "Petzl adapter" in relay.body
    again = client.post(f"/v1/seller/cases/{case_id}/answer", headers=bearer(token),
                        json={"answer": "Changed my mind."})
    assert again.status_code == 409 and "answered" in again.json()["detail"]


@pytest.mark.parametrize(("body", "field"), [({"answer": ""}, "answer"),
                                             ({"answer": "   "}, "answer"),
                                             ({"answer": "x" * 4001}, "answer"),
                                             ({}, "answer"),
                                             ({"answer": "Yes", "add_to_knowledge": "maybe"},
                                              "add_to_knowledge")])
def test_an_invalid_answer_gets_422_naming_the_field(client: TestClient, store: Store,
                                                     token: str, case_id: str,
                                                     body: dict[str, Any], field: str) -> None:
    response = client.post(f"/v1/seller/cases/{case_id}/answer", headers=bearer(token),
                           json=body)
    assert response.status_code == 422
    assert [e["loc"][-1] for e in response.json()["detail"]] == [field]
    with store.sessions() as s:
        assert s.get_one(CaseRow, case_id).status == "awaiting_seller"


def test_an_unknown_case_is_404(client: TestClient, token: str) -> None:
    assert client.get("/v1/seller/cases/CS-NOPE999", headers=bearer(token)).status_code == 404
    response = client.post("/v1/seller/cases/CS-NOPE999/answer", headers=bearer(token),
                           json={"answer": "Yes."})
    assert response.status_code == 404


def test_a_seller_never_sees_another_sellers_case(client: TestClient, store: Store,
                                                  token: str, case_id: str) -> None:
    other = issue_token(store, OTHER_SELLER)
    assert client.get("/v1/seller/cases", headers=bearer(other)).json() == []
    read = client.get(f"/v1/seller/cases/{case_id}", headers=bearer(other))
    unknown = client.get("/v1/seller/cases/CS-NOPE999", headers=bearer(other))
    assert read.status_code == unknown.status_code == 404
    assert read.json()["detail"].replace(case_id, "X") == \
        unknown.json()["detail"].replace("CS-NOPE999", "X")  # "not yours" reads as "no such"
    answer = client.post(f"/v1/seller/cases/{case_id}/answer", headers=bearer(other),
                         json={"answer": "Not my product."})
    assert answer.status_code == 404
    sign_in(client, other)
    assert client.get(f"/seller/cases/{case_id}").status_code == 404
    assert case_id not in client.get("/seller/cases").text
    with store.sessions() as s:
        assert s.get_one(CaseRow, case_id).status == "awaiting_seller"


def test_a_case_shows_nothing_of_the_customer(client: TestClient, token: str,
                                              case_id: str) -> None:
    seen = [client.get("/v1/seller/cases", headers=bearer(token)).text,
            client.get(f"/v1/seller/cases/{case_id}", headers=bearer(token)).text]
    sign_in(client, token)
    seen += [client.get("/seller/cases").text, client.get(f"/seller/cases/{case_id}").text]
    assert case_id in seen[0] and case_id in seen[3]
    for page in seen:
        for secret in (*CUSTOMER_SECRETS, QUESTION, QUESTION.split(". ")[-1]):
            assert secret not in page
        assert "helmet" in page  # the question itself is there, restated


def test_the_customers_details_are_redacted_from_case_texts() -> None:
    customer = Customer(name="Michael Rodriguez", email="Michael.Rodriguez@example.com",
                        phone=DELIVERED_HEADLAMP_US.phone)
    text = ("words: michael, Rodriguez, MICHAEL.RODRIGUEZ@EXAMPLE.COM, +1 (720) 555-0187, "
            f"720-555-0187; order {ORDER}, 1500 mAh, Michaela")
    assert redact_customer(text, customer) == (
        "words: [customer], [customer], [customer], [customer], [customer]; "
        f"order {ORDER}, 1500 mAh, Michaela")
    assert redact_customer(text, None) == text


def test_expired_cases_show_the_services_decision(client: TestClient, agent: Agent,
                                                  token: str, case_id: str) -> None:
    assert agent.expire_cases(datetime.fromisoformat("2026-11-26T11:00:00+00:00")) == [case_id]
    case = client.get(f"/v1/seller/cases/{case_id}", headers=bearer(token)).json()
    assert case["status"] == "expired" and case["resolution"]["kind"] == "expired"
    assert client.post(f"/v1/seller/cases/{case_id}/answer", headers=bearer(token),
                       json={"answer": "Late."}).status_code == 409
    sign_in(client, token)
    html = client.get(f"/seller/cases/{case_id}").text
    assert "Decided by the service" in html and 'name="answer"' not in html


# --- consent: the answer becomes knowledge ----------------------------------------------------

@pytest.fixture()
def own_index_agent(store: Store, index: KnowledgeIndex,
                    demo_pages: list[ProductPage]) -> Agent:
    """A per-test index: the answer added here reaches no other test."""
    index.sync([p for p in demo_pages if p.asin == "B0USRL3HL4"])
    return Agent(store, index, portal_url="http://127.0.0.1:8000/seller")


def ask(agent: Agent, text: str, message_id: str) -> Reply:
    return agent.handle(InboundMessage(
        channel="email", sender=EMAIL, text=f"{text} ({ORDER})",
        verified_contact=EMAIL,
        thread_key=message_id, received_at=datetime.fromisoformat(NOW),
        provider_message_id=message_id))


def test_with_consent_the_answer_becomes_product_knowledge(own_index_agent: Agent,
                                                            store: Store) -> None:
    agent, token = own_index_agent, issue_token(store, SELLER)
    first = ask(agent, QUESTION, "m-1")
    assert first.case_id
    with portal_client(agent) as client:
        sign_in(client, token)
        page = client.get(f"/seller/cases/{first.case_id}").text
        assert "Add this answer to the product page knowledge" in page
        response = client.post(f"/seller/cases/{first.case_id}/answer", data={
            "answer": "Yes, it fits the Petzl helmet mount with the included adapter.",
            "add_to_knowledge": "1", "csrf": form_csrf(page)}, follow_redirects=False)
        assert response.status_code == 303
        confirmed = client.get(response.headers["location"]).text
        assert "your answer was sent to the customer and added to the product page" in confirmed
    page_after = store.page("B0USRL3HL4", "US")
    assert page_after is not None
    indexed = pages_as_indexed(store, [page_after])[0]  # its own table, joined when indexed
    assert dict(indexed.fields())["seller_answers[0]"].startswith("Yes, it fits the Petzl")
    later = ask(agent, "Does the headlamp fit a Petzl helmet mount?", "m-2")
    assert later.outcome == "answered" and later.case_id is None
    assert "seller_answer" in [c.kind for c in later.citations]


def test_without_consent_the_page_is_unchanged(client: TestClient, store: Store, token: str,
                                               case_id: str) -> None:
    before = store.page("B0USRL3HL4", "US")
    client.post(f"/v1/seller/cases/{case_id}/answer", headers=bearer(token),
                json={"answer": "Yes, with the adapter.", "add_to_knowledge": False})
    assert store.page("B0USRL3HL4", "US") == before


# --- the pages ----------------------------------------------------------------------------

def test_pages_without_a_valid_cookie_go_to_the_sign_in_form(client: TestClient,
                                                             case_id: str) -> None:
    for path in ("/seller/cases", f"/seller/cases/{case_id}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/seller"
    client.cookies.set(COOKIE, "forged", path="/seller")
    assert client.get("/seller/cases", follow_redirects=False).status_code == 303
    form = client.get("/seller")
    assert form.status_code == 200 and 'name="token"' in form.text
    wrong = post_sign_in(client, "guess")
    assert wrong.status_code == 401 and "not valid" in wrong.text


def test_sign_in_sets_a_strict_http_only_cookie(client: TestClient, token: str) -> None:
    response = post_sign_in(client, token)
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith(f"{COOKIE}=")).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/seller" in cookie
    assert client.get("/seller", follow_redirects=False).headers["location"] == "/seller/cases"
    client.post("/seller/logout")
    assert client.get("/seller/cases", follow_redirects=False).status_code == 303


def test_the_case_table_shows_status_and_due_time(client: TestClient, token: str,
                                                  case_id: str) -> None:
    sign_in(client, token)
    html = client.get("/seller/cases").text
    assert f'href="/seller/cases/{case_id}"' in html
    assert '<span class="badge awaiting_seller">awaiting your answer</span>' in html
    assert "2026-11-26 10:00 UTC" in html and "in 22 h" in html
    assert "1 awaiting your answer" in html


def test_answering_by_the_form_relays_and_confirms(client: TestClient, store: Store,
                                                   token: str, case_id: str) -> None:
    sign_in(client, token)
    page = client.get(f"/seller/cases/{case_id}").text
    assert 'type="checkbox" name="add_to_knowledge"' in page
    response = client.post(f"/seller/cases/{case_id}/answer", follow_redirects=False, data={
        "answer": "Yes <b>really</b>, with the adapter.", "csrf": form_csrf(page)})
    assert response.status_code == 303
    assert response.headers["location"] == f"/seller/cases/{case_id}?answered=1"
    html = client.get(response.headers["location"]).text
    assert "your answer was sent to the customer." in html
    assert "Yes &lt;b&gt;really&lt;/b&gt;" in html and "<b>really</b>" not in html
    with store.sessions() as s:
        case = s.get_one(CaseRow, case_id)
        assert case.status == "answered" and case.add_to_knowledge is False
        assert s.scalar(select(OutboxRow).where(
            OutboxRow.dedupe_key == f"case-answer:{case_id}")) is not None
    again = client.post(f"/seller/cases/{case_id}/answer", data={
        "answer": "Again", "csrf": form_csrf(page)})
    assert again.status_code == 409 and "can no longer be answered" in again.text


@pytest.mark.parametrize(("answer", "status", "message"), [
    ("   ", 422, "Write an answer before sending."),
    ("x" * 4001, 422, "at most 4000"),
])
def test_a_bad_form_answer_shows_the_problem(client: TestClient, store: Store, token: str,
                                             case_id: str, answer: str, status: int,
                                             message: str) -> None:
    sign_in(client, token)
    page = client.get(f"/seller/cases/{case_id}").text
    response = client.post(f"/seller/cases/{case_id}/answer",
                           data={"answer": answer, "csrf": form_csrf(page)})
    assert response.status_code == status and message in response.text
    with store.sessions() as s:
        assert s.get_one(CaseRow, case_id).status == "awaiting_seller"


def test_a_form_without_its_csrf_field_is_refused(client: TestClient, store: Store,
                                                  token: str, case_id: str) -> None:
    sign_in(client, token)
    response = client.post(f"/seller/cases/{case_id}/answer",
                           data={"answer": "Yes.", "csrf": "0" * 64})
    assert response.status_code == 403
    with store.sessions() as s:
        assert s.get_one(CaseRow, case_id).status == "awaiting_seller"


def test_the_openapi_schema_names_the_bearer_scheme(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/v1/seller/cases/{case_id}/answer" in schema["paths"]
    assert json.dumps(schema["components"]["securitySchemes"]).count("bearer") >= 1
    assert "conversation_id" not in json.dumps(schema["components"]["schemas"]["CasePublic"])
