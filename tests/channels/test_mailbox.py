"""The email channel routes each mail to the first of its mailboxes that accepts it.

Mailboxes of the test's own (a protocol of ours, not an outside service) over the real
channel, parser and sender checks; then the service's own mailboxes as the app registers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage, Reply
from base.settings import Settings
from channels.app import mailboxes
from channels.base import Delivery, MessageHandler
from channels.customer_mail import CustomerMail
from channels.email_in import EmailChannel
from channels.email_out import SmtpSender
from channels.handover import HandoverMail
from channels.mail_auth import CheckKind
from channels.mailbox import InboundMail
from channels.seller_mail import SellerMail
from tests.support.mail import MailCatcher
from tests.support.mail_auth import checks_for_tests, provider_verified
from tests.support.scenarios import DELIVERED_BEDDING_DE

SENDER = DELIVERED_BEDDING_DE.customer_email


class TakenOut(BaseModel):
    taken_by: str


@dataclass(frozen=True)
class Taken:
    name: str
    proven: bool

    @property
    def sender_unproven(self) -> bool:
        return not self.proven

    def response(self) -> TakenOut:
        return TakenOut(taken_by=self.name)


@dataclass
class ByRecipient:
    """Takes the mail written to its address; records what it was given."""

    address: str
    check: CheckKind = "seller_answer"
    reply_kind: str = "test_reply"
    response_model: type[BaseModel] = TakenOut
    received: list[InboundMail] = field(default_factory=list)

    def accepts(self, mail: InboundMail) -> bool:
        return self.address in mail.recipients

    def receive(self, mail: InboundMail, handle: MessageHandler) -> Taken:
        self.received.append(mail)
        return Taken(self.address, proven=mail.proven is not None)

    def reply_to(self, row: Delivery) -> str | None:
        return self.address if row.meta.get("kind") == "ask_back" else None


def raw_mail(to: str, *, message_id: str = "<m1@example.de>") -> bytes:
    message = EmailMessage()
    message["From"] = f"Miriam Koch <{SENDER}>"
    message["To"] = to
    message["Subject"] = "Bestellung"
    message["Message-ID"] = message_id
    message.set_content("Wo ist meine Bestellung?")
    return bytes(message)


def never(message: InboundMessage) -> Reply:
    raise AssertionError("no mailbox here asks the agent")


def channel_of(store: Store, *boxes: ByRecipient) -> EmailChannel:
    return EmailChannel(store, SmtpSender("smtp://127.0.0.1:9"), mailboxes=boxes,
                        checks=checks_for_tests())


def test_the_first_mailbox_that_accepts_a_mail_gets_it(store: Store) -> None:
    first, second = ByRecipient("a@csba.example"), ByRecipient("a@csba.example")
    receipt = channel_of(store, first, second).receive(raw_mail("a@csba.example"), never)
    assert [m.parsed.message_id for m in first.received] == ["<m1@example.de>"]
    assert second.received == []
    assert receipt.outcome == Taken("a@csba.example", proven=False)


def test_the_envelope_routes_a_mail_its_headers_do_not_name(store: Store) -> None:
    other, hidden = ByRecipient("a@csba.example"), ByRecipient("bcc@csba.example")
    channel = channel_of(store, other, hidden)
    receipt = channel.receive(raw_mail("a-friend@example.de"), never,
                              recipients=["<BCC@csba.example>"])
    assert receipt.outcome == Taken("bcc@csba.example", proven=False)
    assert other.received == []


def test_a_mail_no_mailbox_accepts_is_ignored_not_answered(store: Store) -> None:
    box = ByRecipient("a@csba.example")
    receipt = channel_of(store, box).receive(raw_mail("b@csba.example"), never)
    assert (receipt.ignored, receipt.outcome, box.received) == ("no mailbox takes it", None, [])


def test_a_mailbox_is_told_what_the_checks_proved_and_failures_are_counted(
        store: Store) -> None:
    box = ByRecipient("a@csba.example", check="handover")
    channel = channel_of(store, box)
    failed: list[CheckKind] = []
    channel.on_auth_failure = failed.append
    channel.receive(raw_mail("a@csba.example", message_id="<forged@example.de>"), never)
    channel.receive(provider_verified(raw_mail("a@csba.example", message_id="<ok@example.de>")),
                    never)
    assert [m.proven for m in box.received] == [None, SENDER]
    assert failed == ["handover"]


def test_the_webhook_answers_with_the_mailboxs_answer(store: Store) -> None:
    channel = channel_of(store, ByRecipient("a@csba.example"))
    app = FastAPI()
    app.include_router(channel.router(never))
    client = TestClient(app)
    for to, answer in (("a@csba.example", {"taken_by": "a@csba.example"}),
                       ("b@csba.example", {"ignored": "no mailbox takes it"})):
        response = client.post("/email/inbound", content=raw_mail(to, message_id=f"<{to}>"),
                               headers={"content-type": "message/rfc822"})
        assert (response.status_code, response.json()) == (202, answer)
    schema = client.get("/openapi.json").json()["paths"]["/email/inbound"]["post"]
    answers = schema["responses"]["202"]["content"]["application/json"]["schema"]["anyOf"]
    assert {a["$ref"].rsplit("/", 1)[1] for a in answers} == {"TakenOut", "IgnoredOut"}


def test_a_mail_we_send_carries_the_reply_address_of_the_mailbox_it_leads_to(
        store: Store, mail_relay: MailCatcher) -> None:
    channel = EmailChannel(store, SmtpSender(mail_relay.url), checks=checks_for_tests(),
                           mailboxes=[ByRecipient("a@csba.example"),
                                      ByRecipient("b@csba.example")])
    for number, kind in enumerate(("ask_back", "other")):
        channel.send(Delivery(number, "email", SENDER, "x", subject=kind, meta={"kind": kind}))
    sent = {str(m["Subject"]): m["Reply-To"] for m in mail_relay.wait_for(2)}
    assert sent == {"ask_back": "a@csba.example", "other": None}


def test_the_app_registers_hand_overs_then_sellers_answers_then_customers(
        settings: Settings, agent: Agent) -> None:
    boxes = mailboxes(agent.store, domain="csba.example", clock=settings.clock,
                      answer_case=agent.answer_case,
                      handover_addresses=settings.handover_addresses)
    assert [type(box) for box in boxes] == [HandoverMail, SellerMail, CustomerMail]
    # Without hand-over addresses or the agent, only what can be answered is registered.
    assert [type(box) for box in mailboxes(agent.store, domain="csba.example",
                                           clock=settings.clock)] == [CustomerMail]
