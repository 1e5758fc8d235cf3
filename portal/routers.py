"""The portal's routers as the app mounts them: each builds its services and its auth once
and joins the API and page routers of one part of the portal."""

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
from portal.operator_api import operator_api
from portal.report_pages import report_pages
from portal.reports import Reports, reports_api
from portal.sign_in import sign_in_router


def joined(*routers: APIRouter) -> APIRouter:
    router = APIRouter()
    for part in routers:
        router.include_router(part)
    return router


def seller_portal_router(agent: Agent, *, clock: Callable[[], datetime] | None = None
                         ) -> APIRouter:
    """The portal's sign-in, and the cases: API (``/v1/seller/...``, Bearer token) and pages
    (``/seller...``, the portal's cookie)."""
    auth = PortalAuth(agent.store)
    cases = Cases(agent, clock or wall_clock)
    return joined(case_api(cases, auth), sign_in_router(auth), case_pages(cases, auth))


def seller_account_router(store: Store, settings: Settings, *,
                          clock: Callable[[], datetime] | None = None) -> APIRouter:
    """The seller's account (``/v1/seller/...``, ``/seller/...``) and the operators who
    decide claims (``/v1/operator/...``)."""
    auth = PortalAuth(store, settings.operator_token)
    account = Account(store, settings, clock or settings.clock)
    return joined(enrolment_api(account, auth), statements_api(account, auth),
                  claims_api(account, auth), operator_api(account, auth),
                  account_pages(account, auth), enrolment_pages(account, auth),
                  statement_pages(account, auth))


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
    return joined(reports_api(reports, auth), report_pages(reports, auth))
