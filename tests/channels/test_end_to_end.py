"""Each channel end to end through the whole server: a customer asks what the product page
cannot answer, a case opens, the seller answers through the portal API, and the customer gets
the answer on the channel they asked on (the outbox worker sending for real: SMTP to a relay
on loopback, the Twilio REST client to a recorder, the chat over its WebSocket)."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import HttpUrl, SecretStr
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from agent.db import Store
from agent.models import CaseRow
from base.settings import Settings
from channels.app import create_app
from knowledge.index import KnowledgeIndex
from portal.auth import issue_token
from tests.conftest import chat_token
from tests.support.mail import MailCatcher
from tests.support.mail_auth import dkim_signed
from tests.support.net import free_port
from tests.support.scenarios import DELIVERED_HEADLAMP_US
from tests.support.twilio import ACCOUNT, RecorderServer, running_recorder

pytestmark = pytest.mark.slow

TOKEN = "e2e-auth-token-0123456789abcdef"
BASE = "http://testserver"
SELLER = "A5RIDGELINE"  # sells the headlamp
ORDER, EMAIL, PHONE = (DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.customer_email,
                      DELIVERED_HEADLAMP_US.phone)
US_LINE, WHATSAPP_LINE = "+12025550100", "whatsapp:+12025550199"
QUESTION = f"Does the headlamp fit on a Petzl bicycle helmet mount? My order is {ORDER}."
ANSWER = "Yes: it fits the Petzl helmet mount with the included adapter plate."


@pytest.fixture()
def recorder() -> Iterator[RecorderServer]:
    with running_recorder() as server:
        yield server


@pytest.fixture()
def server(tmp_path: Path, store: Store, demo_index: KnowledgeIndex, mail_relay: MailCatcher,
           recorder: RecorderServer) -> Iterator[tuple[TestClient, int]]:
    """The whole service with its inbound SMTP server; the outbox is run by the test."""
    smtp_port = free_port()
    settings = Settings(
        data_dir=tmp_path / "data", database_url=str(store.engine.url),
        smtp_url=mail_relay.url, smtp_port=smtp_port, smtp_host="127.0.0.1",
        twilio_account_sid=ACCOUNT, twilio_auth_token=SecretStr(TOKEN),
        public_base_url=HttpUrl(BASE), twilio_api_base=HttpUrl(recorder.url),
        _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, index=demo_index, outbox_worker=False)
    with TestClient(app) as client:
        yield client, smtp_port


def signed(client: TestClient, path: str, params: dict[str, str]) -> Any:
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def seller_answers(client: TestClient, store: Store, case_id: str) -> None:
    """The seller reads the case and answers it through the portal API with its own token."""
    auth = {"Authorization": f"Bearer {issue_token(store, SELLER)}"}
    listed = client.get("/v1/seller/cases", headers=auth)
    assert case_id in [c["id"] for c in listed.json()]
    answered = client.post(f"/v1/seller/cases/{case_id}/answer", headers=auth,
                           json={"answer": ANSWER, "add_to_knowledge": False})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "answered"


def send_outbox(client: TestClient) -> int:
    return int(client.app.state.outbox.run_once())  # type: ignore[attr-defined]


def only_case(store: Store) -> str:
    with store.sessions() as session:
        return session.scalars(select(CaseRow.id)).one()


def test_web_chat(server: tuple[TestClient, int], store: Store) -> None:
    client, _ = server
    with client.websocket_connect("/v1/chat") as ws:
        ws.send_json({"type": "hello", "email": EMAIL, "marketplace": "US", "order_id": ORDER,
                      "identity_token": chat_token(EMAIL)})
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "message", "text": QUESTION, "client_message_id": "q1"})
        assert ws.receive_json()["type"] == "typing"
        reply = ws.receive_json()["reply"]
        assert reply["outcome"] == "escalated" and reply["case_id"] == only_case(store)
        seller_answers(client, store, reply["case_id"])
        assert send_outbox(client) == 2  # the seller's notification, the customer's answer
        follow_up = ws.receive_json()
    assert follow_up["type"] == "follow_up" and follow_up["case_id"] == reply["case_id"]
    assert ANSWER in follow_up["text"]


@pytest.mark.parametrize(("sender", "line"), [(PHONE, US_LINE),
                                              (f"whatsapp:{PHONE}", WHATSAPP_LINE)],
                         ids=["sms", "whatsapp"])
def test_sms_and_whatsapp(server: tuple[TestClient, int], store: Store,
                          recorder: RecorderServer, sender: str, line: str) -> None:
    client, _ = server
    asked = signed(client, "/twilio/messaging", {
        "MessageSid": "SM-e2e-1", "AccountSid": ACCOUNT, "From": sender, "To": line,
        "Body": QUESTION, "NumMedia": "0"})
    assert asked.status_code == 200 and "<Message>" in asked.text
    seller_answers(client, store, only_case(store))
    send_outbox(client)
    [sent] = recorder.recorded
    assert sent.form["To"] == [sender] and sent.form["From"] == [line]
    assert ANSWER in sent.form["Body"][0]


def test_phone_call_answered_by_text_message(server: tuple[TestClient, int], store: Store,
                                             recorder: RecorderServer) -> None:
    client, _ = server
    call = {"CallSid": "CA-e2e-1", "AccountSid": ACCOUNT, "From": PHONE, "To": US_LINE,
            "Caller": PHONE, "Called": US_LINE, "CallStatus": "in-progress",
            "Direction": "inbound"}
    assert signed(client, "/twilio/voice", call).status_code == 200
    said = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=en",
                  {**call, "SpeechResult": QUESTION, "Confidence": "0.9"})
    assert "text message" in said.text.lower() or "sms" in said.text.lower()
    seller_answers(client, store, only_case(store))
    send_outbox(client)
    [sent] = recorder.recorded
    assert sent.form["To"] == [PHONE] and sent.form["From"] == [US_LINE]  # the number called
    assert ANSWER in sent.form["Body"][0]


def test_email(server: tuple[TestClient, int], store: Store, mail_relay: MailCatcher) -> None:
    client, smtp_port = server
    mail = EmailMessage()
    mail["From"], mail["To"] = f"Michael Rodriguez <{EMAIL}>", "service@csba.example"
    mail["Subject"], mail["Message-ID"] = "Headlamp question", "<q1.e2e@example.com>"
    mail.set_content(QUESTION)
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as smtp:  # signed, as Gmail would
        smtp.sendmail(EMAIL, ["service@csba.example"], dkim_signed(mail))
    case_id = only_case(store)
    send_outbox(client)  # the first reply (a case is open) and the seller's notification
    seller_answers(client, store, case_id)
    send_outbox(client)
    to_customer = [m for e, m in mail_relay.received if e.rcpt_tos == [EMAIL]]
    first, answer = to_customer
    assert first["In-Reply-To"] == "<q1.e2e@example.com>"
    assert ANSWER in answer.get_content()
    # The answer lands in the customer's thread: it replies to their mail or to ours.
    assert answer["In-Reply-To"] in {"<q1.e2e@example.com>", first["Message-ID"]}
