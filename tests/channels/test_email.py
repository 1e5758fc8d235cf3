"""Inbound email over real SMTP sessions and the raw-MIME webhook, replies through the outbox."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator, Mapping
from datetime import datetime
from email.message import EmailMessage

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage, Reply
from agent.models import ConversationRow, MessageRow, OutboxRow
from agent.outgoing_mail import reply_subject
from agent.replies import render
from base.settings import Settings
from channels.base import ChannelAdapter, MessageHandler
from channels.email_in import EmailChannel, InboundSmtpServer
from channels.email_out import SmtpSender
from channels.mime import (
    MAX_MESSAGE_BYTES,
    NoMessageId,
    NoSender,
    NoText,
    parse_email,
    should_not_reply,
)
from channels.outbox import OutboxWorker
from channels.rate_limit import SenderRateLimiter, rate_limited
from tests.conftest import NOW
from tests.contracts.channel import Answer, ChannelContract, Mount
from tests.support.mail import MailCatcher
from tests.support.mail_auth import checks_for_tests, dkim_signed, provider_verified
from tests.support.net import free_port
from tests.support.scenarios import DELIVERED_BEDDING_DE, DELIVERED_HEADLAMP_US

pytestmark = pytest.mark.on_every_database

SERVICE = "service@csba.example"
ORDER, CUSTOMER = DELIVERED_BEDDING_DE.order_id, DELIVERED_BEDDING_DE.customer_email
CLOCK = datetime.fromisoformat(NOW)
QUESTION = f"Hallo, wo ist meine Bestellung {ORDER}?"


def mail(text: str | None = QUESTION, *, sender: str = CUSTOMER,
         message_id: str | None = "<q1.miriam@example.de>",
         subject: str = "Wo ist meine Bestellung?", in_reply_to: str | None = None,
         references: str | None = None, html: str | None = None,
         headers: Mapping[str, str] | None = None) -> EmailMessage:
    message = EmailMessage()
    if sender:
        message["From"] = f"Miriam Koch <{sender}>"
    message["To"] = f"Kundenservice <{SERVICE}>"
    message["Subject"] = subject
    message["Date"] = "Wed, 25 Nov 2026 10:00:00 +0100"
    if message_id:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    return message


# --- parsing, without the agent ----------------------------------------------------------------

def test_the_plain_part_of_an_alternative_mail_is_the_text() -> None:
    parsed = parse_email(bytes(mail("Wo ist mein Paket?", html="<p>HTML-Fassung</p>")))
    assert parsed.text == "Wo ist mein Paket?"
    assert parsed.sender == CUSTOMER and parsed.message_id == "<q1.miriam@example.de>"
    assert parsed.attachments == ()


def test_an_html_only_mail_becomes_plain_text() -> None:
    html = ("<html><head><style>p {color: red}</style></head><body>"
            "<div>Hallo,<br>wo ist meine <b>Bestellung</b>?</div><p>Danke&nbsp;Ihnen</p>"
            "<blockquote>Ihre Bestellung wurde versandt.</blockquote></body></html>")
    parsed = parse_email(bytes(mail(None, html=html)))
    assert parsed.text == "Hallo,\nwo ist meine Bestellung?\n\nDanke Ihnen"


OWN = "Ich möchte die Lampe zurückgeben."
QUOTED = "Ihre Bestellung wurde am 7. November zugestellt."


@pytest.mark.parametrize("header", [
    "On Wed, Nov 25, 2026 at 10:00 AM Customer Service <service@csba.example> wrote:",
    "On Wed, Nov 25, 2026 at 10:00 AM Customer Service <service@csba.example>\nwrote:",
    "Am 25.11.2026 um 10:00 schrieb Kundenservice <service@csba.example>:",
    "El mié, 25 nov 2026 a las 10:00, Servicio (<service@csba.example>) escribió:",
    "Le mer. 25 nov. 2026 à 10:00, Service client <service@csba.example> a écrit :",
    "Il giorno mer 25 nov 2026 alle ore 10:00 Servizio <service@csba.example> ha scritto:",
    "-----Original Message-----",
    "-----Ursprüngliche Nachricht-----",
    "________________________________\nVon: Kundenservice <service@csba.example>\n"
    "Gesendet: Mittwoch, 25. November 2026 10:00\nAn: Miriam Koch",
    "From: Customer Service <service@csba.example>\nSent: Wednesday, November 25, 2026 10:00",
])
def test_everything_after_a_reply_header_is_removed(header: str) -> None:
    text = f"{OWN}\n\n{header}\n{QUOTED}\n> {QUOTED}\n"
    assert parse_email(bytes(mail(text))).text == OWN


def test_quoted_lines_and_the_signature_are_removed() -> None:
    text = f"> {QUOTED}\n>> earlier\n{OWN}\n\nViele Grüße\n-- \nMiriam Koch\nTel. 0151 1234567\n"
    assert parse_email(bytes(mail(text))).text == f"{OWN}\n\nViele Grüße"


def test_a_sentence_that_merely_mentions_writing_is_kept() -> None:
    text = "Am Montag schrieb ich Ihnen schon:\nDie Lampe flackert."
    assert parse_email(bytes(mail(text))).text == text


def test_attachments_are_counted_and_named_not_read() -> None:
    message = mail(OWN)
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                           filename="Rechnung 028.pdf")
    message.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="lampe.png")
    message.add_attachment("notes", filename="notiz.txt")
    parsed = parse_email(bytes(message))
    assert parsed.text == OWN
    assert parsed.attachments == ("Rechnung 028.pdf", "lampe.png", "notiz.txt")


@pytest.mark.parametrize(("message", "error", "words"), [
    (mail(sender=""), NoSender, "no From header"),
    (mail(headers={"Sender": "x"}, sender=""), NoSender, "no From header"),
    (mail(message_id=None), NoMessageId, "no Message-ID"),
    (mail(f"> {QUOTED}\n"), NoText, "no text"),
    (mail(None), NoText, "no text"),
])
def test_unreadable_mail_raises_a_typed_error(message: EmailMessage, error: type[Exception],
                                               words: str) -> None:
    with pytest.raises(error, match=words):
        parse_email(bytes(message))


def test_a_from_header_without_an_address_has_no_sender() -> None:
    raw = b"From: garbage\r\nMessage-ID: <g@x>\r\n\r\nHallo\r\n"
    with pytest.raises(NoSender, match="no email address"):
        parse_email(raw)


@pytest.mark.parametrize(("headers", "sender", "reason"), [
    ({"Auto-Submitted": "auto-replied"}, CUSTOMER, "Auto-Submitted: auto-replied"),
    ({"Auto-Submitted": "auto-generated; type=vacation"}, CUSTOMER, "Auto-Submitted"),
    ({"Precedence": "bulk"}, CUSTOMER, "Precedence: bulk"),
    ({"Precedence": "list"}, CUSTOMER, "Precedence: list"),
    ({"Precedence": "junk"}, CUSTOMER, "Precedence: junk"),
    ({"List-Id": "<news.example.de>"}, CUSTOMER, "mailing list (list-id)"),
    ({"List-Unsubscribe": "<mailto:u@example.de>"}, CUSTOMER, "mailing list"),
    ({}, "MAILER-DAEMON@mx.example.de", "bounce (sender mailer-daemon)"),
    ({}, "postmaster@example.de", "bounce (sender postmaster)"),
    ({"Return-Path": "<>"}, CUSTOMER, "bounce (empty Return-Path)"),
    ({"X-Autoreply": "yes"}, CUSTOMER, "x-autoreply"),
    ({"X-Autorespond": "Out of office"}, CUSTOMER, "x-autorespond"),
])
def test_mail_that_must_never_be_answered(headers: dict[str, str], sender: str,
                                          reason: str) -> None:
    found = should_not_reply(parse_email(bytes(mail(sender=sender, headers=headers))))
    assert found is not None and reason in found


def test_a_multipart_report_is_a_bounce() -> None:
    message = mail("Delivery to the following recipient failed.")
    message.make_mixed()
    message.replace_header("Content-Type", 'multipart/report; report-type="delivery-status"')
    assert should_not_reply(parse_email(bytes(message))) == "bounce (multipart/report)"


@pytest.mark.parametrize("headers", [{}, {"Auto-Submitted": "no"}, {"Precedence": "first-class"},
                                     {"Return-Path": f"<{CUSTOMER}>"}])
def test_a_customers_mail_is_answered(headers: dict[str, str]) -> None:
    assert should_not_reply(parse_email(bytes(mail(headers=headers)))) is None


@pytest.mark.parametrize(("subject", "expected"), [
    ("Wo ist meine Bestellung?", "Re: Wo ist meine Bestellung?"),
    ("Re: Lampe", "Re: Lampe"), ("RE: Lampe", "RE: Lampe"), ("AW: Lampe", "AW: Lampe"),
    ("Aw: Lampe", "Aw: Lampe"), ("", None)])
def test_reply_subject(subject: str, expected: str | None) -> None:
    assert reply_subject(subject) == expected


def test_from_settings_and_the_openapi_page(settings: Settings) -> None:
    channel = EmailChannel.from_settings(settings)
    assert (channel.name, channel.smtp_port, channel.sender.domain) == ("email", 2525,
                                                                     "csba.example")
    app = FastAPI()
    app.include_router(channel.router(lambda msg: Reply(
        conversation_id="c", text="t", language="en", outcome="answered", intent="other")))
    operation = app.openapi()["paths"]["/email/inbound"]["post"]
    assert set(operation["requestBody"]["content"]) == {"message/rfc822",
                                                        "application/octet-stream"}
    assert {"202", "400", "413", "415", "422", "503"} <= set(operation["responses"])


# --- the channel with the real agent -----------------------------------------------------------

@pytest.fixture()
def channel(agent: Agent, mail_relay: MailCatcher) -> EmailChannel:
    return EmailChannel(agent.store, SmtpSender(mail_relay.url),
                        smtp_port=free_port(), clock=lambda: CLOCK, checks=checks_for_tests())


@pytest.fixture()
def seen() -> list[InboundMessage]:
    return []


@pytest.fixture()
def handle(agent: Agent, seen: list[InboundMessage]) -> MessageHandler:
    def recording(msg: InboundMessage) -> Reply:
        seen.append(msg)
        return agent.handle(msg)

    return recording


@pytest.fixture()
def smtp_port(channel: EmailChannel, handle: MessageHandler) -> Iterator[int]:
    server = InboundSmtpServer(channel, handle, host="127.0.0.1")
    server.start()
    yield server.port
    server.stop()


@pytest.fixture()
def client(channel: EmailChannel, handle: MessageHandler) -> TestClient:
    app = FastAPI()
    app.include_router(channel.router(handle))
    return TestClient(app)


def deliver(port: int, message: EmailMessage | bytes, *, mail_from: str = CUSTOMER) -> None:
    """Over SMTP, DKIM-signed by its From domain as its provider would (raw bytes as given)."""
    raw = message if isinstance(message, bytes) else signed(message)
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
        smtp.sendmail(mail_from, [SERVICE], raw)


def post(client: TestClient, message: EmailMessage | bytes,
         content_type: str = "message/rfc822") -> tuple[int, dict[str, object]]:
    raw = message if isinstance(message, bytes) else provider_verified(message)
    response = client.post("/email/inbound", content=raw, headers={"Content-Type": content_type})
    return response.status_code, response.json()


def signed(message: EmailMessage) -> bytes:
    return dkim_signed(message) if message["From"] else bytes(message)


def counts(store: Store) -> tuple[int, int, int]:
    with store.sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) or 0  # type: ignore[return-value]
                     for t in (MessageRow, ConversationRow, OutboxRow))


def stored(store: Store) -> list[MessageRow]:
    with store.sessions() as s:
        return list(s.scalars(select(MessageRow).order_by(MessageRow.id)))


def replies(store: Store) -> list[OutboxRow]:
    with store.sessions() as s:
        return list(s.scalars(select(OutboxRow).where(
            OutboxRow.dedupe_key.startswith("email-reply:")).order_by(OutboxRow.id)))


@pytest.mark.slow
def test_over_the_rate_limit_a_mail_gets_the_polite_reply_once(
        agent: Agent, channel: EmailChannel, store: Store) -> None:
    app = FastAPI()
    app.include_router(channel.router(
        rate_limited(agent.handle, SenderRateLimiter("1/minute"), store)))
    with TestClient(app) as client:
        answered = post(client, mail(message_id="<r1.miriam@example.de>"))
        refused = post(client, mail(message_id="<r2.miriam@example.de>"))
        again = post(client, mail(message_id="<r2.miriam@example.de>"))
    assert [status for status, _ in (answered, refused, again)] == [202, 202, 202]
    [first, polite] = replies(store)  # the answer, and one refusal for two deliveries
    assert first.meta["in_reply_to"] == "<r1.miriam@example.de>"
    assert (polite.body, polite.subject, polite.meta["in_reply_to"]) == (
        render("rate_limited", "de"), "Re: Wo ist meine Bestellung?", "<r2.miriam@example.de>")
    assert polite.meta["conversation_id"] is None


@pytest.mark.slow
class TestEmailChannel:
    def test_is_a_channel_adapter(self, channel: EmailChannel) -> None:
        adapter: ChannelAdapter = channel
        assert adapter.name == "email"

    def test_reply_headers_golden(self, smtp_port: int, channel: EmailChannel, store: Store,
                                  mail_relay: MailCatcher,
                                  seen: list[InboundMessage]) -> None:
        deliver(smtp_port, mail())
        [msg] = seen
        assert (msg.channel, msg.sender, msg.provider_message_id, msg.thread_key) == (
            "email", CUSTOMER, "<q1.miriam@example.de>", "<q1.miriam@example.de>")
        assert msg.text == QUESTION and msg.received_at == CLOCK
        [row] = replies(store)
        assert OutboxWorker(store, {"email": channel}).run_once(CLOCK) >= 1
        [(envelope, sent)] = [(e, m) for e, m in mail_relay.received
                              if e.rcpt_tos == [CUSTOMER]]
        assert row.meta["message_id"].endswith("@csba.example>")
        assert [(k, v) for k, v in sent.items()
                if k not in {"Date", "Content-Transfer-Encoding"}] == [
            ("From", "Customer Service <service@csba.example>"),
            ("To", CUSTOMER),
            ("Subject", "Re: Wo ist meine Bestellung?"),
            ("Message-ID", row.meta["message_id"]),
            ("Auto-Submitted", "auto-replied"),
            ("In-Reply-To", "<q1.miriam@example.de>"),
            ("References", "<q1.miriam@example.de>"),
            ("Content-Type", 'text/plain; charset="utf-8"'),
            ("MIME-Version", "1.0"),
        ]
        assert sent["Date"]
        body = sent.get_payload(decode=True)
        assert isinstance(body, bytes) and "7. November 2026" in body.decode()

    def test_a_multipart_alternative_mail_is_read_from_its_plain_part(
            self, smtp_port: int, store: Store) -> None:
        deliver(smtp_port, mail(QUESTION, html="<p>Nur die HTML-Fassung</p>"))
        [row] = stored(store)
        assert row.text == QUESTION

    def test_an_html_only_mail_is_answered(self, client: TestClient, store: Store) -> None:
        html = f"<div>Hallo,<br>wo ist meine <b>Bestellung</b> {ORDER}?</div>"
        status, body = post(client, mail(None, html=html))
        assert status == 202 and body["queued"] is True and body["outcome"] == "answered"
        [row] = stored(store)
        assert row.text == f"Hallo,\nwo ist meine Bestellung {ORDER}?"

    def test_a_quoted_reply_continues_the_conversation(self, smtp_port: int, store: Store,
                                                       seen: list[InboundMessage]) -> None:
        deliver(smtp_port, mail())
        [first_reply] = replies(store)
        ours = first_reply.meta["message_id"]
        second = mail(
            f"{OWN} Sie gefällt mir nicht.\n\n"
            "Am 25.11.2026 um 10:05 schrieb Customer Service <service@csba.example>:\n"
            f"> {first_reply.body}\n>\n> {QUESTION}\n",
            message_id="<q2.miriam@example.de>", subject="Re: Wo ist meine Bestellung?",
            in_reply_to=ours, references=f"<q1.miriam@example.de> {ours}")
        deliver(smtp_port, second)
        first, latest = stored(store)
        assert latest.text == f"{OWN} Sie gefällt mir nicht."
        assert latest.conversation_id == first.conversation_id
        assert seen[1].thread_key == "<q1.miriam@example.de>"
        reply = replies(store)[1]
        assert (reply.subject, reply.meta["in_reply_to"], reply.meta["references"]) == (
            "Re: Wo ist meine Bestellung?", "<q2.miriam@example.de>",
            f"<q1.miriam@example.de> {ours} <q2.miriam@example.de>")

    def test_a_reply_without_references_finds_our_message(self, smtp_port: int,
                                                          store: Store) -> None:
        deliver(smtp_port, mail())
        ours = replies(store)[0].meta["message_id"]
        deliver(smtp_port, mail("Und kann ich sie zurückgeben?", subject="Neue Frage",
                                message_id="<q2.miriam@example.de>", in_reply_to=ours))
        first, second = stored(store)
        assert second.conversation_id == first.conversation_id

    def test_a_reply_to_the_customers_own_mail_finds_the_conversation(
            self, client: TestClient, store: Store) -> None:
        root = "<thread-root@example.de>"
        post(client, mail(references=root, in_reply_to=root))
        post(client, mail("Noch eine Frage: kann ich sie zurückgeben?",
                          message_id="<q2.miriam@example.de>",
                          in_reply_to="<q1.miriam@example.de>"))
        first, second = stored(store)
        assert second.conversation_id == first.conversation_id
        with store.sessions() as s:
            assert s.get_one(ConversationRow, first.conversation_id).thread_key == root

    def test_another_address_in_the_thread_gets_its_own_conversation(
            self, client: TestClient, store: Store) -> None:
        post(client, mail())
        ours = replies(store)[0].meta["message_id"]
        status, _ = post(client, mail(QUESTION, sender="someone.else@example.de",
                                      message_id="<fw1@example.de>", in_reply_to=ours,
                                      references=f"<q1.miriam@example.de> {ours}"))
        assert status == 202
        first, second = stored(store)
        assert second.conversation_id != first.conversation_id

    def test_attachments_are_noted_in_the_metadata(self, smtp_port: int,
                                                   seen: list[InboundMessage]) -> None:
        message = mail()
        message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                               filename="Lieferschein.pdf")
        message.add_attachment(b"\xff\xd8", maintype="image", subtype="jpeg", filename="box.jpg")
        deliver(smtp_port, message)
        [msg] = seen
        assert msg.text == QUESTION
        assert msg.metadata["attachments"] == "2"
        assert json.loads(msg.metadata["attachment_names"]) == ["Lieferschein.pdf", "box.jpg"]
        assert msg.metadata["subject"] == "Wo ist meine Bestellung?"

    @pytest.mark.parametrize(("headers", "sender", "mail_from"), [
        ({"Auto-Submitted": "auto-replied"}, CUSTOMER, CUSTOMER),
        ({"Precedence": "bulk"}, CUSTOMER, CUSTOMER),
        ({"List-Id": "<news.example.de>"}, CUSTOMER, CUSTOMER),
        ({"List-Unsubscribe": "<mailto:u@example.de>"}, CUSTOMER, CUSTOMER),
        ({}, "MAILER-DAEMON@mx.example.de", "MAILER-DAEMON@mx.example.de"),
        ({}, CUSTOMER, ""),  # MAIL FROM:<>, an empty Return-Path: a bounce
        ({"X-Autoreply": "yes"}, CUSTOMER, CUSTOMER),
    ])
    def test_automatic_mail_is_accepted_and_never_answered(
            self, smtp_port: int, client: TestClient, store: Store, seen: list[InboundMessage],
            headers: dict[str, str], sender: str, mail_from: str) -> None:
        deliver(smtp_port, mail(sender=sender, headers=headers), mail_from=mail_from)
        if mail_from:  # the webhook has no envelope; its bounces say so in the headers
            status, body = post(client, mail(sender=sender, headers=headers,
                                             message_id="<other@example.de>"))
            assert status == 202 and set(body) == {"ignored"}
        assert seen == [] and counts(store) == (0, 0, 0)

    def test_a_redelivered_mail_is_processed_and_queued_once(
            self, smtp_port: int, client: TestClient, store: Store) -> None:
        deliver(smtp_port, mail())
        deliver(smtp_port, mail())
        status, body = post(client, mail())
        assert status == 202 and body["queued"] is True
        [row] = stored(store)
        assert body["conversation_id"] == row.conversation_id
        assert len(replies(store)) == 1 and counts(store)[1] == 1

    def test_mail_without_a_sender_is_refused_with_550(self, smtp_port: int,
                                                       store: Store) -> None:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            deliver(smtp_port, mail(sender=""))
        assert refused.value.smtp_code == 550
        assert counts(store) == (0, 0, 0)

    def test_a_failure_asks_the_sending_server_to_retry(self, channel: EmailChannel,
                                                       agent: Agent, store: Store) -> None:
        def broken(msg: InboundMessage) -> Reply:
            raise RuntimeError("the agent is down")

        server = InboundSmtpServer(channel, broken, port=free_port())
        server.start()
        try:
            with pytest.raises(smtplib.SMTPDataError) as deferred:
                deliver(server.port, mail())
        finally:
            server.stop()
        assert (deferred.value.smtp_code, deferred.value.smtp_error) == (
            451, b"Try again later")
        assert replies(store) == []
        retry = InboundSmtpServer(channel, agent.handle, port=free_port())
        retry.start()
        try:
            deliver(retry.port, mail())  # the sending server's retry gets through
        finally:
            retry.stop()
        assert len(stored(store)) == 1 and len(replies(store)) == 1

    def test_an_oversized_mail_is_refused_in_the_smtp_session(self, smtp_port: int,
                                                              store: Store) -> None:
        with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as refused:
            deliver(smtp_port, mail("x" * 76 + ("\n" + "x" * 76) * (MAX_MESSAGE_BYTES // 77)))
        assert refused.value.smtp_code == 552
        assert counts(store) == (0, 0, 0)


HEADLAMP_CUSTOMER = DELIVERED_HEADLAMP_US.customer_email  # the contract's order is theirs
WEBHOOK_TOKEN = "webhook-token-0123456789"


@pytest.mark.slow
class TestEmailWebhookContract(ChannelContract):
    """The raw-MIME webhook: its credential is the bearer token the mail provider holds."""

    accepted_status = 202

    @pytest.fixture()
    def mount(self, agent: Agent, mail_relay: MailCatcher) -> Mount:
        guarded = EmailChannel(agent.store, SmtpSender(mail_relay.url), smtp_port=free_port(),
                               clock=lambda: CLOCK, webhook_token=WEBHOOK_TOKEN,
                               checks=checks_for_tests())

        def mounted(handle: MessageHandler) -> TestClient:
            app = FastAPI()
            app.include_router(guarded.router(handle))
            return TestClient(app)
        return mounted

    @staticmethod
    def raw(text: str, provider_id: str) -> bytes:
        message = mail(text, sender=HEADLAMP_CUSTOMER, message_id=f"<{provider_id}@example.com>",
                       subject="Headlamp")
        return provider_verified(message)

    @staticmethod
    def post_raw(client: TestClient, raw: bytes, token: str | None = WEBHOOK_TOKEN) -> Answer:
        headers = {"Content-Type": "message/rfc822"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return client.post("/email/inbound", content=raw, headers=headers)

    def deliver(self, client: TestClient, text: str, provider_id: str) -> Answer:
        return self.post_raw(client, self.raw(text, provider_id))

    def forged(self, client: TestClient, text: str, provider_id: str) -> list[Answer]:
        raw = self.raw(text, provider_id)
        return [self.post_raw(client, raw, None), self.post_raw(client, raw, "not-the-token"),
                self.post_raw(client, raw, "")]

    def empty(self, client: TestClient) -> Answer:
        return self.post_raw(client, b"")

    def oversized(self, client: TestClient) -> Answer:
        return self.post_raw(client, b"x" * (MAX_MESSAGE_BYTES + 1))

    def reply_of(self, answer: Answer) -> str:
        return json.dumps(answer.json(), sort_keys=True)

    def outbox_per_delivery(self) -> int:
        return 2  # the seller's notification and the reply to the customer's mail

    def test_refusals_say_precisely_why(self, client: TestClient, store: Store) -> None:
        assert post(client, b"") == (400, {
            "detail": "empty body: expected one raw MIME message"})
        status, body = post(client, b"x" * (MAX_MESSAGE_BYTES + 1))
        assert (status, body) == (413, {"detail": f"message larger than {MAX_MESSAGE_BYTES} "
                                                  "bytes"})
        assert counts(store) == (0, 0, 0)

    def test_a_configured_token_is_required(self, mount: Mount, agent: Agent,
                                            store: Store) -> None:
        client = mount(agent.handle)
        missing = self.post_raw(client, self.raw("Hello", "t1"), None)
        assert missing.json()["detail"] == "missing token: send 'Authorization: Bearer <token>'"
        wrong = self.post_raw(client, self.raw("Hello", "t1"), "wrong")
        assert wrong.json()["detail"] == "the webhook token does not match"
        assert counts(store) == (0, 0, 0)

    def test_an_oversized_streamed_body_gets_413(self, client: TestClient, store: Store) -> None:
        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
            for _ in range(11):
                yield b"x" * (1024 * 1024)

        response = client.post("/email/inbound", content=chunks(),
                               headers={"Content-Type": "message/rfc822"})
        assert response.status_code == 413 and counts(store) == (0, 0, 0)

    @pytest.mark.parametrize(("raw", "detail"), [
        (b"\x00\xff\xfe garbage \x01", "no sender: the mail has no From header"),
        (bytes(mail(message_id=None)), "no Message-ID header"),
        (bytes(mail(f"> {QUOTED}\n")), "no text"),
    ])
    def test_garbage_gets_422_with_the_reason_and_stores_nothing(
            self, client: TestClient, store: Store, raw: bytes, detail: str) -> None:
        status, body = post(client, raw, "application/octet-stream")
        assert status == 422 and str(body["detail"]).startswith(detail)
        assert counts(store) == (0, 0, 0)

    def test_a_json_body_gets_415(self, client: TestClient, store: Store) -> None:
        status, body = post(client, b'{"text": "hi"}', "application/json")
        assert status == 415 and "message/rfc822" in str(body["detail"])
        assert counts(store) == (0, 0, 0)

    def test_a_replayed_message_id_is_processed_once(self, client: TestClient,
                                                     store: Store) -> None:
        first = post(client, mail())
        again = post(client, mail())
        assert first == again and first[0] == 202
        assert len(stored(store)) == 1 and len(replies(store)) == 1

    def test_a_failing_agent_gets_503_so_the_provider_retries(self, channel: EmailChannel,
                                                             store: Store) -> None:
        def broken(msg: InboundMessage) -> Reply:
            raise RuntimeError("the agent is down")

        app = FastAPI()
        app.include_router(channel.router(broken))
        status, body = post(TestClient(app), mail())
        assert status == 503 and "again" in str(body["detail"])
        assert replies(store) == []

