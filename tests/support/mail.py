"""A real SMTP relay on loopback (aiosmtpd) that keeps every message it is given.

Outbound mail in tests goes through ``smtplib`` to this server, so what a test reads is what
a real relay would have received: envelope and parsed message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.net import free_port


class MailCatcher:
    """The relay's handler: ``received`` holds (envelope, message) in arrival order."""

    def __init__(self) -> None:
        self.received: list[tuple[Envelope, EmailMessage]] = []
        self.port = 0
        self._arrived = threading.Condition()

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, message in self.received]

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        with self._arrived:
            parsed = message_from_bytes(content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            self.received.append((envelope, parsed))
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """Block until ``count`` messages arrived (for mail sent by a server's own thread)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.received)} of {count} mails arrived")
                self._arrived.wait(left)
        return self.messages


@contextmanager
def running_relay() -> Iterator[MailCatcher]:
    catcher = MailCatcher()
    catcher.port = free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=catcher.port)
    controller.start()
    try:
        yield catcher
    finally:
        controller.stop()
