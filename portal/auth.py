"""Who is asking: portal tokens, the seller of a bearer token or of the portal's cookie, the
operator's token, and the CSRF tokens of the portal's forms. The routes ask for them through
the dependencies of ``portal/deps.py``.

Tokens are stored only as SHA-256 hashes: a leaked table grants no access.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import SecretStr
from sqlalchemy import delete, select

from agent.db import Store
from agent.models import SellerTokenRow
from portal.strings import FALLBACK, page_language

log = logging.getLogger(__name__)

COOKIE = "csba_seller"
# The sign-in form's double-submit token: the same random value in a cookie and in the form.
# A page of another site can post the form but can neither read nor set the cookie, so it
# cannot sign a browser into an account of the attacker's choosing.
LOGIN_CSRF_COOKIE = "csba_login_csrf"
PORTAL_PATH = "/seller"  # the pages' prefix: the portal's cookies are sent to them only
SIGN_IN = "/seller"

# Which forms a CSRF token is for: a token of the case pages does not post an account form.
FormKind = Literal["cases", "account"]
_FORM_KEYS: dict[FormKind, bytes] = {"cases": b"seller-portal-form",
                                     "account": b"seller-account-form"}

# What a bearer scheme of ``portal/deps.py`` read from the request: None without a header.
Credentials = HTTPAuthorizationCredentials | None




def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(store: Store, seller_id: str) -> str:
    """A new portal token for a seller; only its hash is kept, so show it once."""
    if store.seller(seller_id) is None:
        raise ValueError(f"no seller {seller_id!r}")
    token = "csba_" + secrets.token_urlsafe(32)
    with store.sessions.begin() as session:
        session.add(SellerTokenRow(token_hash=hash_token(token), seller_id=seller_id,
                                   created_at=datetime.now(UTC)))
    log.info("portal token issued for seller %s", seller_id)
    return token


def revoke_tokens(store: Store, seller_id: str) -> int:
    """Remove every token of a seller; returns how many there were."""
    with store.sessions.begin() as session:
        result = session.execute(delete(SellerTokenRow).where(
            SellerTokenRow.seller_id == seller_id))
        return int(getattr(result, "rowcount", 0) or 0)


def seller_for_token(store: Store, token: str | None) -> str | None:
    if not token:
        return None
    with store.reads() as session:
        return session.scalar(select(SellerTokenRow.seller_id).where(
            SellerTokenRow.token_hash == hash_token(token)))


def display_name(store: Store, seller_id: str) -> str:
    seller = store.seller(seller_id)
    return seller.name if seller else seller_id


def form_csrf(token: str, form: FormKind) -> str:
    # Derived from the session's own token: a page of another site cannot know it.
    return hmac.new(token.encode("utf-8"), _FORM_KEYS[form], hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The seller signed in to the portal's pages, by its cookie."""

    seller_id: str
    token: str
    name: str  # shown in the page's header
    language: str = FALLBACK  # the pages' language (portal/strings.py)

    def csrf(self, form: FormKind) -> str:
        return form_csrf(self.token, form)

    def sent(self, csrf: str, form: FormKind) -> bool:
        """Whether a posted form carries this session's token for its kind of form."""
        return hmac.compare_digest(csrf, self.csrf(form))


def to_sign_in(*, forget_cookie: bool = False) -> RedirectResponse:
    """Where a page sends a browser that is not signed in. The case pages also drop the
    cookie, so a revoked token is not sent again."""
    response = RedirectResponse(SIGN_IN, status_code=303)
    if forget_cookie:
        response.delete_cookie(COOKIE, path=PORTAL_PATH)
    return response


class PortalAuth:
    """The checks that say who calls a route, for one store; ``portal/deps.py`` runs them
    per request for the routes that ask.

    A page's check answers the signed-in seller or None rather than raising: the route
    then redirects, after FastAPI validated its other parameters, as it always did.
    """

    def __init__(self, store: Store, operator_token: SecretStr | None = None) -> None:
        self.store = store
        self.operator_token = operator_token

    def api_seller(self, credentials: Credentials) -> str:
        """The seller of the request's bearer token; 401 without a valid one."""
        if credentials is None:
            raise HTTPException(401, "missing token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        seller_id = seller_for_token(self.store, credentials.credentials)
        if seller_id is None:
            raise HTTPException(401, "invalid or revoked token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return seller_id

    def page_seller(self, request: Request) -> SignedIn | None:
        """The seller of the portal's cookie, or None when it is missing or revoked."""
        token = request.cookies.get(COOKIE)
        seller_id = seller_for_token(self.store, token)
        if not seller_id or not token:
            return None
        seller = self.store.seller(seller_id)
        return SignedIn(seller_id, token, seller.name if seller else seller_id,
                        page_language(seller, request.query_params.get("lang")))

    def operator(self, credentials: Credentials) -> None:
        """401 unless the request carries the operator token (none set: nobody is one)."""
        if self.operator_token is None:
            raise HTTPException(401, "operator token missing or invalid",
                                headers={"WWW-Authenticate": "Bearer"})
        expected = self.operator_token.get_secret_value().encode("utf-8")
        given = (credentials.credentials if credentials else "").encode("utf-8")
        if not credentials or not hmac.compare_digest(given, expected):
            raise HTTPException(401, "operator token missing or invalid",
                                headers={"WWW-Authenticate": "Bearer"})
