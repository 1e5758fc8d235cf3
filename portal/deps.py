"""The portal's FastAPI dependencies, named once: a route asks in its signature for what it
needs.

- ``SellerDep``: the seller of the request's bearer token (401 without a valid one);
- ``PageSellerDep``: the seller of the portal's cookie, or None: the page then redirects to
  the sign-in itself, after FastAPI validated its other parameters (a raising dependency
  would answer a redirect where a bad form is a 422);
- ``OperatorDep``: the operator token's check, for a router's ``dependencies`` (no route
  reads who the operator is);
- ``AuthDep`` and ``StoreDep``: the portal's auth and its store.

Each is resolved per request from the ``PortalAuth`` a router of ``portal/routers.py`` puts
in place with ``provide_auth``. Nothing here is built at import time but the two bearer
schemes, which only name the security schemes of the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, params
from fastapi.security import HTTPBearer

from agent.db import Store
from portal.auth import Credentials, PortalAuth, SignedIn

seller_bearer = HTTPBearer(auto_error=False, description="a seller token from issue_token")
operator_bearer = HTTPBearer(auto_error=False, scheme_name="OperatorToken",
                             description="the operator token (CSBA_OPERATOR_TOKEN)")


def provide_auth(auth: PortalAuth) -> params.Depends:
    """A router-level dependency that puts ``auth`` in place for the router's routes. FastAPI
    solves a route's router-level dependencies before the ones its parameters ask for, so
    every dependency below finds it."""

    def put_in_place(request: Request) -> None:
        request.state.portal_auth = auth

    return params.Depends(put_in_place)


def portal_auth(request: Request) -> PortalAuth:
    """The auth of the router whose route answers the request."""
    auth = getattr(request.state, "portal_auth", None)
    if not isinstance(auth, PortalAuth):
        raise RuntimeError("no portal auth in place: mount the portal's routes through the "
                           "routers of portal/routers.py")
    return auth


AuthDep = Annotated[PortalAuth, Depends(portal_auth)]


def portal_store(auth: AuthDep) -> Store:
    return auth.store


StoreDep = Annotated[Store, Depends(portal_store)]


def api_seller(auth: AuthDep,
               credentials: Annotated[Credentials, Depends(seller_bearer)]) -> str:
    return auth.api_seller(credentials)


SellerDep = Annotated[str, Depends(api_seller)]


def page_seller(auth: AuthDep, request: Request) -> SignedIn | None:
    return auth.page_seller(request)


PageSellerDep = Annotated[SignedIn | None, Depends(page_seller)]


def operator(auth: AuthDep,
             credentials: Annotated[Credentials, Depends(operator_bearer)]) -> None:
    auth.operator(credentials)


OperatorDep: params.Depends = params.Depends(operator)
