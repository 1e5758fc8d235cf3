"""Chat logins signed as a host site signs them, with the key every test service is given."""

from __future__ import annotations

from datetime import datetime, timedelta

from channels.chat_identity import sign_identity

CHAT_IDENTITY_SECRET = "test-chat-identity-secret-4e8a"
# The instant tests/conftest.py starts every service's clock at.
CLOCK_START = "2026-11-25T10:00:00+00:00"


def chat_token(contact: str, valid_for: timedelta = timedelta(hours=1)) -> str:
    """The host site's signed login of ``contact``, valid for a while from the test clock."""
    expires = datetime.fromisoformat(CLOCK_START) + valid_for
    return sign_identity(CHAT_IDENTITY_SECRET, contact, int(expires.timestamp()))
