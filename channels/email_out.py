"""Outbound email over SMTP (``CSBA_SMTP_URL``): seller notifications and replies to customers.

Every message carries a Message-ID of ours and ``Auto-Submitted: auto-replied``; a reply in a
customer's thread carries In-Reply-To and References so their mail client threads it.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import urlparse

from channels.base import Delivery

DEFAULT_FROM = "Customer Service <service@csba.example>"


class SmtpSender:
    def __init__(self, url: str, *, sender: str = DEFAULT_FROM, timeout: float = 30.0) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in {"smtp", "smtps"} or not parsed.hostname:
            raise ValueError(f"SMTP URL must look like smtp://host:port, got {url!r}")
        self.host = parsed.hostname
        self.port = parsed.port or (465 if parsed.scheme == "smtps" else 25)
        self.tls = parsed.scheme == "smtps"
        self.username, self.password = parsed.username, parsed.password
        self.sender = sender
        self.timeout = timeout

    @property
    def domain(self) -> str:
        """The domain of our From address: our Message-IDs' and mailboxes' domain."""
        return parseaddr(self.sender)[1].rpartition("@")[2] or "csba.example"

    def compose(self, row: Delivery, *, reply_to: str | None = None) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = row.recipient
        if reply_to:  # a case notification: its answer must come to the case's secret address
            message["Reply-To"] = reply_to
        message["Subject"] = row.subject or str(row.meta.get("subject") or "Your inquiry")
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = str(row.meta.get("message_id") or make_msgid(domain="csba.example"))
        message["Auto-Submitted"] = "auto-replied"
        if row.meta.get("in_reply_to"):
            message["In-Reply-To"] = str(row.meta["in_reply_to"])
            message["References"] = str(row.meta.get("references") or row.meta["in_reply_to"])
        message.set_content(row.body)
        return message

    def send(self, row: Delivery, *, reply_to: str | None = None) -> None:
        factory = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
        with factory(self.host, self.port, timeout=self.timeout) as client:
            if self.username and self.password:
                client.login(self.username, self.password)
            client.send_message(self.compose(row, reply_to=reply_to))
