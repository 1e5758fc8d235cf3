"""Chat identity tokens: the host site signs which customer is logged in; the chat trusts
nothing else.

A token is ``v1.<expires>.<contact>.<signature>``: ``expires`` in Unix seconds, ``contact`` the
customer's email address (or phone number in E.164), ``signature`` the lower-case hex
HMAC-SHA256, keyed with ``CSBA_CHAT_IDENTITY_SECRET``, of everything before the last dot
(``v1.<expires>.<contact>``). This module never logs a token or a contact.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta

VERSION = "v1"
MAX_LIFETIME = timedelta(hours=24)  # a token valid longer than this is refused: sign per page
MAX_TOKEN_CHARS = 512
_EMAIL = re.compile(r"^[^@\s.][^@\s]*@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")


class InvalidIdentity(ValueError):
    """The identity token is malformed, forged or expired; the message says which."""


def sign_identity(secret: str, contact: str, expires: int) -> str:
    """A token for ``contact`` valid until ``expires`` (Unix seconds): what a host site makes."""
    payload = f"{VERSION}.{expires}.{contact}"
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{signature}"


def verify_identity(secret: str | None, token: str, now: datetime) -> str:
    """The contact a valid token vouches for (an email lower-cased, or a phone number); raises
    ``InvalidIdentity`` saying precisely what is wrong otherwise."""
    if not secret:
        raise InvalidIdentity("identity_token: this service verifies no chat identities "
                              "(CSBA_CHAT_IDENTITY_SECRET is not set); start without one")
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidIdentity(f"identity_token: longer than {MAX_TOKEN_CHARS} characters")
    payload, _, signature = token.rpartition(".")
    version, _, rest = payload.partition(".")
    expires_text, _, contact = rest.partition(".")
    if version != VERSION or not expires_text.isdigit() or not contact or not signature:
        raise InvalidIdentity("identity_token: expected v1.<expires>.<contact>.<signature>")
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise InvalidIdentity("identity_token: the signature does not match "
                              "(HMAC-SHA256 of v1.<expires>.<contact> with the shared secret)")
    expires = int(expires_text)
    stamp = int(now.timestamp())
    if expires <= stamp:
        raise InvalidIdentity(f"identity_token: expired {stamp - expires} s ago; sign a new one")
    if expires - stamp > MAX_LIFETIME.total_seconds():
        raise InvalidIdentity("identity_token: valid for more than 24 hours; sign tokens that "
                              "expire sooner")
    if _EMAIL.match(contact):
        return contact.lower()
    if _PHONE.match(contact):
        return contact
    raise InvalidIdentity("identity_token: the contact must be an email address or an E.164 "
                          "phone number")
