"""Forged and altered Twilio webhooks: every one refused with 403, nothing written, no turn.

Each row of the matrix takes a request Twilio would sign and breaks one thing about it: the
signature (missing, empty, garbage, another account's token), the parameters after signing
(tampered, added, removed), or the URL it was signed for (another port, a trailing slash, the
other scheme behind a TLS-terminating proxy, another host, another path, another query). The
same request signed correctly is answered, so each refusal is the forgery's doing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from agent.core import Agent
from agent.db import Store
from channels.messaging import MessagingChannel
from channels.voice import VoiceChannel
from tests.contracts.channel import CountingHandler, written
from tests.proof.conftest import BASE, TWILIO_TOKEN
from tests.support.scenarios import DELIVERED_BEDDING_DE
from tests.support.twilio import ACCOUNT

pytestmark = pytest.mark.slow

CALLER, LINE = DELIVERED_BEDDING_DE.phone, "+4930555010200"
TURN = "/twilio/voice/turn?turn=1&silent=0&lang=de"
ENDPOINTS: dict[str, tuple[str, dict[str, str]]] = {
    "voice": ("/twilio/voice", {"CallSid": "CA" + "1" * 32, "AccountSid": ACCOUNT,
                                "From": CALLER, "To": LINE, "CallStatus": "ringing"}),
    "voice turn": (TURN, {"CallSid": "CA" + "2" * 32, "AccountSid": ACCOUNT, "From": CALLER,
                          "To": LINE, "SpeechResult": "Wo ist meine Bestellung?",
                          "Confidence": "0.93"}),
    "messaging": ("/twilio/messaging", {"MessageSid": "SM" + "3" * 32, "AccountSid": ACCOUNT,
                                        "From": CALLER, "To": LINE, "NumMedia": "0",
                                        "Body": "Wo ist meine Bestellung?"}),
}


@dataclass(frozen=True)
class Sent:
    """What reaches the server: the path posted to, the form, the signature header."""

    path: str
    params: dict[str, str]
    signature: str | None


def sign(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def _other(path: str) -> str:
    return "/twilio/messaging" if path != "/twilio/messaging" else "/twilio/voice"


Forgery = Callable[[str, dict[str, str]], Sent]
FORGERIES: dict[str, Forgery] = {
    "missing signature": lambda p, q: Sent(p, q, None),
    "empty signature": lambda p, q: Sent(p, q, ""),
    "garbage signature": lambda p, q: Sent(p, q, base64.b64encode(b"\x00" * 20).decode()),
    "wrong auth token": lambda p, q: Sent(p, q, sign(BASE + p, q, "another-accounts-token")),
    "sha256 instead of sha1": lambda p, q: Sent(p, q, base64.b64encode(hmac.new(
        TWILIO_TOKEN.encode(), (BASE + p + "".join(k + q[k] for k in sorted(q))).encode(),
        hashlib.sha256).digest()).decode()),
    "tampered parameter": lambda p, q: Sent(p, {**q, "From": "+4917600000000"},
                                            sign(BASE + p, q)),
    "extra parameter": lambda p, q: Sent(p, {**q, "Digits": "1234"}, sign(BASE + p, q)),
    "removed parameter": lambda p, q: Sent(p, {k: v for k, v in q.items() if k != "To"},
                                           sign(BASE + p, q)),
    "signed for another port": lambda p, q: Sent(p, q, sign("http://testserver:8443" + p, q)),
    "signed with a trailing slash": lambda p, q: Sent(p, q, sign(BASE + p.replace(
        "?", "/?") if "?" in p else BASE + p + "/", q)),
    "https behind a proxy": lambda p, q: Sent(p, q, sign("https://testserver" + p, q)),
    "signed for another host": lambda p, q: Sent(p, q, sign("http://evil.example" + p, q)),
    "replayed to another path": lambda p, q: Sent(_other(p), q, sign(BASE + p, q)),
    "query changed after signing": lambda p, q: Sent(
        p.replace("turn=1", "turn=2") if "?" in p else p + "?turn=2", q, sign(BASE + p, q)),
    "signature of the empty form": lambda p, q: Sent(p, q, sign(BASE + p, {})),
}


@pytest.fixture()
def webhooks(agent: Agent, store: Store) -> Iterator[tuple[TestClient, CountingHandler]]:
    """The Twilio routes as the server mounts them, with the agent behind a counter."""
    sms = MessagingChannel(store, account_sid=ACCOUNT, auth_token=TWILIO_TOKEN,
                           public_base_url=BASE, api_base="http://127.0.0.1:9")
    handler = CountingHandler(agent.handle)
    app = FastAPI()
    for adapter in (sms, VoiceChannel(sms)):
        app.include_router(adapter.router(handler))
    with TestClient(app) as client:
        yield client, handler
    sms.close()


def post(client: TestClient, sent: Sent) -> tuple[int, str]:
    headers = {} if sent.signature is None else {"X-Twilio-Signature": sent.signature}
    response = client.post(sent.path, data=sent.params, headers=headers)
    return response.status_code, response.text


def test_every_forged_or_altered_request_is_refused(
        webhooks: tuple[TestClient, CountingHandler], store: Store) -> None:
    client, handler = webhooks
    before = written(store)
    results = {(endpoint, name): post(client, forge(path, params))
               for endpoint, (path, params) in ENDPOINTS.items()
               for name, forge in FORGERIES.items()}
    print(f"{len(results)} forged requests: "  # noqa: T201
          f"{sum(status == 403 for status, _ in results.values())} answered 403")
    refused_otherwise = {key: r for key, r in results.items() if r[0] != 403}
    assert not refused_otherwise, refused_otherwise
    assert all('"detail"' in text for _, text in results.values()), "a 403 says why"
    assert handler.calls == 0
    assert written(store) == before == dict.fromkeys(before, 0)
    assert len(FORGERIES) >= 10

    # The controls: the same requests, signed for what is sent, are answered.
    for path, params in ENDPOINTS.values():
        status, text = post(client, Sent(path, params, sign(BASE + path, params)))
        assert status == 200, text
    assert handler.calls == 2  # the voice greeting takes no turn; the turn and the SMS do
