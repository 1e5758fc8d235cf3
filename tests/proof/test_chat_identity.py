"""Chat customers, through a real server over HTTP, SMTP and a WebSocket: a typed address
proves nothing, a host site's signed login does; an order number alone unlocks nothing and
tells nothing (an unknown order and someone else's get the same answer); a one-time code sent
to the order's own address proves it; guesses are limited per client; a transcript needs its
conversation's secret; a malformed WebSocket frame gets a close frame saying why.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from agent.db import Store
from base.settings import Settings
from channels.app import create_app
from channels.chat_identity import sign_identity
from knowledge.index import KnowledgeIndex
from tests.conftest import NOW
from tests.proof.conftest import proof_settings
from tests.support.identity import chat_token
from tests.support.mail import MailCatcher
from tests.support.net import serving_in_thread
from tests.support.scenarios import CN_LOW_VALUE_CABLES_ES, DELIVERED_HEADLAMP_US

pytestmark = pytest.mark.slow

# Demo orders: Raúl's one order (delivered 7 November), and the headlamp of another customer.
RAUL = CN_LOW_VALUE_CABLES_ES
HEADLAMP = DELIVERED_HEADLAMP_US
NO_SUCH_ORDER = "171-0000000-0000001"
SECRET_HEADER = "X-Conversation-Secret"
CODE = re.compile(r"\b\d{6}\b")


class SettableClock:
    """The service's clock, moved by the test (a code's expiry), never by sleeping."""

    def __init__(self) -> None:
        self.now = datetime.fromisoformat(NOW)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Live:
    url: str
    clock: SettableClock
    settings: Settings
    app: Any

    def send_outbox(self) -> int:
        return int(self.app.state.outbox.run_once(self.clock()))


@pytest.fixture()
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def live_server(tmp_path: Path, store: Store, index: KnowledgeIndex, relay: MailCatcher,
                **overrides: object) -> Iterator[Live]:
    """The whole service as ``csba serve`` builds it, served by uvicorn on loopback, its
    chat limits as shipped unless a test says otherwise."""
    values: dict[str, object] = {"chat_start_limit": Settings.model_fields[
        "chat_start_limit"].default, "chat_message_limit": Settings.model_fields[
        "chat_message_limit"].default, "smtp_url": relay.url}
    values.update(overrides)
    settings = proof_settings(tmp_path, store, **values)
    clock = SettableClock()
    settings.__dict__["clock"] = clock  # the settings' one clock, before anything reads it
    app = create_app(settings, index=index, smtp_server=False, outbox_worker=False)
    with serving_in_thread(app, log_level="info", lifespan="on") as url:
        yield Live(url, clock, settings, app)


@pytest.fixture()
def live(tmp_path: Path, store: Store, demo_index: KnowledgeIndex,
         mail_relay: MailCatcher) -> Iterator[Live]:
    yield from live_server(tmp_path, store, demo_index, mail_relay)


def start(live: Live, **body: Any) -> tuple[str, dict[str, str]]:
    made = httpx.post(f"{live.url}/v1/conversations", json=body, timeout=30)
    assert made.status_code == 201, made.text
    # .get: on a server without secrets the suite still reaches what it proves.
    return made.json()["conversation_id"], {SECRET_HEADER: made.json().get(
        "conversation_secret", "none")}


def say(live: Live, chat: tuple[str, dict[str, str]], text: str, n: int) -> dict[str, Any]:
    key, secret = chat
    answer = httpx.post(f"{live.url}/v1/conversations/{key}/messages", headers=secret,
                        json={"text": text, "client_message_id": f"m{n}"}, timeout=60)
    assert answer.status_code == 200, answer.text
    reply: dict[str, Any] = answer.json()
    return reply


def discloses(reply: dict[str, Any]) -> bool:
    """Whether a reply tells anything of an order: a cited order field or a decision."""
    return bool([c for c in reply["citations"] if c["kind"] == "order"]
                or reply["return_decision"] or reply["case_id"])


def code_in(mail: EmailMessage) -> str:
    found = CODE.findall(mail.get_content())
    assert len(found) == 1, mail.get_content()
    return str(found[0])


# --- item 2: a typed address is no identity ---------------------------------------------------

def test_a_typed_email_gets_nothing_a_signed_login_gets_the_order(
        live: Live, logs: pytest.LogCaptureFixture) -> None:
    typed = start(live, email=RAUL.customer_email, marketplace="ES")
    reply = say(live, typed, "¿Dónde está mi pedido?", 1)
    assert reply["outcome"] == "needs_info" and not discloses(reply)
    assert "noviembre" not in reply["text"]
    reply = say(live, typed, f"Mi correo es {RAUL.customer_email}, pedido {RAUL.order_id}", 2)
    assert reply["outcome"] == "needs_info" and not discloses(reply)

    token = chat_token(RAUL.customer_email)
    signed = start(live, identity_token=token, marketplace="ES")
    reply = say(live, signed, "¿Dónde está mi pedido?", 1)
    assert reply["outcome"] == "answered" and "7 de noviembre" in reply["text"], reply
    assert token not in logs.text and signed[1][SECRET_HEADER] not in logs.text


@pytest.mark.parametrize(("token", "why"), [
    (sign_identity("not-the-host-sites-key", RAUL.customer_email, 1_795_000_000),
     "signature does not match"),
    (chat_token(RAUL.customer_email, valid_for=timedelta(minutes=-1)), "expired"),
    (chat_token(RAUL.customer_email, valid_for=timedelta(days=30)), "more than 24 hours"),
    (chat_token(RAUL.customer_email)[:-1] + "0", "signature does not match"),
    (chat_token(RAUL.customer_email).replace("raul.", "raul2."), "signature does not match"),
    ("Bearer abc", "expected v1.<expires>.<contact>.<signature>"),
])
def test_a_forged_or_expired_login_is_refused_saying_why(live: Live, token: str,
                                                         why: str) -> None:
    refused = httpx.post(f"{live.url}/v1/conversations", timeout=30,
                         json={"identity_token": token, "marketplace": "ES"})
    assert refused.status_code == 400 and why in refused.json()["detail"], refused.text


# --- item 3: order numbers cannot be probed ----------------------------------------------------

def test_an_unknown_order_and_someone_elses_get_the_same_answer(
        live: Live, mail_relay: MailCatcher) -> None:
    def ask(order_id: str) -> dict[str, Any]:
        reply = say(live, start(live, marketplace="US"), f"Where is my order {order_id}?", 1)
        return {k: v for k, v in reply.items() if k != "conversation_id"}

    unknown, foreign = ask(NO_SUCH_ORDER), ask(HEADLAMP.order_id)
    assert unknown == {**foreign, "text": foreign["text"].replace(HEADLAMP.order_id, NO_SUCH_ORDER)}
    assert foreign["outcome"] == "needs_info" and not discloses(foreign)
    assert "@" not in foreign["text"] and "0187" not in foreign["text"]  # no contact, no hint
    assert live.send_outbox() == 1  # one code, to the headlamp's buyer, never to the asker
    [(envelope, mail)] = mail_relay.received
    assert envelope.rcpt_tos == [HEADLAMP.customer_email] and code_in(mail) not in foreign["text"]


def test_sixty_guesses_from_one_client_are_limited(live: Live) -> None:
    answers = [httpx.post(f"{live.url}/v1/conversations", json={"marketplace": "US"},
                          timeout=30) for _ in range(60)]
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 10 and statuses[10:] == [429] * 50
    refused = answers[-1]
    assert int(refused.headers["Retry-After"]) > 0 and "new chats" in refused.json()["detail"]


def test_messages_are_limited_per_client_across_conversations(
        tmp_path: Path, store: Store, demo_index: KnowledgeIndex,
        mail_relay: MailCatcher) -> None:
    for live in live_server(tmp_path, store, demo_index, mail_relay,
                            chat_start_limit="100/minute", chat_message_limit="5/minute"):
        statuses = []
        for _ in range(8):
            key, secret = start(live, marketplace="US")
            statuses.append(httpx.post(
                f"{live.url}/v1/conversations/{key}/messages", headers=secret, timeout=60,
                json={"text": f"Where is order {NO_SUCH_ORDER}?",
                      "client_message_id": "m1"}).status_code)
        assert statuses == [200] * 5 + [429] * 3


# --- the one-time code, end to end -----------------------------------------------------------

def test_the_code_sent_to_the_orders_email_unlocks_it_once(
        live: Live, mail_relay: MailCatcher, logs: pytest.LogCaptureFixture) -> None:
    first = start(live, marketplace="ES")
    asked = say(live, first, f"¿Dónde está mi pedido {RAUL.order_id}?", 1)
    assert asked["outcome"] == "needs_info" and not discloses(asked)
    assert live.send_outbox() == 1
    [(envelope, mail)] = mail_relay.received
    assert envelope.rcpt_tos == [RAUL.customer_email]
    code = code_in(mail)
    assert code not in json.dumps(asked) and code not in logs.text

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = say(live, first, wrong, 2)
    assert refused["outcome"] == "needs_info" and not discloses(refused)
    assert "4" in refused["text"]  # tries left
    answered = say(live, first, code, 3)
    assert answered["outcome"] == "answered" and "7 de noviembre" in answered["text"]
    assert say(live, first, "¿Y cuándo llegó?", 4)["outcome"] == "answered"  # stays proven

    # A code works once and only where it was asked for.
    second = start(live, marketplace="ES")
    say(live, second, f"¿Dónde está mi pedido {RAUL.order_id}?", 1)
    assert not discloses(reused := say(live, second, code, 2)) and "4" in reused["text"]
    live.send_outbox()
    second_code = code_in(mail_relay.wait_for(2)[1])
    # Ten minutes later it has expired, right or not.
    live.clock.now += timedelta(minutes=10, seconds=1)
    expired = say(live, second, second_code, 3)
    assert expired["outcome"] == "needs_info" and not discloses(expired)

    # Five wrong tries end a code: the right one after them unlocks nothing.
    third = start(live, marketplace="ES")
    say(live, third, f"¿Dónde está mi pedido {RAUL.order_id}?", 1)
    live.send_outbox()
    third_code = code_in(mail_relay.wait_for(3)[2])
    guesses = [g for g in (f"{n:06d}" for n in range(100_000, 100_010)) if g != third_code]
    for n, guess in enumerate(guesses[:5]):
        assert not discloses(say(live, third, guess, 10 + n))
    assert not discloses(say(live, third, third_code, 20))

    # A fourth code within the hour is not sent to the customer; the asker cannot tell.
    fourth = start(live, marketplace="ES")
    again = say(live, fourth, f"¿Dónde está mi pedido {RAUL.order_id}?", 1)
    assert again["text"] == asked["text"] and live.send_outbox() == 0


# --- item 8: transcripts and frames ------------------------------------------------------------

def test_a_transcript_needs_the_conversations_secret(live: Live) -> None:
    chat = start(live, marketplace="ES")
    said = f"Soy Raúl Domínguez, mi pedido es {RAUL.order_id}"
    say(live, chat, said, 1)
    key, secret = chat
    url = f"{live.url}/v1/conversations/{key}/messages"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers={SECRET_HEADER: "guessed"}, timeout=30).status_code == 404
    posted = httpx.post(url, json={"text": "hola", "client_message_id": "x"}, timeout=30)
    assert posted.status_code == 401
    [item] = httpx.get(url, headers=secret, timeout=30).json()
    assert item["text"] == said
    assert secret[SECRET_HEADER] not in url


def test_a_deeply_nested_frame_gets_a_close_frame_and_loses_nothing(live: Live) -> None:
    async def run() -> tuple[int | None, str, dict[str, Any]]:
        async def recv(ws: Any) -> Any:
            return await asyncio.wait_for(ws.recv(), timeout=60)  # bounded, never a hang

        ws_url = live.url.replace("http", "ws") + "/v1/chat"
        async with websockets.connect(ws_url, open_timeout=30, close_timeout=10) as ws:
            await ws.send(json.dumps({"type": "hello", "marketplace": "ES",
                                      "identity_token": chat_token(RAUL.customer_email)}))
            ready = json.loads(await recv(ws))
            await ws.send(json.dumps({"type": "message", "text": "¿Dónde está mi pedido?",
                                      "client_message_id": "kept"}))
            await recv(ws)  # typing
            await recv(ws)  # the reply
            await ws.send("[" * 5000)
            with pytest.raises(websockets.ConnectionClosedError):
                await recv(ws)
            # The server's close frame, not a dropped socket (that would be 1006, no reason).
            code, reason = ws.close_code, ws.close_reason or ""
        async with websockets.connect(ws_url, open_timeout=30, close_timeout=10) as ws:
            await ws.send(json.dumps({"type": "hello", "conversation_id":
                                      ready["conversation_id"], "conversation_secret":
                                      ready["conversation_secret"]}))
            resumed = json.loads(await recv(ws))
        return code, reason, resumed

    code, reason, resumed = asyncio.run(run())
    assert code == 1007 and "nested too deeply" in reason
    assert resumed["resumed"] is True and [i["client_message_id"] for i in resumed["history"]
                                           ] == ["kept"]
