"""The web chat as its clients see it: the JSON API, the page's WebSocket, later replies."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from langchain_core.embeddings import Embeddings
from sqlalchemy import func, select

from agent.core import Agent
from agent.db import Store
from agent.messages import Citation
from agent.models import ConversationRow, MessageRow, OutboxRow
from base.settings import Settings
from channels.base import Delivery, MessageHandler
from channels.chat_strings import STRINGS_FILE, strings_for
from channels.citations import label as citation_label
from channels.email_out import SmtpSender
from channels.web_chat import SECRET_HEADER, NotConnected, WebChatChannel
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage
from tests.conftest import CHAT_IDENTITY_SECRET, NOW, chat_token
from tests.contracts.channel import Answer, ChannelContract, Mount
from tests.support.index import index_of
from tests.support.mail import MailCatcher
from tests.support.scenarios import DELIVERED_HEADLAMP_US

pytestmark = pytest.mark.slow

ORDER, EMAIL = DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.customer_email
HEADLAMP = "B0USRL3HL4"
WEIGHT = "How much does the headlamp weigh?"
UNANSWERED = "Does the headlamp fit on a Petzl bicycle helmet mount?"  # the page does not say
# The host site's signed login of the headlamp's buyer.
CUSTOMER = {"email": EMAIL, "marketplace": "US", "order_id": ORDER,
            "identity_token": chat_token(EMAIL)}
SECRETS: dict[str, str] = {}  # conversation id -> its secret, as a client keeps it


@pytest.fixture(scope="module")
def headlamp_index(tmp_path_factory: pytest.TempPathFactory, embeddings: Embeddings,
                   demo_pages: list[ProductPage]) -> Iterator[KnowledgeIndex]:
    """The headlamp page alone: what sellers added to the shared demo index in other tests
    cannot answer the question these tests need unanswered."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("headlamp"), _env_file=None)  # type: ignore[call-arg]
    with index_of(settings, embeddings, demo_pages, {HEADLAMP}) as opened:
        yield opened


@pytest.fixture()
def headlamp_agent(store: Store, headlamp_index: KnowledgeIndex) -> Agent:
    return Agent(store, headlamp_index, portal_url="http://127.0.0.1:8000/seller")


@pytest.fixture()
def chat(store: Store, mail_relay: MailCatcher) -> WebChatChannel:
    return WebChatChannel(store, mail=SmtpSender(mail_relay.url),
                          clock=lambda: datetime.fromisoformat(NOW),
                          identity_secret=CHAT_IDENTITY_SECRET)


@pytest.fixture()
def client(chat: WebChatChannel, headlamp_agent: Agent) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(chat.router(headlamp_agent.handle))
    with TestClient(app) as test_client:
        yield test_client


def start(client: TestClient, **body: Any) -> str:
    response = client.post("/v1/conversations", json=body)
    assert response.status_code == 201, response.text
    key = str(response.json()["conversation_id"])
    SECRETS[key] = response.json()["conversation_secret"]
    return key


def secret(key: str) -> dict[str, str]:
    return {SECRET_HEADER: SECRETS.get(key, "not-the-secret")}


def post(client: TestClient, key: str, text: str, client_id: str = "m1") -> Any:
    return client.post(f"/v1/conversations/{key}/messages", headers=secret(key),
                       json={"text": text, "client_message_id": client_id})


def message_count(store: Store) -> int:
    with store.sessions() as s:
        return s.scalar(select(func.count()).select_from(MessageRow)) or 0


def field_named(response: Any) -> list[str]:
    return [str(error["loc"][-1]) for error in response.json()["detail"]]


# --- the JSON API ---------------------------------------------------------------------------

def test_a_conversation_starts_with_an_opaque_key_and_keeps_the_identity(
        client: TestClient, store: Store) -> None:
    response = client.post("/v1/conversations", json=CUSTOMER)
    body = response.json()
    assert response.status_code == 201
    assert body["identified"] is True and body["marketplace"] == "US"
    key = body["conversation_id"]
    assert len(key) >= 32 and EMAIL not in key
    assert len(body["conversation_secret"]) >= 40 and body["conversation_secret"] != key
    assert start(client) != key  # every conversation gets its own random key
    with store.sessions() as s:
        conv = s.scalar(select(ConversationRow).where(ConversationRow.thread_key == key))
        assert conv is not None and conv.channel == "chat" and conv.contact == EMAIL
        assert conv.verified_contact == EMAIL
        assert body["conversation_secret"] not in str(conv.state)  # only its hash is kept


def test_a_message_gets_the_reply_contract_with_citations(client: TestClient,
                                                           store: Store) -> None:
    key = start(client, **CUSTOMER)
    response = post(client, key, WEIGHT)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["conversation_id"] == key
    assert reply["outcome"] == "answered" and reply["language"] == "en"
    assert "attributes.item_weight" in [c["field"] for c in reply["citations"]]
    assert set(reply) >= {"text", "intent", "return_decision", "case_id", "redirect"}
    with store.sessions() as s:
        [row] = s.scalars(select(MessageRow))
        assert row.provider_message_id == f"{key}:m1" and row.channel == "chat"


def test_without_an_identity_the_order_stays_undisclosed(client: TestClient) -> None:
    key = start(client, marketplace="US")
    reply = post(client, key, f"Where is my order {ORDER}?").json()
    assert reply["outcome"] == "needs_info"
    assert "USPS" not in reply["text"] and not reply["citations"]


def test_a_retry_with_the_same_client_message_id_is_answered_once(
        client: TestClient, store: Store) -> None:
    key = start(client, **CUSTOMER)
    first = post(client, key, WEIGHT, "retry-1").json()
    again = post(client, key, WEIGHT, "retry-1").json()
    assert again == first and message_count(store) == 1
    reused = post(client, key, "Something else entirely", "retry-1")
    assert reused.status_code == 409 and "client_message_id" in reused.json()["detail"]
    assert message_count(store) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"text": "", "client_message_id": "a"}, "text"),
    ({"text": "   ", "client_message_id": "a"}, "text"),
    ({"text": "x" * 4001, "client_message_id": "a"}, "text"),
    ({"text": "hello"}, "client_message_id"),
    ({"text": "hello", "client_message_id": ""}, "client_message_id"),
    ({"text": "hello", "client_message_id": "x" * 101}, "client_message_id"),
    ({"text": "hello", "client_message_id": "a b"}, "client_message_id"),
])
def test_invalid_messages_get_422_naming_the_field_and_store_nothing(
        client: TestClient, store: Store, body: dict[str, str], field: str) -> None:
    key = start(client, **CUSTOMER)
    response = client.post(f"/v1/conversations/{key}/messages", json=body,
                           headers=secret(key))
    assert response.status_code == 422
    assert field_named(response) == [field]
    assert message_count(store) == 0


def test_a_message_of_4000_characters_is_accepted(client: TestClient) -> None:
    key = start(client, **CUSTOMER)
    assert post(client, key, ("Where is my parcel? " * 200)[:4000]).status_code == 200


@pytest.mark.parametrize("body", [{"email": "not-an-address"}, {"marketplace": "XX"},
                                  {"order_id": "12345"}, {"colour": "blue"}])
def test_invalid_conversation_starts_get_422(client: TestClient,
                                             body: dict[str, str]) -> None:
    response = client.post("/v1/conversations", json=body)
    assert response.status_code == 422 and field_named(response) == list(body)


def test_a_failed_turn_answers_503_and_the_retry_processes_the_stored_message(
        client: TestClient, headlamp_agent: Agent, store: Store,
        monkeypatch: pytest.MonkeyPatch) -> None:
    turn, failures = headlamp_agent._turn, [RuntimeError("model unavailable")]

    def flaky(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return turn(*args)

    monkeypatch.setattr(headlamp_agent, "_turn", flaky)
    key = start(client, **CUSTOMER)
    failed = post(client, key, WEIGHT)
    assert failed.status_code == 503 and "same client_message_id" in failed.json()["detail"]
    assert int(failed.headers["Retry-After"]) > 0
    assert message_count(store) == 1  # stored before answering: nothing is lost
    retried = post(client, key, WEIGHT)
    assert retried.status_code == 200 and retried.json()["outcome"] == "answered"
    assert message_count(store) == 1


def test_history_lists_messages_and_replies(client: TestClient) -> None:
    key = start(client, **CUSTOMER)
    reply = post(client, key, WEIGHT).json()
    [item] = client.get(f"/v1/conversations/{key}/messages", headers=secret(key)).json()
    assert item["text"] == WEIGHT and item["client_message_id"] == "m1"
    assert item["reply"] == reply


def test_the_product_page_behind_a_citation(client: TestClient) -> None:
    page = client.get(f"/v1/knowledge/pages/{HEADLAMP}").json()
    assert page["asin"] == HEADLAMP and page["fields"]["attributes.item_weight"]
    assert client.get(f"/v1/knowledge/pages/{HEADLAMP}", params={"marketplace": "DE"}
                      ).status_code == 404
    assert client.get("/v1/knowledge/pages/short").status_code == 422


def test_citations_carry_a_readable_label_and_link(client: TestClient) -> None:
    key = start(client, **CUSTOMER)
    reply = post(client, key, WEIGHT).json()
    [weight] = [c for c in reply["citations"] if c["field"] == "attributes.item_weight"]
    assert weight["kind"] == "product_page" and weight["asin"] == HEADLAMP  # kept as it was
    assert weight["label"] == "Product page: Technical details · Item weight"
    assert weight["href"] == (f"/cited/product/{HEADLAMP}?field=attributes.item_weight"
                              "&lang=en")
    view = client.get(weight["href"])
    assert view.status_code == 200 and view.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in view.text and "Technical details · Item weight" in view.text
    page = client.get(f"/v1/knowledge/pages/{HEADLAMP}").json()
    assert page["title"] in view.text
    assert page["fields"]["attributes.item_weight"] in view.text
    [item] = client.get(f"/v1/conversations/{key}/messages", headers=secret(key)).json()
    assert item["reply"]["citations"] == reply["citations"]  # the same labels after a reload


@pytest.mark.parametrize(("citation", "lang", "label"), [
    (Citation(kind="product_page", asin=HEADLAMP, field="attributes.item_weight", text="1"),
     "de", "Produktseite: Technische Daten · Artikelgewicht"),
    (Citation(kind="product_page", asin=HEADLAMP, field="bullet_points[4]",
              text="Bis zu 40 Stunden Laufzeit mit dem wiederaufladbaren Akku"),
     "de", "Produktseite: „Bis zu 40 Stunden Laufzeit mit dem…“"),
    (Citation(kind="product_page", asin=HEADLAMP, field="bullet_points[4]", text=""),
     "de", "Produktseite: Aufzählungspunkt 5"),
    (Citation(kind="product_page", asin=HEADLAMP, field="description[1]", text="x"),
     "es", "Página del producto: Descripción, párrafo 2"),
    (Citation(kind="policy", rule="DE.domestic.seller_pays", text="x"),
     "de", "Rückgaberichtlinie"),
    (Citation(kind="policy", rule="ES.window.30d", text="x"), "es",
     "Política de devoluciones"),
    (Citation(kind="policy", rule="DE.domestic.seller_pays", text="x"), "en",
     "Returns policy"),
    (Citation(kind="order", order_id=ORDER, field="tracking.carrier", text="x"), "de",
     "Ihre Bestellung: Sendungsverfolgung"),
])
def test_citation_labels_read_in_the_pages_language(citation: Citation, lang: str,
                                                    label: str) -> None:
    assert citation_label(citation, lang) == label


def test_a_cited_policy_rule_reads_in_plain_words(client: TestClient) -> None:
    view = client.get("/cited/policy/DE.domestic.seller_pays", params={"lang": "de"})
    assert view.status_code == 200 and '<html lang="de">' in view.text
    assert "Rückgaberichtlinie" in view.text and "trägt der Verkäufer" in view.text
    assert "seller_pays" not in view.text.split("<body>")[1]
    window = client.get("/cited/policy/ES.window.30d", params={"lang": "es"}).text
    assert "30 días siguientes a la entrega" in window
    assert '<html lang="en">' in client.get("/cited/policy/DE.window.30d",
                                            params={"lang": "xx"}).text
    assert client.get("/cited/policy/..%2Fetc").status_code in {404, 422}


def test_a_cited_bullet_point_shows_the_product_and_its_text(client: TestClient) -> None:
    page = client.get(f"/v1/knowledge/pages/{HEADLAMP}").json()
    view = client.get(f"/cited/product/{HEADLAMP}",
                      params={"field": "bullet_points[0]", "lang": "de"})
    assert view.status_code == 200 and "Produktseite: Aufzählungspunkt 1" in view.text
    assert page["title"] in view.text and page["bullet_points"][0] in view.text
    gone = client.get(f"/cited/product/{HEADLAMP}", params={"field": "bullet_points[99]",
                                                            "lang": "es"})
    assert gone.status_code == 404 and "ya no está disponible" in gone.text


def test_the_chat_page_is_served(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/html")
    assert "/v1/chat" in response.text and "sessionStorage" in response.text


@pytest.mark.parametrize(("marketplace", "lang", "shown"), [
    ("DE", "de", ["Ihre Frage…", ">Senden<", "Neues Gespräch", "Ihre E-Mail-Adresse"]),
    ("es", "es", ["Escriba su pregunta…", ">Enviar<", "Nueva conversación"]),
    ("FR", "fr", ["Saisissez votre question…", ">Envoyer<"]),
    ("IT", "it", ["Scrivi la tua domanda…", ">Invia<"]),
    ("UK", "en", ["Type your question…", ">Send<"]),
    ("JP", "en", ["Type your question…"]),  # no Japanese table: English
    ("XX", "en", ["Type your question…"]),
    (None, "en", ["Type your question…"]),
])
def test_the_chat_page_speaks_the_marketplaces_language(
        client: TestClient, marketplace: str | None, lang: str, shown: list[str]) -> None:
    response = client.get("/", params={"marketplace": marketplace} if marketplace else {})
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in response.text
    for text in shown:
        assert text in response.text
    strings = re.search(r'<script type="application/json" id="strings">(.*?)</script>',
                        response.text)
    assert strings is not None and json.loads(strings.group(1)) == strings_for(lang)
    if marketplace in {"DE", "es"}:  # the store is chosen for the customer
        assert (f'<option data-lang="{lang}" selected>{marketplace.upper()}</option>'
                in response.text)
        assert "Type your question" not in response.text


def test_every_language_has_every_string_of_the_page() -> None:
    english = set(strings_for("en"))
    table = json.loads(STRINGS_FILE.read_text("utf-8"))
    assert set(table) == {"de", "en", "es", "fr", "it"}
    for language, strings in table.items():
        assert set(strings) == english, language
        for key, text in strings.items():  # the same places to fill in as the English
            assert re.findall(r"{\w+}", text) == re.findall(r"{\w+}", table["en"][key])


class TestWebChatContract(ChannelContract):
    """The chat's credential is the random secret a client gets with its conversation from
    ``POST /v1/conversations``: a forged id or secret is refused (404) and writes nothing."""

    refused_status = 404

    @pytest.fixture()
    def mount(self, chat: WebChatChannel) -> Mount:
        def mounted(handle: MessageHandler) -> TestClient:
            app = FastAPI()
            app.include_router(chat.router(handle))
            return TestClient(app)
        return mounted

    # pytest makes one instance per test: the key is per test, the lock may be shared.
    _key: str | None = None
    _starting = threading.Lock()

    def key(self, client: TestClient) -> str:
        with self._starting:  # concurrent deliveries share the conversation they arrive in
            if self._key is None:
                self._key = start(client, **CUSTOMER)
            return self._key

    def prepare(self, client: TestClient) -> None:
        self.key(client)

    def deliver(self, client: TestClient, text: str, provider_id: str) -> Answer:
        return post(client, self.key(client), text, provider_id)

    def forged(self, client: TestClient, text: str, provider_id: str) -> list[Answer]:
        return [post(client, "forged-key-000000000000000000000", text, provider_id),
                post(client, "", text, provider_id)]

    def empty(self, client: TestClient) -> Answer:
        return post(client, self.key(client), "")

    def oversized(self, client: TestClient) -> Answer:
        return post(client, self.key(client), "x" * 4001)

    def test_refusals_say_precisely_why(self, client: TestClient, store: Store) -> None:
        forged = post(client, "forged-key-000000000000000000000", WEIGHT)
        assert "POST /v1/conversations" in forged.text
        for text in ("", "x" * 4001):
            response = self.deliver(client, text, "m-bad")
            assert response.status_code == 422
            [error] = response.json()["detail"]
            assert error["loc"] == ["body", "text"] and "character" in error["msg"]
        assert message_count(store) == 0


# --- the WebSocket --------------------------------------------------------------------------

def hello(ws: Any, **fields: Any) -> dict[str, Any]:
    if fields.get("conversation_id") in SECRETS:  # the page resumes with the secret it kept
        fields["conversation_secret"] = SECRETS[fields["conversation_id"]]
    ws.send_json({"type": "hello", **fields})
    ready: dict[str, Any] = ws.receive_json()
    assert ready["type"] == "ready", ready
    if ready["conversation_secret"]:
        SECRETS[ready["conversation_id"]] = ready["conversation_secret"]
    return ready


def test_the_socket_sends_typing_then_the_reply(client: TestClient) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        ready = hello(ws, **CUSTOMER)
        assert ready["resumed"] is False and ready["history"] == []
        assert ready["language"] == "en"  # the US store's page
        ws.send_json({"type": "message", "text": WEIGHT, "client_message_id": "w1"})
        assert ws.receive_json() == {"type": "typing", "client_message_id": "w1"}
        frame = ws.receive_json()
        assert frame["type"] == "reply" and frame["client_message_id"] == "w1"
        assert frame["reply"]["conversation_id"] == ready["conversation_id"]
        assert "attributes.item_weight" in [c["field"] for c in frame["reply"]["citations"]]


def test_a_reconnect_resumes_the_conversation(client: TestClient) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        key = hello(ws, **CUSTOMER)["conversation_id"]
        ws.send_json({"type": "message", "text": WEIGHT, "client_message_id": "w1"})
        ws.receive_json()
        reply = ws.receive_json()["reply"]
    with client.websocket_connect("/v1/chat") as ws:
        ready = hello(ws, conversation_id=key)
        assert ready["resumed"] is True and ready["conversation_id"] == key
        [item] = ready["history"]
        assert (item["text"], item["client_message_id"]) == (WEIGHT, "w1")
        assert item["reply"] == reply
        # The page resends what had no reply yet with its id: the stored reply comes back.
        ws.send_json({"type": "message", "text": WEIGHT, "client_message_id": "w1"})
        ws.receive_json()
        assert ws.receive_json()["reply"] == reply


def test_the_ready_frame_names_the_pages_language(client: TestClient) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        assert hello(ws, marketplace="DE")["language"] == "de"
    with client.websocket_connect("/v1/chat") as ws:
        assert hello(ws)["language"] == "en"


def test_an_unknown_conversation_key_starts_afresh(client: TestClient) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        ready = hello(ws, conversation_id="gone-after-a-server-reset", marketplace="US")
        assert ready["resumed"] is False
        assert ready["conversation_id"] != "gone-after-a-server-reset"


def test_resuming_needs_the_conversations_secret(client: TestClient) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        key = hello(ws, **CUSTOMER)["conversation_id"]
        ws.send_json({"type": "message", "text": WEIGHT, "client_message_id": "w1"})
        ws.receive_json()
        ws.receive_json()
    with client.websocket_connect("/v1/chat") as ws:
        ws.send_json({"type": "hello", "conversation_id": key, "conversation_secret": "guess"})
        ready = ws.receive_json()
        assert ready["resumed"] is False and ready["conversation_id"] != key
        assert ready["history"] == []


@pytest.mark.parametrize(("frame", "code", "reason"), [
    ("not json", 1007, "frames must be JSON objects"),
    ("[" * 5000, 1007, "nested too deeply"),
    ("x" * 20_000, 1009, "frame too large"),
    ("binary", 1007, "frames must be text"),
])
def test_malformed_frames_close_the_socket_saying_why(
        client: TestClient, store: Store, frame: str, code: int, reason: str) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        key = hello(ws, **CUSTOMER)["conversation_id"]
        ws.send_json({"type": "message", "text": WEIGHT, "client_message_id": "kept"})
        ws.receive_json()
        ws.receive_json()
        if frame == "binary":
            ws.send_bytes(b'{"type": "message"}')
        else:
            ws.send_text(frame)
        closed = ws.receive()
        assert closed["type"] == "websocket.close" and closed["code"] == code
        assert reason in closed["reason"]
    assert message_count(store) == 1  # what was stored stays, and the page resumes it
    with client.websocket_connect("/v1/chat") as ws:
        assert hello(ws, conversation_id=key)["resumed"] is True


@pytest.mark.parametrize(("frame", "error"), [
    ("[1, 2]", "unknown frame type None"),
    ('{"type": "bye"}', "unknown frame type 'bye'"),
    ('{"type": "message", "text": "", "client_message_id": "e1"}', "text: String should have"),
    ('{"type": "message", "text": "hi"}', "client_message_id: Field required"),
    ('{"type": "hello"}', "already has a conversation"),
])
def test_bad_frames_get_a_precise_error_and_the_socket_stays_open(
        client: TestClient, store: Store, frame: str, error: str) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        hello(ws, **CUSTOMER)
        ws.send_text(frame)
        answer = ws.receive_json()
        assert answer["type"] == "error" and error in answer["message"], answer
        assert message_count(store) == 0
        ws.send_json({"type": "message", "text": WEIGHT, "client_message_id": "after"})
        assert ws.receive_json()["type"] == "typing"
        assert ws.receive_json()["type"] == "reply"


def test_a_message_before_hello_is_refused(client: TestClient, store: Store) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        ws.send_json({"type": "message", "text": WEIGHT, "client_message_id": "early"})
        assert ws.receive_json() == {"type": "error", "message": "send a 'hello' frame first",
                                     "code": "no_hello", "client_message_id": "early"}
        ws.send_json({"type": "hello", "email": "not an address"})
        refused = ws.receive_json()
        assert "email: String should match pattern" in refused["message"]
        assert refused["code"] == "invalid_email"  # what the page words for its customer
    assert message_count(store) == 0


@pytest.mark.parametrize(("frame", "code"), [
    ({"type": "message", "text": "", "client_message_id": "c1"}, "text_empty"),
    ({"type": "message", "text": "x" * 4001, "client_message_id": "c1"}, "text_too_long"),
    ({"type": "message", "text": "hi", "client_message_id": "a b"}, "invalid_frame"),
    ({"type": "bye"}, "invalid_frame"),
])
def test_error_frames_carry_a_code_the_page_has_words_for(
        client: TestClient, frame: dict[str, str], code: str) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        hello(ws, **CUSTOMER)
        ws.send_json(frame)
        answer = ws.receive_json()
        assert answer["type"] == "error" and answer["code"] == code, answer


def test_a_failed_turn_over_the_socket_says_not_answered_and_may_be_retried(
        client: TestClient, headlamp_agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    turn, failures = headlamp_agent._turn, [RuntimeError("model unavailable")]

    def flaky(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return turn(*args)

    monkeypatch.setattr(headlamp_agent, "_turn", flaky)
    with client.websocket_connect("/v1/chat") as ws:
        hello(ws, **CUSTOMER)
        ws.send_json({"type": "message", "text": WEIGHT, "client_message_id": "f1"})
        assert ws.receive_json()["type"] == "typing"
        failed = ws.receive_json()
        assert failed["code"] == "not_answered" and failed["retry"] is True
        ws.send_json({"type": "message", "text": WEIGHT, "client_message_id": "f1"})
        assert ws.receive_json()["type"] == "typing"
        assert ws.receive_json()["type"] == "reply"


# --- later replies --------------------------------------------------------------------------

def seller_answer(client: TestClient, agent: Agent, store: Store, key: str) -> OutboxRow:
    """Open a case from the chat and answer it as the seller: the follow-up to deliver."""
    case_id = post(client, key, UNANSWERED, "case-1").json()["case_id"]
    assert case_id
    agent.answer_case(case_id, "A5RIDGELINE", "Yes, with the Petzl adapter.",
                      add_to_knowledge=False, now=datetime.fromisoformat(NOW))
    with store.sessions() as s:
        row = s.scalar(select(OutboxRow).where(OutboxRow.dedupe_key == f"case-answer:{case_id}"))
        assert row is not None and row.channel == "chat"
        return row


def test_a_later_reply_is_pushed_to_the_open_socket(client: TestClient, chat: WebChatChannel,
                                                    headlamp_agent: Agent, store: Store,
                                                    mail_relay: MailCatcher) -> None:
    with client.websocket_connect("/v1/chat") as ws:
        key = hello(ws, **CUSTOMER)["conversation_id"]
        row = seller_answer(client, headlamp_agent, store, key)
        chat.send(Delivery.of(row))
        frame = ws.receive_json()
        assert frame["type"] == "follow_up" and frame["id"] == row.id
        assert "Petzl adapter" in frame["text"] and frame["case_id"]
    assert mail_relay.messages == []  # pushed, not mailed
    with client.websocket_connect("/v1/chat") as ws:  # and still there after a reload
        history = hello(ws, conversation_id=key)["history"]
        assert [i["id"] for i in history if i["type"] == "follow_up"] == [row.id]


def test_a_disconnected_customer_with_an_email_gets_it_by_email(
        client: TestClient, chat: WebChatChannel, headlamp_agent: Agent, store: Store,
        mail_relay: MailCatcher) -> None:
    key = start(client, **CUSTOMER)
    row = seller_answer(client, headlamp_agent, store, key)
    chat.send(Delivery.of(row))
    [mail] = mail_relay.messages
    assert mail["To"] == EMAIL and "Petzl adapter" in mail.get_payload()


def test_a_disconnected_anonymous_customer_makes_the_outbox_retry(
        client: TestClient, chat: WebChatChannel, headlamp_agent: Agent, store: Store,
        mail_relay: MailCatcher) -> None:
    key = start(client, marketplace="US")
    post(client, key, f"My order is {ORDER}, my email {EMAIL}", "id-1")
    with store.sessions() as s:  # the code went to the order's own address; typed back here
        code = s.scalar(select(OutboxRow.body).where(OutboxRow.recipient == EMAIL))
    found = re.search(r"\b\d{6}\b", code or "")
    assert found is not None
    assert post(client, key, found.group(), "id-2").json()["outcome"] == "answered"
    row = seller_answer(client, headlamp_agent, store, key)
    assert row.recipient == key
    with pytest.raises(NotConnected):
        chat.send(Delivery.of(row))
    assert mail_relay.messages == []
