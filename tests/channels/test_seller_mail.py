"""Sellers answer cases by replying to the notification email, over real SMTP both ways.

Mail goes in through smtplib to the service's own InboundSmtpServer on loopback and comes out
through the outbox to a loopback relay, so every header asserted here is one a mail client
would see.
"""

from __future__ import annotations

import re
import smtplib
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from langchain_core.embeddings import Embeddings
from sqlalchemy import select

from agent.core import Agent
from agent.db import Store
from agent.models import CaseRow, MessageRow, OutboxRow, SellerMailRow, SentEmailRow
from agent.seller_answers import published_answers
from base.settings import Settings
from channels.app import mailboxes
from channels.email_in import EmailChannel, InboundSmtpServer
from channels.email_out import SmtpSender
from channels.outbox import OutboxWorker
from channels.seller_mail import case_in_subject, read_answer
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage
from tests.conftest import NOW
from tests.support.index import index_of
from tests.support.mail import MailCatcher
from tests.support.mail_auth import checks_for_tests, dkim_signed, provider_verified
from tests.support.net import free_port
from tests.support.scenarios import DELIVERED_HEADLAMP_US

pytestmark = pytest.mark.slow

SERVICE = "service@csba.example"
SELLER = ("A5RIDGELINE", "help@ridgeline-outdoor.example")
OTHER_SELLER = "support@brightway-tech.example"  # A3BRIGHTWAY: a seller, not this case's
ORDER, CUSTOMER = DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.customer_email
HEADLAMP = "B0USRL3HL4"
CUSTOMER_MID = "<q1.michael@example.com>"
CUSTOMER_SUBJECT = "Headlamp and my helmet"
QUESTION = f"Hi, does the headlamp fit on a Petzl bicycle helmet mount? Order {ORDER}."
ANSWER = "Yes, it fits with the Petzl adapter that comes in the box."
CLOCK = datetime.fromisoformat(NOW)
OUR_ID = re.compile(r"<[a-z-]+\.[0-9a-f]{20}@csba\.example>")


# --- without a server --------------------------------------------------------------------------

@pytest.mark.parametrize("subject", [
    "Case CS-ABCDEFG: product_question for order 1", "Re: Case CS-ABCDEFG: x",
    "RE: RE: Case CS-ABCDEFG: x", "AW: Case CS-ABCDEFG: x", "Fwd: Case CS-ABCDEFG: x",
    "WG: Antw: case cs-abcdefg: x", "[EXTERNAL] Re: Case CS-ABCDEFG: x", "Re[2]: Case CS-ABCDEFG",
])
def test_the_case_number_is_read_under_any_reply_prefix(subject: str) -> None:
    assert case_in_subject(subject) == "CS-ABCDEFG"


@pytest.mark.parametrize("subject", [
    "", "Wo ist meine Bestellung?", "My case CS-ABCDEFG", "Re: question about CS-ABCDEFG",
    "Case CS-ABCDEF1: O and 1 are not in case ids", "Case CS-ABCDEFGH: too long",
])
def test_other_subjects_name_no_case(subject: str) -> None:
    assert case_in_subject(subject) is None


@pytest.mark.parametrize(("text", "answer", "consent"), [
    (f"{ANSWER}\nADD TO PAGE: yes", ANSWER, True),
    (f"add to page: Yes.\n\n{ANSWER}", ANSWER, True),
    (f"{ANSWER}\nZUR SEITE HINZUFÜGEN: ja", ANSWER, True),
    (f"{ANSWER}\nADD TO PAGE: no", ANSWER, False),
    (f"{ANSWER}\nADD TO PAGE: yes\nADD TO PAGE: no", ANSWER, False),
    (ANSWER, ANSWER, False),
    (f"{ANSWER} Please ADD TO PAGE: yes", f"{ANSWER} Please ADD TO PAGE: yes", False),
    ("ADD TO PAGE: yes", "", True),
])
def test_consent_is_a_line_of_its_own_and_defaults_to_no(text: str, answer: str,
                                                           consent: bool) -> None:
    assert read_answer(text) == (answer, consent)


# --- the service on loopback -------------------------------------------------------------------

@pytest.fixture()
def headlamp_index(settings: Settings, embeddings: Embeddings,
                   demo_pages: list[ProductPage]) -> Iterator[KnowledgeIndex]:
    """The headlamp page alone, per test: a consented answer must not answer the next test's
    question."""
    with index_of(settings, embeddings, demo_pages, {HEADLAMP}) as opened:
        yield opened


@pytest.fixture()
def agent(store: Store, headlamp_index: KnowledgeIndex) -> Agent:
    return Agent(store, headlamp_index, portal_url="http://127.0.0.1:8000/seller")


@pytest.fixture()
def channel(agent: Agent, mail_relay: MailCatcher) -> EmailChannel:
    sender = SmtpSender(mail_relay.url)
    return EmailChannel(agent.store, sender, smtp_port=free_port(), clock=lambda: CLOCK,
                        mailboxes=mailboxes(agent.store, domain=sender.domain,
                                            clock=lambda: CLOCK, answer_case=agent.answer_case),
                        checks=checks_for_tests())


@pytest.fixture()
def smtp_port(channel: EmailChannel, agent: Agent) -> Iterator[int]:
    server = InboundSmtpServer(channel, agent.handle, host="127.0.0.1")
    server.start()
    yield server.port
    server.stop()


def mail(text: str, *, sender: str, subject: str, message_id: str,
         in_reply_to: str | None = None, references: str | None = None,
         headers: dict[str, str] | None = None,
         to: str = f"Customer Service <{SERVICE}>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Wed, 25 Nov 2026 11:00:00 -0700"
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    return message


def deliver(port: int, message: EmailMessage, *, mail_from: str | None = None) -> None:
    """Over SMTP to the addresses in To, DKIM-signed by the From domain as its provider
    would (CRLF line ends: a mail of bare LFs is one over-long SMTP line)."""
    sender = parseaddr(str(message["From"]))[1]
    recipients = [address for _, address in getaddresses([str(message["To"])])]
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
        smtp.sendmail(mail_from if mail_from is not None else sender, recipients,
                      dkim_signed(message))


def send_outbox(store: Store, channel: EmailChannel, relay: MailCatcher,
                at: datetime = CLOCK) -> list[Message]:
    """Everything the outbox sends now, as the relay received it."""
    before = len(relay.received)
    sent = OutboxWorker(store, {"email": channel}).run_once(at)
    return relay.wait_for(before + sent)[before:]


def body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def to(messages: list[Message], address: str) -> list[Message]:
    return [m for m in messages if m["To"] == address]


def reply_to(notification: Message, text: str, *, sender: str = SELLER[1],
             message_id: str = "<r1.ops@ridgeline-outdoor.example>",
             subject: str | None = None, threaded: bool = True) -> EmailMessage:
    """What a mail client makes of "Reply" on the notification: Re: subject, In-Reply-To,
    References, and the notification quoted under an attribution line."""
    quoted = "\n".join(f"> {line}" for line in body(notification).splitlines())
    return mail(
        f"{text}\n\nOn Wed, Nov 25, 2026 at 3:00 AM Customer Service <{SERVICE}> wrote:\n"
        f"{quoted}\n", sender=sender,
        subject=subject if subject is not None else f"Re: {notification['Subject']}",
        to=notification["Reply-To"], message_id=message_id,
        in_reply_to=notification["Message-ID"] if threaded else None,
        references=notification["Message-ID"] if threaded else None)


@pytest.fixture()
def opened(smtp_port: int, store: Store, channel: EmailChannel,
           mail_relay: MailCatcher) -> tuple[str, Message]:
    """The customer's question by email: a case, and the seller's notification as caught."""
    deliver(smtp_port, mail(QUESTION, sender=f"Michael Rodriguez <{CUSTOMER}>",
                            subject=CUSTOMER_SUBJECT, message_id=CUSTOMER_MID))
    with store.sessions() as s:
        case = s.scalars(select(CaseRow)).one()
    sent = send_outbox(store, channel, mail_relay)
    [notification] = to(sent, SELLER[1])
    [_first_reply] = to(sent, CUSTOMER)
    return case.id, notification


def case_row(store: Store, case_id: str) -> CaseRow:
    with store.sessions() as s:
        return s.get_one(CaseRow, case_id)


def outbox_kinds(store: Store) -> list[str]:
    with store.sessions() as s:
        return [row.meta["kind"] for row in s.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def test_the_notification_headers_golden(opened: tuple[str, Message], store: Store) -> None:
    case_id, notification = opened
    with store.sessions() as s:
        row = s.scalars(select(OutboxRow).where(
            OutboxRow.dedupe_key == f"case-notify:{case_id}")).one()
        sent_id = s.get_one(SentEmailRow, row.meta["message_id"])
    assert OUR_ID.fullmatch(row.meta["message_id"])
    assert (sent_id.kind, sent_id.case_id, sent_id.conversation_id) == (
        "seller_notification", case_id, None)
    assert [(k, v) for k, v in notification.items()
            if k not in {"Date", "Content-Transfer-Encoding"}] == [
        ("From", "Customer Service <service@csba.example>"),
        ("To", SELLER[1]),
        ("Reply-To", notification["Reply-To"]),
        ("Subject", f"Case {case_id}: product_question for order {ORDER}"),
        ("Message-ID", row.meta["message_id"]),
        ("Auto-Submitted", "auto-replied"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("MIME-Version", "1.0"),
    ]
    # The answer must come to the case's secret address: only this mail's reader knows it.
    assert re.fullmatch(rf"case\+{case_id.lower()}\.[a-z2-7]{{26}}@csba\.example",
                        notification["Reply-To"])
    text = body(notification)
    assert "reply to this email from this address" in text
    assert "ADD TO PAGE: yes" in text and "ZUR SEITE HINZUFÜGEN: ja" in text
    for secret in (CUSTOMER, "Michael", "Rodriguez", CUSTOMER_MID):
        assert secret not in text


def test_a_sellers_reply_answers_the_case_in_the_customers_thread(
        opened: tuple[str, Message], smtp_port: int, store: Store, channel: EmailChannel,
        mail_relay: MailCatcher) -> None:
    case_id, notification = opened
    deliver(smtp_port, reply_to(notification, f"{ANSWER}\n\nADD TO PAGE: yes"))
    case = case_row(store, case_id)
    assert (case.status, case.answer, case.add_to_knowledge) == ("answered", ANSWER, True)

    sent = send_outbox(store, channel, mail_relay)
    [follow_up], [confirmation] = to(sent, CUSTOMER), to(sent, SELLER[1])
    with store.sessions() as s:
        ours = s.scalars(select(OutboxRow).where(
            OutboxRow.dedupe_key == f"case-answer:{case_id}")).one().meta["message_id"]
    assert [(k, v) for k, v in follow_up.items()
            if k not in {"Date", "Content-Transfer-Encoding"}] == [
        ("From", "Customer Service <service@csba.example>"),
        ("To", CUSTOMER),
        ("Subject", f"Re: {CUSTOMER_SUBJECT}"),
        ("Message-ID", ours),
        ("Auto-Submitted", "auto-replied"),
        ("In-Reply-To", CUSTOMER_MID),
        ("References", CUSTOMER_MID),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("MIME-Version", "1.0"),
    ]
    assert ANSWER in body(follow_up) and "ADD TO PAGE" not in body(follow_up)
    assert confirmation["In-Reply-To"] == "<r1.ops@ridgeline-outdoor.example>"
    assert confirmation["Subject"] == f"Re: {notification['Subject']}"
    assert body(confirmation).strip() == (
        f"Thank you: your answer to case {case_id} has been sent to the customer. "
        "It has also been added to the product page.")
    assert ANSWER in published_answers(store)[(HEADLAMP, "US")]

    # The customer answers the follow-up from a client that keeps only In-Reply-To.
    deliver(smtp_port, mail("Great, thank you! Which adapter size?",
                            sender=f"Michael Rodriguez <{CUSTOMER}>", subject="Adapter",
                            message_id="<q2.michael@example.com>", in_reply_to=ours))
    with store.sessions() as s:
        first, second = s.scalars(select(MessageRow).order_by(MessageRow.id)).all()
        assert second.conversation_id == first.conversation_id
        assert s.scalar(select(SellerMailRow.result)) == "answered"


def test_a_reply_without_threading_headers_is_found_by_its_subject(
        opened: tuple[str, Message], smtp_port: int, store: Store) -> None:
    case_id, notification = opened
    deliver(smtp_port, reply_to(notification, ANSWER, threaded=False,
                                subject=f"AW: WG: {notification['Subject']}"))
    case = case_row(store, case_id)
    assert (case.status, case.answer, case.add_to_knowledge) == ("answered", ANSWER, False)


def test_a_reply_with_a_rewritten_subject_is_found_by_in_reply_to(
        opened: tuple[str, Message], smtp_port: int, store: Store) -> None:
    case_id, notification = opened
    deliver(smtp_port, reply_to(notification, ANSWER, subject="headlamp question"))
    assert case_row(store, case_id).status == "answered"


@pytest.mark.parametrize(("consent_line", "added"), [
    ("ADD TO PAGE: yes", True), ("ZUR SEITE HINZUFÜGEN: ja", True), ("ADD TO PAGE: no", False),
    ("", False)])
def test_consent_decides_whether_the_answer_joins_the_page(
        opened: tuple[str, Message], smtp_port: int, store: Store, channel: EmailChannel,
        mail_relay: MailCatcher, consent_line: str, added: bool) -> None:
    case_id, notification = opened
    deliver(smtp_port, reply_to(notification, f"{ANSWER}\n{consent_line}"))
    assert case_row(store, case_id).add_to_knowledge is added
    assert (ANSWER in published_answers(store).get((HEADLAMP, "US"), [])) is added
    [confirmation] = to(send_outbox(store, channel, mail_relay), SELLER[1])
    assert ("It has also been added to the product page." in body(confirmation)) is added
    assert ("It has not been added to the product page" in body(confirmation)) is not added


# --- refusals ------------------------------------------------------------------------------------

NOT_PROCESSED = ("Your email was not processed and nothing was changed: it does not answer an "
                 "open case of the address it came from.")


def assert_unchanged(store: Store, case_id: str) -> None:
    case = case_row(store, case_id)
    assert (case.status, case.answer) == ("awaiting_seller", None)
    assert "customer_follow_up" not in outbox_kinds(store)


def the_one_reply(store: Store, channel: EmailChannel, relay: MailCatcher,
                  recipient: str) -> Message:
    sent = send_outbox(store, channel, relay)
    assert [m["To"] for m in sent] == [recipient]
    assert sent[0]["Auto-Submitted"] == "auto-replied"
    return sent[0]


def test_another_address_is_refused_without_case_details(
        opened: tuple[str, Message], smtp_port: int, store: Store, channel: EmailChannel,
        mail_relay: MailCatcher) -> None:
    case_id, notification = opened
    stranger = "colleague@ridgeline-outdoor.example"
    deliver(smtp_port, reply_to(notification, ANSWER, sender=stranger))
    assert_unchanged(store, case_id)
    refusal = the_one_reply(store, channel, mail_relay, stranger)
    assert body(refusal).startswith(NOT_PROCESSED)
    for detail in (case_id, ORDER, HEADLAMP, "Petzl"):
        assert detail not in body(refusal)
    with store.sessions() as s:  # a reply to the refusal cannot lead back to the case
        assert s.scalars(select(SentEmailRow).where(
            SentEmailRow.kind == "seller_mail_reply")).one().case_id is None


def test_the_sellers_address_compares_without_case_or_display_name(
        opened: tuple[str, Message], smtp_port: int, store: Store) -> None:
    case_id, notification = opened
    deliver(smtp_port, reply_to(notification, ANSWER,
                                sender="Ridgeline Ops <Help@Ridgeline-Outdoor.EXAMPLE>"))
    assert case_row(store, case_id).status == "answered"


def test_another_sellers_reply_is_refused_like_an_unknown_case(
        opened: tuple[str, Message], smtp_port: int, store: Store, channel: EmailChannel,
        mail_relay: MailCatcher) -> None:
    case_id, notification = opened
    deliver(smtp_port, reply_to(notification, ANSWER, sender=OTHER_SELLER, threaded=False))
    deliver(smtp_port, mail(ANSWER, sender=SELLER[1], subject="Re: Case CS-ZZZZZZZ: question",
                            message_id="<r2.ops@ridgeline-outdoor.example>"))
    assert_unchanged(store, case_id)
    sent = send_outbox(store, channel, mail_relay)
    assert sorted(m["To"] for m in sent) == sorted([OTHER_SELLER, SELLER[1]])
    # The same words for "not yours" and "no such case": neither tells a case exists.
    assert body(sent[0]) == body(sent[1])
    assert body(sent[0]).startswith(NOT_PROCESSED) and case_id not in body(sent[0])


def test_an_answered_case_refuses_a_second_answer(
        opened: tuple[str, Message], smtp_port: int, store: Store, channel: EmailChannel,
        agent: Agent, mail_relay: MailCatcher) -> None:
    case_id, notification = opened
    agent.answer_case(case_id, SELLER[0], "From the portal.", add_to_knowledge=False, now=CLOCK)
    send_outbox(store, channel, mail_relay)
    deliver(smtp_port, reply_to(notification, ANSWER))
    assert case_row(store, case_id).answer == "From the portal."
    assert outbox_kinds(store).count("customer_follow_up") == 1
    refusal = the_one_reply(store, channel, mail_relay, SELLER[1])
    assert body(refusal).strip() == (
        f"Your reply to case {case_id} was not sent to the customer: the case has already "
        "been answered. Nothing was changed.")


def test_an_expired_case_refuses_the_late_answer(
        opened: tuple[str, Message], smtp_port: int, store: Store, channel: EmailChannel,
        agent: Agent, mail_relay: MailCatcher) -> None:
    case_id, notification = opened
    later = CLOCK + timedelta(hours=25)
    assert agent.expire_cases(later) == [case_id]
    send_outbox(store, channel, mail_relay, later)
    deliver(smtp_port, reply_to(notification, ANSWER))
    case = case_row(store, case_id)
    assert (case.status, case.answer) == ("expired", None)
    refusal = the_one_reply(store, channel, mail_relay, SELLER[1])
    assert f"case {case_id}" in body(refusal) and "expired" in body(refusal)


@pytest.mark.parametrize("text", ["", "ADD TO PAGE: yes", "-- \nRidgeline Outdoor Support"])
def test_a_reply_with_no_answer_of_its_own_is_refused(
        opened: tuple[str, Message], smtp_port: int, store: Store, channel: EmailChannel,
        mail_relay: MailCatcher, text: str) -> None:
    case_id, notification = opened
    deliver(smtp_port, reply_to(notification, text))
    assert_unchanged(store, case_id)
    refusal = the_one_reply(store, channel, mail_relay, SELLER[1])
    assert body(refusal).strip() == (
        f"Your reply to case {case_id} was not sent to the customer: it holds no answer of "
        "yours above the quoted notification. Please reply again with your answer written "
        "above the quoted text.")


@pytest.mark.parametrize(("headers", "sender", "mail_from"), [
    ({"Auto-Submitted": "auto-replied"}, SELLER[1], SELLER[1]),  # an out-of-office
    ({"X-Autoreply": "yes"}, SELLER[1], SELLER[1]),
    ({}, "MAILER-DAEMON@ridgeline-outdoor.example", ""),  # a bounce of the notification
    ({"Auto-Submitted": "auto-replied"}, "intruder@example.org", "intruder@example.org"),
])
def test_automatic_mail_changes_nothing_and_gets_no_reply(
        opened: tuple[str, Message], smtp_port: int, store: Store, channel: EmailChannel,
        mail_relay: MailCatcher, headers: dict[str, str], sender: str, mail_from: str) -> None:
    case_id, notification = opened
    message = reply_to(notification, ANSWER, sender=sender)
    for name, value in headers.items():
        message[name] = value
    deliver(smtp_port, message, mail_from=mail_from)
    assert_unchanged(store, case_id)
    assert send_outbox(store, channel, mail_relay) == []


def test_the_cases_customer_quoting_the_case_number_is_answered_as_a_customer(
        opened: tuple[str, Message], smtp_port: int, store: Store) -> None:
    case_id, _ = opened
    deliver(smtp_port, mail(f"Any news on my question? Order {ORDER}", sender=CUSTOMER,
                            subject=f"Case {case_id}: any news?",
                            message_id="<q3.michael@example.com>"))
    assert_unchanged(store, case_id)
    with store.sessions() as s:
        assert s.scalar(select(MessageRow.provider_message_id).order_by(
            MessageRow.id.desc()).limit(1)) == "<q3.michael@example.com>"
        assert s.scalar(select(SellerMailRow)) is None


# --- once per Message-ID -------------------------------------------------------------------------

def test_a_redelivered_reply_answers_once(opened: tuple[str, Message], smtp_port: int,
                                          store: Store, channel: EmailChannel,
                                          mail_relay: MailCatcher) -> None:
    case_id, notification = opened
    reply = reply_to(notification, ANSWER)
    deliver(smtp_port, reply)
    deliver(smtp_port, reply)
    assert case_row(store, case_id).status == "answered"
    sent = send_outbox(store, channel, mail_relay)
    assert sorted(m["To"] for m in sent) == sorted([CUSTOMER, SELLER[1]])
    assert "already been answered" not in body(to(sent, SELLER[1])[0])


def test_a_redelivered_refusal_is_mailed_once(opened: tuple[str, Message], smtp_port: int,
                                              store: Store, channel: EmailChannel,
                                              mail_relay: MailCatcher) -> None:
    _, notification = opened
    refused = reply_to(notification, ANSWER, sender="colleague@ridgeline-outdoor.example")
    deliver(smtp_port, refused)
    deliver(smtp_port, refused)
    assert len(send_outbox(store, channel, mail_relay)) == 1


def test_concurrent_deliveries_of_one_reply_answer_once(
        opened: tuple[str, Message], smtp_port: int, store: Store, channel: EmailChannel,
        mail_relay: MailCatcher) -> None:
    case_id, notification = opened
    reply = reply_to(notification, ANSWER)
    start = threading.Barrier(3)
    failures: list[BaseException] = []

    def one_delivery() -> None:
        start.wait()
        try:
            deliver(smtp_port, reply)
        except smtplib.SMTPException as exc:  # a "try again later" is a sender's retry
            failures.append(exc)

    threads = [threading.Thread(target=one_delivery) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for _ in failures:
        deliver(smtp_port, reply)
    assert case_row(store, case_id).status == "answered"
    sent = send_outbox(store, channel, mail_relay)
    assert sorted(m["To"] for m in sent) == sorted([CUSTOMER, SELLER[1]])
    assert "has been sent to the customer" in body(to(sent, SELLER[1])[0])


# --- the webhook and the indexed threading ---------------------------------------------------

def test_the_webhook_takes_a_sellers_reply(opened: tuple[str, Message], channel: EmailChannel,
                                           agent: Agent, store: Store) -> None:
    case_id, notification = opened
    app = FastAPI()
    app.include_router(channel.router(agent.handle))
    raw = provider_verified(reply_to(notification, ANSWER))
    with TestClient(app) as client:
        responses = [client.post("/email/inbound", content=raw,
                                 headers={"Content-Type": "message/rfc822"}) for _ in range(2)]
    assert [(r.status_code, r.json()) for r in responses] == [
        (202, {"seller_mail": "answered"}), (202, {"seller_mail": "duplicate"})]
    assert case_row(store, case_id).status == "answered"


def test_our_message_ids_are_found_by_index_not_by_scanning_the_outbox(store: Store) -> None:
    with store.sessions() as s:
        plan = s.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT conversation_id, case_id FROM sent_email_ids "
            "WHERE message_id IN (?, ?)", ("<a@example.com>", "<b@example.com>")).all()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "INDEX" in detail and "SCAN" not in detail
