"""Twilio voice, SMS and WhatsApp end to end: signed webhooks into the real agent, TwiML out,
and later replies through the real Twilio REST client to a recorder on 127.0.0.1."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import HttpUrl, SecretStr
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage, Reply
from agent.models import CaseRow, ConversationRow, MessageRow, OutboxRow
from agent.replies import render
from base.settings import Settings
from channels.base import ChannelAdapter, Delivery, MessageHandler
from channels.messaging import (
    NUMBER_KEY,
    MessagingChannel,
    WhatsAppWindowClosed,
    split_message,
)
from channels.outbox import OutboxWorker
from channels.rate_limit import SenderRateLimiter, rate_limited
from channels.recovery import answer_stranded
from channels.twilio_auth import TwilioSignature, marketplace_for_number
from channels.voice import (
    HINTS,
    PHRASES,
    VOICES,
    VoiceChannel,
    gather,
    speech_language,
    spoken_text,
)
from tests.conftest import NOW
from tests.contracts.channel import Answer, ChannelContract, CountingHandler, Mount
from tests.support.scenarios import (
    CN_HIGH_VALUE_TILES_UK,
    DELIVERED_BEDDING_DE,
    DELIVERED_DESK_LAMP_DE,
    DELIVERED_HEADLAMP_US,
    DELIVERED_SHEETS_ES,
)
from tests.support.twilio import ACCOUNT, RecorderServer, running_recorder

pytestmark = [pytest.mark.slow, pytest.mark.on_every_database]

TOKEN = "test-auth-token-0123456789abcdef"
BASE = "http://testserver"
DE_LINE, UK_LINE, US_LINE = "+4930555010200", "+442079460000", "+12025550100"
WHATSAPP_LINE = "whatsapp:+4930555010299"
DE_ORDER, DE_PHONE = DELIVERED_BEDDING_DE.order_id, DELIVERED_BEDDING_DE.phone  # delivered 7 Nov
US_ORDER, US_PHONE = DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.phone
UK_ORDER = CN_HIGH_VALUE_TILES_UK.order_id  # delivered 10 Nov
UNANSWERED = "Does the headlamp fit on a Petzl bicycle helmet mount?"  # the page does not say
CALL = "CA0123456789abcdef0123456789abcdef"
XML = '<?xml version="1.0" encoding="UTF-8"?>'
DE_HINTS = ("Bestellung, Bestellnummer, Lieferung, Paket, Sendungsverfolgung, zurückgeben, "
            "zurückschicken, Rücksendung, Retoure, Erstattung, Geld zurück, stornieren, kaputt, "
            "beschädigt, defekt, Rechnung, SMS, null, eins, zwei, drei, vier, fünf, sechs, "
            "sieben, acht, neun, doppel, Strich")
EN_HINTS = ("order, order number, delivery, parcel, package, tracking, return, refund, cancel, "
            "broken, damaged, faulty, invoice, text message, zero, oh, one, two, three, four, "
            "five, six, seven, eight, nine, double, triple, dash")
DE_SAY = '<Say language="de-DE" voice="Polly.Vicki-Neural">'


# --- the pieces ---------------------------------------------------------------------------


class Clock:
    """The webhooks' clock, set to the test day and moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.fromisoformat(NOW)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def recorder() -> Iterator[RecorderServer]:
    with running_recorder() as server:
        yield server


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def twilio_settings(tmp_path: Path, store: Store) -> Settings:
    return Settings(twilio_account_sid=ACCOUNT, twilio_auth_token=SecretStr(TOKEN),
                    public_base_url=HttpUrl(BASE), database_url=str(store.engine.url),
                    data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture()
def messaging(store: Store, clock: Clock, recorder: RecorderServer,
              twilio_settings: Settings) -> Iterator[MessagingChannel]:
    host, port = recorder.server_address[:2]
    channel = MessagingChannel(
        store, account_sid=twilio_settings.twilio_account_sid,
        auth_token=twilio_settings.twilio_auth_token.get_secret_value(),
        public_base_url=str(twilio_settings.public_base_url),
        api_base=f"http://{host!s}:{port}", clock=clock)
    yield channel
    channel.close()


@pytest.fixture()
def voice(messaging: MessagingChannel) -> VoiceChannel:
    return VoiceChannel(messaging)


def app_for(handle: MessageHandler, *adapters: ChannelAdapter) -> FastAPI:
    app = FastAPI()
    for adapter in adapters:
        app.include_router(adapter.router(handle))
    return app


@pytest.fixture()
def client(agent: Agent, messaging: MessagingChannel, voice: VoiceChannel
           ) -> Iterator[TestClient]:
    with TestClient(app_for(agent.handle, messaging, voice)) as test_client:
        yield test_client


def signed(client: TestClient, path: str, params: dict[str, str], *,
           token: str = TOKEN) -> Answer:
    signature = RequestValidator(token).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def call_params(speech: str | None = None, *, digits: str | None = None,
                caller: str = DE_PHONE, line: str = DE_LINE,
                call: str = CALL) -> dict[str, str]:
    params = {"CallSid": call, "AccountSid": ACCOUNT, "From": caller, "To": line,
              "Caller": caller, "Called": line, "CallStatus": "in-progress",
              "Direction": "inbound"}
    if speech is not None:
        params |= {"SpeechResult": speech, "Confidence": "0.91"}
    if digits is not None:
        params["Digits"] = digits
    return params


def sms_params(body: str, *, sender: str = DE_PHONE, line: str = DE_LINE,
               sid: str = "SM0000000000000000000000000000000a") -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": sender,
            "To": line, "Body": body, "NumMedia": "0"}


def message_rows(store: Store) -> list[MessageRow]:
    with store.sessions() as session:
        return list(session.scalars(select(MessageRow).order_by(MessageRow.id)))


def count_messages(store: Store) -> int:
    with store.sessions() as session:
        return session.scalar(select(func.count()).select_from(MessageRow)) or 0


def outbox(store: Store) -> list[OutboxRow]:
    with store.sessions() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def fixed_reply(text: str, language: str = "de") -> MessageHandler:
    def handle(msg: InboundMessage) -> Reply:
        return Reply(conversation_id="c-fixed", text=text, language=language,
                     outcome="answered", intent="order_status")
    return handle


# --- signatures ---------------------------------------------------------------------------


def test_twilio_signature_test_vector() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    expected = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert RequestValidator("12345").compute_signature(url, params) == expected

    # The same vector through our dependency: public base URL + path + query + form.
    app = FastAPI()
    check = TwilioSignature("12345", "https://mycompany.com/")

    @app.post("/myapp.php")
    async def myapp(request: Request) -> dict[str, str]:
        return dict(await check(request))

    with TestClient(app) as test_client:
        ok = test_client.post("/myapp.php?foo=1&bar=2", data=params,
                              headers={"X-Twilio-Signature": expected})
        assert ok.status_code == 200 and ok.json() == params
        changed = test_client.post("/myapp.php?foo=1&bar=3", data=params,
                                   headers={"X-Twilio-Signature": expected})
        assert changed.status_code == 403
        assert "does not match" in changed.json()["detail"]
        missing = test_client.post("/myapp.php?foo=1&bar=2", data=params)
        assert missing.status_code == 403 and "missing" in missing.json()["detail"]


def test_the_signed_url_comes_from_the_settings(agent: Agent, twilio_settings: Settings
                                                ) -> None:
    adapter = MessagingChannel.from_settings(twilio_settings)
    with TestClient(app_for(agent.handle, adapter)) as test_client:
        assert signed(test_client, "/twilio/messaging", sms_params("Hallo")).status_code == 200
        behind = BASE.replace("testserver", "csba.example")
        signature = RequestValidator(TOKEN).compute_signature(
            behind + "/twilio/messaging", sms_params("Hallo", sid="SM-other"))
        refused = test_client.post("/twilio/messaging", data=sms_params("Hallo", sid="SM-other"),
                                   headers={"X-Twilio-Signature": signature})
        assert refused.status_code == 403
    adapter.close()


@pytest.mark.parametrize(("number", "marketplace"), [
    ("+4930555010200", "DE"), ("+34910000000", "ES"), ("+442079460000", "UK"),
    ("+12025550100", "US"), ("+33140000000", "FR"), ("+390600000000", "IT"),
    (f"whatsapp:{DE_PHONE}", "DE"), ("+81300000000", "US"), ("", "US")])
def test_the_marketplace_comes_from_the_calling_code(number: str, marketplace: str) -> None:
    assert marketplace_for_number(number) == marketplace


@pytest.mark.parametrize(("language", "marketplace", "expected"), [
    ("de", "DE", ("de", "de-DE")), ("es", "ES", ("es", "es-ES")), ("en", "UK", ("en", "en-GB")),
    ("en", "US", ("en", "en-US")), ("fr", "FR", ("fr", "fr-FR")), ("it", "IT", ("it", "it-IT")),
    ("en", "DE", ("en", "en-US")), ("ja", "US", ("en", "en-US"))])
def test_reply_languages_map_to_twilio_languages(language: str, marketplace: str,
                                                 expected: tuple[str, str]) -> None:
    assert speech_language(language, marketplace) == expected


@pytest.mark.parametrize(("language", "speech", "voice"), [
    ("de", "de-DE", "Polly.Vicki-Neural"), ("es", "es-ES", "Polly.Lucia-Neural"),
    ("en", "en-GB", "Polly.Amy-Neural"), ("en", "en-US", "Polly.Joanna-Neural"),
    ("fr", "fr-FR", "Polly.Lea-Neural"), ("it", "it-IT", "Polly.Bianca-Neural")])
def test_each_language_listens_with_its_hints_and_speaks_with_its_voice(
        language: str, speech: str, voice: str) -> None:
    twiml = str(gather("Hola", speech, turn=1, silent=0, language=language))
    assert f'<Say language="{speech}" voice="{voice}">Hola</Say>' in twiml
    assert f'language="{speech}"' in twiml and 'speechModel="phone_call"' in twiml
    hints = HINTS[language]
    # Twilio's limits: at most 500 hints, each at most 100 characters.
    assert len(hints) <= 500 and all(0 < len(h) <= 100 and "," not in h for h in hints)
    assert f'hints="{", ".join(hints)}"' in twiml
    assert set(PHRASES) == set(VOICES)


def test_a_spoken_order_number_is_written_as_one() -> None:
    assert spoken_text("Bestellung 028 4306 213 9513 237 bitte") == \
        f"Bestellung {DE_ORDER} bitte"
    assert spoken_text("I ordered 2 lamps on the 3rd") == "I ordered 2 lamps on the 3rd"


# --- voice --------------------------------------------------------------------------------


def test_golden_greeting(client: TestClient) -> None:
    response = signed(client, "/twilio/voice", call_params())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    greeting = ("Hallo! Ich bin der Kundenservice für Ihre Bestellung. Ich helfe bei Lieferung, "
                "Rücksendung, Erstattung und Fragen zu Ihrem Produkt. Wie kann ich Ihnen helfen?"
                f"</Say>{DE_SAY}Ihre Bestellnummer können Sie auch über die Telefontastatur "
                "eingeben, danach die Rautetaste.")
    assert response.text == (
        f'{XML}<Response><Gather action="/twilio/voice/turn?turn=1&amp;silent=0&amp;lang=de" '
        f'finishOnKey="#" hints="{DE_HINTS}" input="dtmf speech" language="de-DE" method="POST" '
        'numDigits="17" speechModel="phone_call" speechTimeout="2" timeout="5">'
        f'{DE_SAY}{greeting}</Say></Gather>'
        '<Redirect method="POST">/twilio/voice/turn?turn=1&amp;silent=0&amp;lang=de</Redirect>'
        '</Response>')


def test_golden_turn(voice: VoiceChannel) -> None:
    text = f'Order {UK_ORDER} was "delivered" on 10 November 2026 & <signed> for.'
    with TestClient(app_for(fixed_reply(text, "en"), voice)) as test_client:
        path = "/twilio/voice/turn?turn=3&silent=1&lang=en"
        response = signed(test_client, path, call_params("Where is my parcel?", line=UK_LINE))
    assert response.status_code == 200
    say = ("Order 0 2 6, 3 1 2 3 9 9 5, 6 7 4 7 9 5 4 was \"delivered\" on 10 November 2026 "
           "&amp; &lt;signed&gt; for.")
    assert response.text == (
        f'{XML}<Response><Gather action="/twilio/voice/turn?turn=4&amp;silent=0&amp;lang=en" '
        f'finishOnKey="#" hints="{EN_HINTS}" input="dtmf speech" language="en-GB" method="POST" '
        'numDigits="17" speechModel="phone_call" speechTimeout="2" timeout="5">'
        f'<Say language="en-GB" voice="Polly.Amy-Neural">{say}</Say></Gather>'
        '<Redirect method="POST">/twilio/voice/turn?turn=4&amp;silent=0&amp;lang=en</Redirect>'
        '</Response>')


def test_a_whole_call_from_a_customer_phone(client: TestClient, store: Store) -> None:
    assert signed(client, "/twilio/voice", call_params()).status_code == 200
    first = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=de",
                   call_params("Wo ist meine Bestellung 028 4306213 9513237?"))
    assert first.status_code == 200
    assert "wurde am 7. November 2026 zugestellt" in first.text
    assert DE_SAY in first.text
    assert 'action="/twilio/voice/turn?turn=2&amp;silent=0&amp;lang=de"' in first.text
    second = signed(client, "/twilio/voice/turn?turn=2&silent=0&lang=de",
                    call_params("Danke schön"))
    assert render("thanks", "de") in second.text
    rows = message_rows(store)
    assert [r.provider_message_id for r in rows] == [f"{CALL}:1", f"{CALL}:2"]
    assert {r.channel for r in rows} == {"voice"}
    assert rows[0].text == f"Wo ist meine Bestellung {DE_ORDER}?"
    with store.sessions() as session:
        conv = session.scalars(select(ConversationRow)).one()
        assert (conv.channel, conv.thread_key, conv.contact) == ("voice", CALL, DE_PHONE)
        assert conv.state[NUMBER_KEY] == DE_LINE


def test_an_order_number_typed_on_the_keypad(client: TestClient, store: Store) -> None:
    asked = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=de",
                   call_params("Wo ist mein Paket?"))
    # the agent asks which order, its example read a digit at a time
    assert "1 2 3, 1 2 3 4 5 6 7, 1 2 3 4 5 6 7" in asked.text
    typed = signed(client, "/twilio/voice/turn?turn=2&silent=0&lang=de",
                   call_params(digits=DE_ORDER.replace("-", "")))
    assert typed.status_code == 200
    assert "wurde am 7. November 2026 zugestellt" in typed.text
    rows = message_rows(store)
    assert rows[1].text == DE_ORDER and rows[1].provider_message_id == f"{CALL}:2"


def test_silence_is_prompted_twice_then_the_call_ends_politely(client: TestClient,
                                                               store: Store) -> None:
    url = "/twilio/voice/turn?turn=1&silent={}&lang=de"
    first = signed(client, url.format(0), call_params())
    assert "Entschuldigung, ich habe Sie nicht gehört." in first.text
    assert 'action="/twilio/voice/turn?turn=1&amp;silent=1&amp;lang=de"' in first.text
    second = signed(client, url.format(1), call_params(""))  # an empty SpeechResult
    assert 'action="/twilio/voice/turn?turn=1&amp;silent=2&amp;lang=de"' in second.text
    goodbye = signed(client, url.format(2), call_params())
    assert goodbye.text == (
        f'{XML}<Response>{DE_SAY}Ich kann Sie leider nicht hören. Schreiben Sie '
        "uns gern eine SMS an diese Nummer oder eine E-Mail, dann antworten wir Ihnen dort. "
        "Auf Wiederhören!</Say><Hangup /></Response>")
    assert count_messages(store) == 0


def test_an_order_number_typed_on_the_keypad_is_noted_then_used(client: TestClient,
                                                                 store: Store) -> None:
    assert signed(client, "/twilio/voice", call_params()).status_code == 200
    typed = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=de",
                   call_params(digits="028*4306213*9513237"))
    noted = render("order_noted", "de", order_id="0 2 8, 4 3 0 6 2 1 3, 9 5 1 3 2 3 7")
    assert noted in typed.text and "nicht verstanden" not in typed.text
    asked = signed(client, "/twilio/voice/turn?turn=2&silent=0&lang=de",
                   call_params("Wo ist sie?"))
    assert "wurde am 7. November 2026 zugestellt" in asked.text
    rows = message_rows(store)
    assert [r.text for r in rows] == [DE_ORDER, "Wo ist sie?"]
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == 0
        conv = session.scalars(select(ConversationRow)).one()
        assert (conv.order_id, conv.misunderstood) == (DE_ORDER, 0)


def test_an_order_number_spoken_in_words_is_read(client: TestClient, store: Store) -> None:
    words = ("Wo ist meine Bestellung null zwei acht vier drei null sechs zwei eins drei neun "
             "fünf eins drei zwei drei sieben?")
    said = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=de", call_params(words))
    assert "wurde am 7. November 2026 zugestellt" in said.text
    (row,) = message_rows(store)
    assert row.text == f"Wo ist meine Bestellung {DE_ORDER}?"


def test_a_hello_then_the_request_is_heard_not_greeted_again(client: TestClient) -> None:
    hello = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=de",
                   call_params("Ja hallo?"))
    assert f"{DE_SAY}Ja, ich höre Sie. Worum geht es?</Say>" in hello.text
    assert render("greeting", "de") not in hello.text  # the call began with it
    asked = signed(client, "/twilio/voice/turn?turn=2&silent=0&lang=de",
                   call_params(f"Wo ist meine Bestellung {DE_ORDER}?"))
    assert "wurde am 7. November 2026 zugestellt" in asked.text


@pytest.mark.parametrize(("greeted", "line"), [
    ("Ja hallo, ich möchte die Lampe zurückgeben", DE_LINE),
    ("Hola buenas, quiero devolver las sábanas", "+34910000000"),
    ("Oui bonjour, je voudrais retourner la lampe", "+33140000000"),
    ("Sì pronto, vorrei restituire la lampada", "+390600000000"),
    ("Yes hello, I want to return the lamp", UK_LINE)])
def test_a_greeting_and_a_request_in_one_breath_is_the_request(
        client: TestClient, store: Store, greeted: str, line: str) -> None:
    said = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=de",
                  call_params(greeted, line=line))
    assert said.status_code == 200
    (row,) = message_rows(store)
    assert row.reply is not None and row.reply["intent"] == "return_request"
    assert "ich höre Sie" not in said.text and "Hallo!" not in said.text


def test_a_turn_url_we_did_not_write_is_refused(client: TestClient, store: Store) -> None:
    for query in ("turn=0&silent=0", "turn=x&silent=0", "turn=1&silent=3", "turn=1&lang=deu"):
        response = signed(client, f"/twilio/voice/turn?{query}", call_params("Hallo"))
        assert response.status_code == 400, query
    assert count_messages(store) == 0


def test_a_voice_case_says_the_answer_comes_by_sms_and_sends_it(
        client: TestClient, store: Store, agent: Agent, voice: VoiceChannel,
        recorder: RecorderServer) -> None:
    order_id, phone = US_ORDER, US_PHONE
    reply = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=en",
                   call_params(f"{UNANSWERED} My order is {order_id}", caller=phone,
                               line=US_LINE))
    assert render("case_follow_up_sms", "en") in reply.text
    assert 'language="en-US"' in reply.text
    with store.sessions() as session:
        case_id = session.scalars(select(MessageRow)).one().reply["case_id"]  # type: ignore[index]
    agent.answer_case(case_id, _seller_of(store, case_id), "Yes, it fits the Petzl mount.",
                      add_to_knowledge=False, now=datetime.fromisoformat(NOW))
    (row,) = [r for r in outbox(store) if r.meta.get("kind") == "customer_follow_up"]
    assert row.channel == "sms"  # a caller's follow-up is a text message
    voice.send(Delivery.of(row))
    (sent,) = recorder.recorded
    assert sent.form["To"] == [phone] and sent.form["From"] == [US_LINE]
    assert "Petzl mount" in sent.form["Body"][0]


def _seller_of(store: Store, case_id: str) -> str:
    with store.sessions() as session:
        return session.get_one(CaseRow, case_id).seller_id


# --- SMS and WhatsApp ---------------------------------------------------------------------


def test_an_sms_question_gets_a_message_reply(client: TestClient, store: Store) -> None:
    response = signed(client, "/twilio/messaging",
                      sms_params(f"Wo ist meine Bestellung {DE_ORDER}?"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    assert response.text == (
        f"{XML}<Response><Message>Die Bestellung {DE_ORDER} wurde am 7. November 2026 "
        "zugestellt.</Message></Response>")
    (row,) = message_rows(store)
    assert (row.channel, row.provider_message_id) == ("sms", "SM0000000000000000000000000000000a")
    assert row.reply is not None and not row.awaiting_delivery  # marked once the answer left
    with store.sessions() as session:
        conv = session.scalars(select(ConversationRow)).one()
        assert conv.thread_key == DE_PHONE and conv.state[NUMBER_KEY] == DE_LINE


def test_long_replies_are_split_between_sentences(messaging: MessagingChannel) -> None:
    sentences = [f"Sentence {i} says something useful about the order and its delivery."
                 for i in range(50)]
    text = " ".join(sentences)  # 3,500-odd characters: a reply is at most 4000
    assert 3200 < len(text) <= 4000
    with TestClient(app_for(fixed_reply(text, "en"), messaging)) as test_client:
        sms = signed(test_client, "/twilio/messaging", sms_params("Where is it?"))
        whatsapp = signed(test_client, "/twilio/messaging",
                          sms_params("Where is it?", sender=f"whatsapp:{DE_PHONE}",
                                     line=WHATSAPP_LINE, sid="SM-wa"))
    parts = [p.split("</Message>")[0] for p in sms.text.split("<Message>")[1:]]
    assert len(parts) == 3 and all(len(p) <= 1600 for p in parts)
    assert all(p.endswith("delivery.") for p in parts)  # cut between sentences
    assert " ".join(parts) == text
    assert whatsapp.text.count("<Message>") == 1  # a WhatsApp message holds 4096 characters
    assert split_message("x" * 3500, 1600) == ["x" * 1600, "x" * 1600, "x" * 300]
    assert split_message("  ", 1600) == []
    with pytest.raises(ValueError, match="limit must be > 0"):
        split_message("text", 0)


def test_whatsapp_senders_are_their_own_channel(client: TestClient, store: Store) -> None:
    sender = f"whatsapp:{DE_PHONE}"
    response = signed(client, "/twilio/messaging",
                      sms_params(f"Wo ist meine Bestellung {DE_ORDER}?", sender=sender,
                                 line=WHATSAPP_LINE, sid="SM-whatsapp-1"))
    assert "7. November 2026" in response.text  # the number is the order's customer
    (row,) = message_rows(store)
    assert row.channel == "whatsapp"
    with store.sessions() as session:
        conv = session.scalars(select(ConversationRow)).one()
        assert (conv.channel, conv.thread_key, conv.contact) == ("whatsapp", sender, sender)
        assert conv.state[NUMBER_KEY] == WHATSAPP_LINE


def _open_case_by(client: TestClient, store: Store, agent: Agent, *, sender: str,
                  line: str, sid: str) -> OutboxRow:
    order_id = US_ORDER
    response = signed(client, "/twilio/messaging",
                      sms_params(f"{UNANSWERED} ({order_id})", sender=sender, line=line,
                                 sid=sid))
    assert "case" in response.text
    with store.sessions() as session:
        case_id = session.scalars(select(MessageRow)).one().reply["case_id"]  # type: ignore[index]
    agent.answer_case(case_id, _seller_of(store, case_id), "Yes, it fits the Petzl mount.",
                      add_to_knowledge=False, now=datetime.fromisoformat(NOW))
    (row,) = [r for r in outbox(store) if r.meta.get("kind") == "customer_follow_up"]
    return row


def test_a_later_reply_goes_through_the_rest_client(client: TestClient, store: Store,
                                                    agent: Agent, messaging: MessagingChannel,
                                                    recorder: RecorderServer) -> None:
    row = _open_case_by(client, store, agent, sender=US_PHONE, line=US_LINE,
                        sid="SM-case-1")
    assert row.channel == "sms"
    worker = OutboxWorker(store, {"sms": messaging, "whatsapp": messaging})
    assert worker.run_once(datetime.fromisoformat(NOW)) == 1
    (sent,) = recorder.recorded
    assert sent.method == "POST"
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert sent.form["To"] == [US_PHONE] and sent.form["From"] == [US_LINE]
    assert sent.form["Body"] == [row.body]
    credentials = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {credentials}"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_whatsapp_free_form_replies_only_within_24_hours(
        client: TestClient, store: Store, agent: Agent, messaging: MessagingChannel,
        recorder: RecorderServer, clock: Clock) -> None:
    sender = f"whatsapp:{US_PHONE}"
    row = _open_case_by(client, store, agent, sender=sender, line=WHATSAPP_LINE,
                        sid="SM-wa-case")
    assert row.channel == "whatsapp"
    clock.now += timedelta(hours=25)
    worker = OutboxWorker(store, {"sms": messaging, "whatsapp": messaging})
    assert worker.run_once(clock.now) == 0
    assert recorder.recorded == []
    (failed,) = outbox(store)[-1:]
    assert failed.sent_at is None and failed.last_error is not None
    assert failed.last_error.startswith("WhatsAppWindowClosed")
    assert "template message" in failed.last_error
    with pytest.raises(WhatsAppWindowClosed):
        messaging.send(Delivery.of(row))

    clock.now -= timedelta(hours=2)  # 23 hours after the customer's message: still open
    messaging.send(Delivery.of(row))
    (sent,) = recorder.recorded
    assert sent.form["To"] == [sender] and sent.form["From"] == [WHATSAPP_LINE]


def test_a_text_whose_turn_failed_is_answered_later_from_the_number_it_was_sent_to(
        agent: Agent, messaging: MessagingChannel, store: Store, recorder: RecorderServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process is going down")

    with monkeypatch.context() as patched, TestClient(app_for(agent.handle, messaging)) as tc:
        patched.setattr(agent, "_turn", broken)
        failed = signed(tc, "/twilio/messaging",
                        sms_params(f"Wo ist meine Bestellung {DE_ORDER}?", sid="SM-dies"))
    assert failed.status_code == 503
    later = datetime.fromisoformat(NOW) + timedelta(minutes=5)
    assert answer_stranded(store, agent.handle, later) == 1
    assert OutboxWorker(store, {"sms": messaging}).run_once(later) == 1
    [sent] = recorder.recorded
    assert sent.form["From"] == [DE_LINE] and sent.form["To"] == [DE_PHONE]
    assert "7. November 2026" in sent.form["Body"][0]


# --- rate limiting ------------------------------------------------------------------------


def test_over_the_rate_limit_twilio_gets_a_polite_reply_not_a_429(
        agent: Agent, messaging: MessagingChannel, store: Store) -> None:
    handler = CountingHandler(agent.handle)
    limited = rate_limited(handler, SenderRateLimiter("2/minute"), store)
    question = f"Wo ist meine Bestellung {DE_ORDER}?"
    with TestClient(app_for(limited, messaging)) as test_client:
        first, second, third = (signed(test_client, "/twilio/messaging",
                                       sms_params(question, sid=f"SM-limit-{i}"))
                                for i in range(3))
        replayed = signed(test_client, "/twilio/messaging", sms_params(question, sid="SM-limit-0"))
        other = signed(test_client, "/twilio/messaging",
                       sms_params(question, sid="SM-other-sender", sender="+4917600000001"))
    assert [r.status_code for r in (first, second, third, replayed, other)] == [200] * 5
    polite = render("rate_limited", "de")
    assert third.text == f"{XML}<Response><Message>{polite}</Message></Response>"
    assert replayed.text == first.text  # a provider's redelivery is never refused
    assert "<Message>" in other.text and "Nachrichten" not in other.text  # limits are per sender
    assert handler.calls == 4  # the refused message never reached the agent
    assert [r.provider_message_id for r in message_rows(store)] == [
        "SM-limit-0", "SM-limit-1", "SM-other-sender"]


@pytest.mark.parametrize("spec", ["", "fast", "20 per"])
def test_a_rate_limit_that_does_not_parse_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="rate limit must"):
        SenderRateLimiter(spec)


# --- the channel contract -----------------------------------------------------------------


class TwilioContract(ChannelContract):
    """What every Twilio webhook must do; each channel fills in its requests."""

    path: str
    text_field: str

    def params(self, text: str, provider_id: str) -> dict[str, str]:
        raise NotImplementedError

    @pytest.fixture()
    def mount(self, messaging: MessagingChannel, voice: VoiceChannel) -> Mount:
        return lambda handle: TestClient(app_for(handle, messaging, voice))

    def deliver(self, client: TestClient, text: str, provider_id: str) -> Answer:
        return signed(client, self.path, self.params(text, provider_id))

    def forged(self, client: TestClient, text: str, provider_id: str) -> list[Answer]:
        params = self.params(text, provider_id)
        signature = RequestValidator(TOKEN).compute_signature(BASE + self.path, params)
        return [client.post(self.path, data=params),
                signed(client, self.path, params, token="not-the-token"),
                client.post(self.path, data={**params, self.text_field: text + "!"},
                            headers={"X-Twilio-Signature": signature})]

    def empty(self, client: TestClient) -> Answer:
        return signed(client, self.path, {})

    def oversized(self, client: TestClient) -> Answer:
        return signed(client, self.path, self.params("x" * 5000, "ID-big"))

    def test_refusals_say_precisely_why(self, client: TestClient, store: Store) -> None:
        params = self.params(f"Where is my order {DE_ORDER}?", "ID-unsigned")
        unsigned = client.post(self.path, data=params)
        assert "X-Twilio-Signature header is missing" in unsigned.json()["detail"]
        forged = signed(client, self.path, params, token="not-the-token")
        assert "does not match" in forged.json()["detail"]
        empty = self.empty(client)
        assert empty.status_code == 400
        assert "is required in a Twilio webhook" in empty.json()["detail"]
        oversized = self.oversized(client)
        assert oversized.status_code == 413
        assert oversized.json()["detail"] == f"{self.text_field} has 5000 characters; at most 4096"
        not_form = client.post(self.path, json={"Body": "hi"},
                               headers={"X-Twilio-Signature": "x"})
        assert not_form.status_code == 415
        assert count_messages(store) == 0


class TestVoiceContract(TwilioContract):
    path = "/twilio/voice/turn?turn=1&silent=0&lang=en"
    text_field = "SpeechResult"

    def params(self, text: str, provider_id: str) -> dict[str, str]:
        return call_params(text, call=provider_id, caller=US_PHONE, line=US_LINE)


class TestSmsContract(TwilioContract):
    path = "/twilio/messaging"
    text_field = "Body"

    def params(self, text: str, provider_id: str) -> dict[str, str]:
        return sms_params(text, sid=provider_id, sender=US_PHONE, line=US_LINE)

    def test_an_empty_body_is_refused(self, client: TestClient, store: Store) -> None:
        response = signed(client, self.path, self.params("   ", "ID-empty"))
        assert response.status_code == 400
        assert response.json()["detail"].startswith("Body is empty")
        assert count_messages(store) == 0


class TestWhatsAppContract(TestSmsContract):
    def params(self, text: str, provider_id: str) -> dict[str, str]:
        return sms_params(text, sender=f"whatsapp:{US_PHONE}", line=WHATSAPP_LINE,
                          sid=provider_id)



# --- golden call flows: what the caller hears, exactly -------------------------------------

ES_LINE = "+34910000000"
DESK_LAMP_DE, SHEETS_ES = DELIVERED_DESK_LAMP_DE, DELIVERED_SHEETS_ES
ES_HINTS = ("pedido, número de pedido, entrega, paquete, seguimiento, devolver, devolución, "
            "reembolso, cancelar, roto, dañado, defectuoso, factura, SMS, cero, uno, dos, tres, "
            "cuatro, cinco, seis, siete, ocho, nueve, doble, guion")
ES_SAY = '<Say language="es-ES" voice="Polly.Lucia-Neural">'


def heard(turn: int, language: str, *says: str) -> str:
    """The exact TwiML of a turn: ``says`` inside the Gather, then the silence redirect."""
    speech, hints, voice = {"de": ("de-DE", DE_HINTS, DE_SAY),
                            "es": ("es-ES", ES_HINTS, ES_SAY)}[language]
    url = f"/twilio/voice/turn?turn={turn}&amp;silent=0&amp;lang={language}"
    return (f'{XML}<Response><Gather action="{url}" finishOnKey="#" hints="{hints}" '
            f'input="dtmf speech" language="{speech}" method="POST" numDigits="17" '
            'speechModel="phone_call" speechTimeout="2" timeout="5">'
            + "".join(f"{voice}{text}</Say>" for text in says)
            + f'</Gather><Redirect method="POST">{url}</Redirect></Response>')


def test_golden_german_call_a_hello_a_return_and_the_answer_by_sms(
        client: TestClient, store: Store, voice: VoiceChannel, recorder: RecorderServer) -> None:
    call = {"caller": DESK_LAMP_DE.customer_phone or "", "call": "CA-golden-de"}
    greeting = signed(client, "/twilio/voice", call_params(**call))
    assert greeting.text == heard(
        1, "de",
        "Hallo! Ich bin der Kundenservice für Ihre Bestellung. Ich helfe bei Lieferung, "
        "Rücksendung, Erstattung und Fragen zu Ihrem Produkt. Wie kann ich Ihnen helfen?",
        "Ihre Bestellnummer können Sie auch über die Telefontastatur eingeben, danach die "
        "Rautetaste.")
    hello = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=de",
                   call_params("Ja hallo?", **call))
    assert hello.text == heard(2, "de", "Ja, ich höre Sie. Worum geht es?")
    request = ("Ich möchte die Lampe zurückgeben. Die Bestellung ist null zwei acht null fünf "
               "sieben acht drei null acht sechs zwei sieben eins vier neun sieben")
    answered = signed(client, "/twilio/voice/turn?turn=2&silent=0&lang=de",
                      call_params(request, **call))
    assert answered.text == heard(
        3, "de",
        "Sie können Lichtwerk Lumo LED-Schreibtischlampe mit Qi-Ladefläche bis zum 31. Januar "
        "2027 zurückgeben. Die Rücksendeadresse schicke ich Ihnen per SMS. Die "
        "Rücksendekosten tragen Sie.",
        "Ihre Erstattung von 49,99 € folgt innerhalb von 2 Werktagen nach Eingang der "
        "Rücksendung. Bitte senden Sie den Artikel unbenutzt und vollständig zurück.")
    star = signed(client, "/twilio/voice/turn?turn=3&silent=0&lang=de",
                  call_params(digits="*", **call))
    assert star.text == heard(4, "de", "Ich habe Ihnen meine letzte Antwort per SMS geschickt. "
                                       "Kann ich sonst noch helfen?")
    (row,) = outbox(store)  # the answer with its address, texted once
    assert (row.channel, row.recipient, row.meta["kind"]) == ("sms", call["caller"],
                                                             "voice_answer")
    voice.send(Delivery.of(row))
    (sent,) = recorder.recorded
    assert sent.form["To"] == [call["caller"]] and sent.form["From"] == [DE_LINE]
    assert "Lichtwerk Home GmbH Retouren, Industriestraße 12, 50667 Köln." in \
        sent.form["Body"][0]


def test_golden_spanish_call_a_return_and_the_answer_by_sms(client: TestClient,
                                                            store: Store) -> None:
    call = {"caller": SHEETS_ES.customer_phone or "", "line": ES_LINE, "call": "CA-golden-es"}
    greeting = signed(client, "/twilio/voice", call_params(**call))
    assert greeting.text == heard(
        1, "es",
        "¡Hola! Soy el servicio de atención al cliente de su pedido. Puedo ayudarle con la "
        "entrega, devoluciones, reembolsos y preguntas sobre su producto.",
        "¿En qué puedo ayudarle? También puede marcar su número de pedido en el teclado, "
        "seguido de la tecla almohadilla.")
    request = ("Hola buenas, quiero devolver las sábanas porque no me gustan. Mi pedido es uno "
               "siete uno, uno uno ocho seis ocho dos nueve, cinco nueve siete tres siete nueve "
               "cuatro")
    answered = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=es",
                      call_params(request, **call))
    assert answered.text == heard(
        2, "es",
        "Puede devolver Sueño Mediterráneo Juego de sábanas 100% algodón hasta el 31 de enero "
        "de 2027. Le envío la dirección de devolución por SMS.",
        "Los gastos de devolución corren a su cargo.",
        "Su reembolso de 44,95 € llegará en un plazo de 2 días hábiles desde que se reciba la "
        "devolución. Devuélvalo sin usar y completo.")
    asked = signed(client, "/twilio/voice/turn?turn=2&silent=0&lang=es",
                   call_params("por SMS, por favor", **call))
    assert asked.text == heard(3, "es", "Le he enviado mi última respuesta por SMS. ¿Puedo "
                                        "ayudarle en algo más?")
    (row,) = outbox(store)
    assert row.recipient == call["caller"]
    assert "Casa Soleada S.L. Devoluciones, Calle de la Industria 44, 46015 Valencia." in \
        row.body
    assert "Juego de sábanas 100% algodón hasta" in row.body  # the agent's words


def test_without_an_answer_yet_the_star_key_sends_nothing(client: TestClient,
                                                          store: Store) -> None:
    star = signed(client, "/twilio/voice/turn?turn=1&silent=0&lang=de",
                  call_params(digits="*"))
    assert "noch nichts geantwortet" in star.text
    assert outbox(store) == [] and count_messages(store) == 0


def test_a_long_answer_ends_with_how_to_get_it_by_sms(voice: VoiceChannel) -> None:
    text = " ".join(f"Satz {i} sagt etwas Nützliches über die Bestellung und ihre Lieferung."
                    for i in range(6))
    with TestClient(app_for(fixed_reply(text), voice)) as test_client:
        said = signed(test_client, "/twilio/voice/turn?turn=1&silent=0&lang=de",
                      call_params("Wo ist sie?"))
    says = [part.split("</Say>")[0] for part in said.text.split(DE_SAY)[1:]]
    assert len(says) == 4 and all(len(s.split()) <= 25 for s in says)
    assert says[-1].endswith("Für diese Antwort per SMS drücken Sie die Sterntaste.")
