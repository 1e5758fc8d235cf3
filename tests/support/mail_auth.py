"""Mail as the checks of a real mail system see it: DKIM-signed with the test key published
by ``tests.support.dns``, or carrying the configured inbound provider's verdict.

A test that sends mail as a customer or a seller makes it with one of these; a test of a
forgery leaves it unsigned, or signs it for the attacker's own domain.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import parseaddr

import dkim

from channels.mail_auth import MailSenderChecks, sender_checks
from tests.support.dns import DKIM_DIR, SELECTOR, shared_test_dns

# The authserv-id the webhook tests configure as their inbound provider's.
AUTHSERV_ID = "mx.inbound-provider.example"


def as_bytes(message: EmailMessage | bytes) -> bytes:
    if isinstance(message, bytes):
        return message
    return message.as_bytes(policy=policy.SMTP)  # CRLF, as it goes over the wire


def from_domain(raw: bytes) -> str:
    for line in raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").split(b"\n"):
        if line.lower().startswith(b"from:"):
            return parseaddr(line[5:].decode("utf-8", "replace"))[1].rpartition("@")[2].lower()
    raise ValueError("the mail has no From header to sign for")


def dkim_signed(message: EmailMessage | bytes, *, domain: str | None = None) -> bytes:
    """The mail with a DKIM-Signature of ``domain`` (default: its From domain) on top."""
    raw = as_bytes(message)
    d = domain or from_domain(raw)
    signature = dkim.sign(raw, SELECTOR.encode(), d.encode(),
                          (DKIM_DIR / "test.key").read_bytes(),
                          canonicalize=(b"relaxed", b"relaxed"))
    return signature + raw


def provider_verified(message: EmailMessage | bytes, *, authserv_id: str = AUTHSERV_ID,
                      dmarc: str = "pass") -> bytes:
    """The mail with the inbound provider's Authentication-Results on top."""
    raw = as_bytes(message)
    d = from_domain(raw)
    header = (f"Authentication-Results: {authserv_id}; dkim={dmarc} header.d={d} "
              f"header.s={SELECTOR}; dmarc={dmarc} header.from={d}\r\n")
    return header.encode() + raw


def checks_for_tests() -> MailSenderChecks:
    """The checks of a channel a test builds itself: the test DNS, the test provider."""
    return sender_checks(shared_test_dns().nameserver, AUTHSERV_ID)
