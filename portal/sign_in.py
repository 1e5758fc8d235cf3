"""The portal's sign-in and sign-out pages: a seller's token, exchanged for a cookie."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from portal.auth import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    PORTAL_PATH,
    SIGN_IN,
    seller_for_token,
    to_sign_in,
)
from portal.deps import PageSellerDep, StoreDep
from portal.pages import page
from portal.strings import page_language, say

log = logging.getLogger(__name__)


def language(request: Request) -> str:
    # No seller is known before the sign-in: English unless the page asks (``?lang=``).
    return page_language(None, request.query_params.get("lang"))


def sign_in_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def login_form(request: Request, error: str | None = None, status: int = 200) -> Response:
        csrf = secrets.token_hex(32)
        response = page("sign_in.html", status=status, csrf=csrf, error=error,
                        lang=language(request))
        response.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                            path=PORTAL_PATH, secure=request.url.scheme == "https")
        return response

    @router.get(SIGN_IN)
    def login_page(request: Request, seller: PageSellerDep) -> Response:
        if seller:
            return RedirectResponse("/seller/cases", status_code=303)
        return login_form(request)

    @router.post("/seller/login")
    def login(request: Request, store: StoreDep,
              token: Annotated[str, Form(max_length=200)] = "",
              csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
            log.warning("portal sign-in refused: the form's CSRF token did not match")
            return login_form(request, say(language(request), "sign_in_expired"),
                              status=403)
        token = token.strip()
        if not seller_for_token(store, token):
            return login_form(request, say(language(request), "sign_in_invalid"),
                              status=401)
        response = RedirectResponse("/seller/cases", status_code=303)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=PORTAL_PATH)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path=PORTAL_PATH,
                            secure=request.url.scheme == "https")
        return response

    @router.post("/seller/logout")
    def logout() -> Response:
        return to_sign_in(forget_cookie=True)

    return router
