"""The portal's dependencies (``portal/deps.py``): named once, each route finds the auth of
the router that mounts it, and a route mounted without one fails loudly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from agent.db import Store
from portal.auth import COOKIE, PortalAuth, issue_token
from portal.deps import OperatorDep, PageSellerDep, SellerDep, StoreDep, provide_auth

PORTAL = Path(__file__).resolve().parents[2] / "portal"
SELLER = "A5RIDGELINE"
TOKEN_A, TOKEN_B = "operator-a-" + "a" * 32, "operator-b-" + "b" * 32


def operator_router(auth: PortalAuth, path: str) -> APIRouter:
    """As ``portal/routers.py`` joins them: the auth put in place by the outer router, the
    operator's check on the inner one."""
    inner = APIRouter(dependencies=[OperatorDep])

    @inner.get(path)
    def read() -> dict[str, str]:
        return {"ok": path}

    outer = APIRouter(dependencies=[provide_auth(auth)])
    outer.include_router(inner)
    return outer


def test_each_route_finds_the_auth_of_its_own_router(store: Store) -> None:
    app = FastAPI()
    app.include_router(operator_router(PortalAuth(store, SecretStr(TOKEN_A)), "/a"))
    app.include_router(operator_router(PortalAuth(store, SecretStr(TOKEN_B)), "/b"))
    app.include_router(operator_router(PortalAuth(store), "/none"))
    client = TestClient(app)

    def status(path: str, token: str) -> int:
        return client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code

    assert (status("/a", TOKEN_A), status("/a", TOKEN_B)) == (200, 401)
    assert (status("/b", TOKEN_B), status("/b", TOKEN_A)) == (200, 401)
    assert (status("/none", TOKEN_A), status("/none", TOKEN_B)) == (401, 401)


def test_the_sellers_store_and_page_seller_come_from_the_router(store: Store) -> None:
    router = APIRouter(dependencies=[provide_auth(PortalAuth(store))])

    @router.get("/api")
    def api(seller_id: SellerDep, found: StoreDep) -> dict[str, object]:
        return {"seller": seller_id, "same_store": found is store}

    @router.get("/seller/page")
    def page(seller: PageSellerDep) -> dict[str, object]:
        return {"seller": seller.seller_id if seller else None}

    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)
    token = issue_token(store, SELLER)

    assert client.get("/api").status_code == 401
    assert client.get("/api", headers={"Authorization": f"Bearer {token}"}).json() == {
        "seller": SELLER, "same_store": True}
    assert client.get("/seller/page").json() == {"seller": None}  # the page decides
    client.cookies.set(COOKIE, token)
    assert client.get("/seller/page").json() == {"seller": SELLER}


def test_a_route_mounted_without_the_portal_auth_fails_loudly() -> None:
    app = FastAPI()

    @app.get("/stray")
    def stray(seller_id: SellerDep) -> str:
        return seller_id

    with pytest.raises(RuntimeError, match="no portal auth in place"):
        TestClient(app).get("/stray", headers={"Authorization": "Bearer x"})


def test_no_portal_module_declares_a_dependency_alias_of_its_own() -> None:
    """The aliases are named once, in ``portal/deps.py``; a router imports them."""
    declared = [f"{path.name}:{number}: {line.strip()}"
                for path in sorted(PORTAL.glob("*.py")) if path.name != "deps.py"
                for number, line in enumerate(path.read_text().splitlines(), 1)
                if re.search(r"=\s*Annotated\[.*Depends\(", line)]
    assert declared == []
