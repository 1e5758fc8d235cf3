"""The portal's routers as the app mounts them: each builds its services and its auth once
and joins the API and page routers of one part of the portal, whose routes find that auth
through the dependencies of ``portal/deps.py``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from fastapi import APIRouter

from agent.core import Agent
from agent.db import Store
from agent.messages import MessageHandler
from base.clock import wall_clock
from base.settings import DEFAULT_SELLER_SUPPORT_URL, Settings
from portal.account import Account
from portal.account_api import claims_api, enrolment_api, statements_api
from portal.account_pages import account_pages, enrolment_pages, statement_pages
from portal.auth import PortalAuth
from portal.cases import Cases, case_api, case_pages
from portal.deps import provide_auth
from portal.operator_api import operator_api
from portal.report_pages import report_pages
from portal.reports import Reports, reports_api
from portal.sign_in import sign_in_router


def joined(auth: PortalAuth, *routers: APIRouter) -> APIRouter:
    """The routers as one, every route of them answered with ``auth`` in place."""
    router = APIRouter(dependencies=[provide_auth(auth)])
    for part in routers:
        router.include_router(part)
    return router


def seller_portal_router(agent: Agent, *, clock: Callable[[], datetime] | None = None
                         ) -> APIRouter:
    """The portal's sign-in, and the cases: API (``/v1/seller/...``, Bearer token) and pages
    (``/seller...``, the portal's cookie)."""
    auth = PortalAuth(agent.store)
    cases = Cases(agent, clock or wall_clock)
    return joined(auth, case_api(cases), sign_in_router(), case_pages(cases))


def seller_account_router(store: Store, settings: Settings, *,
                          clock: Callable[[], datetime] | None = None) -> APIRouter:
    """The seller's account (``/v1/seller/...``, ``/seller/...``) and the operators who
    decide claims (``/v1/operator/...``)."""
    auth = PortalAuth(store, settings.operator_token)
    account = Account(store, settings, clock or settings.clock)
    return joined(auth, enrolment_api(account), statements_api(account), claims_api(account),
                  operator_api(account), account_pages(account), enrolment_pages(account),
                  statement_pages(account))


def seller_reports_router(store: Store, handle: MessageHandler, *,
                          handover_addresses: Mapping[str, str],
                          clock: Callable[[], datetime] | None = None,
                          seller_support_url: str = DEFAULT_SELLER_SUPPORT_URL) -> APIRouter:
    """Hand-overs, resolution summaries and page gaps. ``handle`` is the handler every
    channel uses: a handed-over message gets the same turn. ``seller_support_url`` is where
    every resolution summary sends the seller's questions."""
    reports = Reports(store, handle, handover_addresses=handover_addresses,
                      now=clock or wall_clock, seller_support_url=seller_support_url)
    auth = PortalAuth(store)
    return joined(auth, reports_api(reports), report_pages(reports))
