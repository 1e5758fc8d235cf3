"""Forwarded mails as the common clients write them, built with the standard library."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

SELLER_DE = ("A1LICHTWERK", "service@lichtwerk-home.example")
SELLER_CN = ("A3BRIGHTWAY", "support@brightway-tech.example")
HANDOVER_DE, HANDOVER_CN = "handover-de@csba.example", "handover-cn@csba.example"

GMAIL = """Bitte übernehmen Sie das.

---------- Forwarded message ---------
From: Jana Becker <jana.becker@example.de>
Date: Tue, Nov 24, 2026 at 9:12 AM
Subject: Wo bleibt meine Lampe?
To: <service@lichtwerk-home.example>


{body}
"""

OUTLOOK = """Please take this one.

________________________________
From: Jessica Martinez <jessica.martinez@example.com>
Sent: Tuesday, November 24, 2026 9:12 AM
To: support@brightway-tech.example
Subject: Charger

{body}
"""

OUTLOOK_DE = """Bitte übernehmen.

-----Ursprüngliche Nachricht-----
Von: Miriam Koch [mailto:miriam.koch@example.de]
Gesendet: Dienstag, 24. November 2026 09:12
An: service@lichtwerk-home.example
Betreff: Rückgabe

{body}
"""

APPLE = """Begin forwarded message:

From: Jana Becker <jana.becker@example.de>
Subject: Frage
Date: 24. November 2026 at 09:12:00 CET
To: service@lichtwerk-home.example

{body}
"""

GMAIL_DE = """---------- Weitergeleitete Nachricht ---------
Von: Jana Becker <jana.becker@example.de>
Date: Di., 24. Nov. 2026 um 09:12 Uhr
Subject: Frage
To: <service@lichtwerk-home.example>

{body}
"""

SPANISH = """Por favor, respondan ustedes.

---------- Mensaje reenviado ---------
De: Elena Navarro <elena.navarro@example.es>
Enviado: martes, 24 de noviembre de 2026 9:12
Para: service@lichtwerk-home.example
Asunto: Pedido

{body}
"""

REPLY_CHAIN = """Bitte übernehmen Sie diese Anfrage.

Am Di., 24. Nov. 2026 um 09:12 Uhr schrieb Miriam Koch <miriam.koch@example.de>:
> {body}
>
> Viele Grüße
"""


def forward(body: str, *, sender: str, to: str, subject: str = "Fwd: Kundenanfrage",
            message_id: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Wed, 25 Nov 2026 11:00:00 +0100"
    message["Message-ID"] = message_id or make_msgid(domain="seller.example")
    message.set_content(body)
    return message


def attached(customer_text: str, *, customer: str, sender: str, to: str, note: str,
             customer_message_id: str, subject: str = "Charger") -> EmailMessage:
    original = EmailMessage()
    original["From"] = customer
    original["To"] = sender
    original["Subject"] = subject
    original["Date"] = "Tue, 24 Nov 2026 09:12:00 -0500"
    original["Message-ID"] = customer_message_id
    original.set_content(customer_text)
    message = forward(note, sender=sender, to=to, subject=f"Fwd: {subject}")
    message.add_attachment(original)  # message/rfc822, as "forward as attachment" sends it
    return message
