"""Reading the customer's message out of forwards as the common clients write them."""

from __future__ import annotations

import pytest

from channels.forwards import read_forward
from tests.handover.mails import (
    APPLE,
    GMAIL,
    GMAIL_DE,
    HANDOVER_CN,
    HANDOVER_DE,
    OUTLOOK,
    OUTLOOK_DE,
    REPLY_CHAIN,
    SPANISH,
    attached,
    forward,
)
from tests.support.scenarios import DELIVERED_DESK_LAMP_DE

BODY = f"Hallo, wo ist meine Bestellung {DELIVERED_DESK_LAMP_DE.order_id}?\n\nViele Grüße\nJana"
SELLER = "service@lichtwerk-home.example"


@pytest.mark.parametrize(("template", "customer", "subject", "note"), [
    (GMAIL, "jana.becker@example.de", "Wo bleibt meine Lampe?", "Bitte übernehmen Sie das."),
    (OUTLOOK, "jessica.martinez@example.com", "Charger", "Please take this one."),
    (OUTLOOK_DE, "miriam.koch@example.de", "Rückgabe", "Bitte übernehmen."),
    (APPLE, "jana.becker@example.de", "Frage", ""),
    (GMAIL_DE, "jana.becker@example.de", "Frage", ""),
    (SPANISH, "elena.navarro@example.es", "Pedido", "Por favor, respondan ustedes."),
], ids=["gmail", "outlook", "outlook-de", "apple", "gmail-de", "spanish"])
def test_inline_forwards_of_the_common_clients(template: str, customer: str, subject: str,
                                               note: str) -> None:
    found = read_forward(forward(template.format(body=BODY), sender=SELLER, to=HANDOVER_DE))
    assert found is not None
    assert (found.kind, found.text, found.customer, found.subject, found.note) == (
        "inline", BODY, customer, subject, note)


def test_an_attached_message_is_read_with_its_message_id() -> None:
    found = read_forward(attached(
        "I want to return the charger.\n\nJessica", customer="Jessica <Jessica@Example.com>",
        sender=SELLER, to=HANDOVER_CN, note="Please take over.",
        customer_message_id="<orig.1@example.com>"))
    assert found is not None
    assert (found.kind, found.text, found.customer, found.message_id, found.note) == (
        "attached", "I want to return the charger.\n\nJessica", "jessica@example.com",
        "<orig.1@example.com>", "Please take over.")


def test_a_reply_chain_yields_the_quoted_customer_message() -> None:
    text = REPLY_CHAIN.format(body="Ich möchte die Bettwäsche zurückgeben.")
    found = read_forward(forward(text, sender=SELLER, to=HANDOVER_DE))
    assert found is not None
    assert (found.kind, found.text, found.customer, found.note) == (
        "reply_chain", "Ich möchte die Bettwäsche zurückgeben.\n\nViele Grüße",
        "miriam.koch@example.de", "Bitte übernehmen Sie diese Anfrage.")


def test_an_html_only_gmail_forward_keeps_the_forwarded_part() -> None:
    message = forward("", sender=SELLER, to=HANDOVER_DE)
    message.set_content(
        '<div dir="ltr">Bitte übernehmen.<br><br><div class="gmail_quote">'
        '<div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>'
        "From: <strong>Jana Becker</strong> &lt;jana.becker@example.de&gt;<br>"
        "Date: Tue, Nov 24, 2026 at 9:12 AM<br>Subject: Lampe<br></div><br><br>"
        "<div>Wie schwer ist die Lampe?</div></div></div>", subtype="html")
    found = read_forward(message)
    assert found is not None
    assert (found.text, found.customer, found.note) == (
        "Wie schwer ist die Lampe?", "jana.becker@example.de", "Bitte übernehmen.")


def test_the_customers_own_quotes_and_signature_are_not_their_message() -> None:
    body = ("Is it waterproof?\n\n--\nJessica Martinez\n+1 214 555 0109\n\n"
            "On Mon, Nov 23, 2026 at 8:00 AM Brightway <support@brightway-tech.example> wrote:\n"
            "> Thank you for your order")
    found = read_forward(forward(OUTLOOK.format(body=body), sender=SELLER, to=HANDOVER_CN))
    assert found is not None and found.text == "Is it waterproof?"


@pytest.mark.parametrize("text", [
    f"Bitte übernehmen Sie die Bestellung {DELIVERED_DESK_LAMP_DE.order_id}.",
    "From: someone\n\nno forward header here",
    "---------- Forwarded message ---------\n\n",
])
def test_a_mail_without_a_forwarded_message_yields_none(text: str) -> None:
    assert read_forward(forward(text, sender=SELLER, to=HANDOVER_DE)) is None
