"""Before a seller enrols, the portal explains the service: what is covered, the fee tables
with their VTR rates, the free trial and how to opt out; only that page's form enrols."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from agent.db import Store
from base.settings import Settings
from portal.auth import COOKIE, issue_token
from seller.enrolment_terms import enrolment_terms
from tests.seller.conftest import NOW, SELLER, Client, seller_record


def opted_out_portal(client_at: Client, store: Store) -> TestClient:
    """The seller opted out on 25 November and comes back to the portal ten days later."""
    token = issue_token(store, SELLER)
    client_at(NOW).post("/v1/seller/enrolment/opt-out",
                        headers={"Authorization": f"Bearer {token}"})
    later = client_at(NOW + timedelta(days=10))
    later.cookies.set(COOKIE, token)
    return later


def status(client: TestClient, store: Store) -> str:
    response = client.get("/v1/seller/enrolment",
                          headers={"Authorization": f"Bearer {issue_token(store, SELLER)}"})
    return str(response.json()["status"])


def test_enrolling_shows_the_service_before_the_seller_confirms(client_at: Client,
                                                                account_store: Store) -> None:
    portal = opted_out_portal(client_at, account_store)
    account = portal.get("/seller/account").text
    # The account page no longer enrols in one click: it leads to the explanation.
    assert 'href="/seller/account/enrolment"' in account
    assert 'name="action" value="enrol"' not in account

    # The seller reads German (its first language); the terms are checked in English.
    page = portal.get("/seller/account/enrolment", params={"lang": "en"})
    assert page.status_code == 200
    text = page.text
    # what is covered, and what is not
    assert "units you fulfil yourself (MFN)" in text and "24 hours a day" in text
    assert "Orders fulfilled by the marketplace (FBA)" in text and "invoices" in text
    # the fee tables, every band, and the VTR rates
    for fee in ("0.09 EUR", "0.41 EUR", "1.09 EUR", "2.55 EUR", "0.10 USD", "0.70 USD",
                "11 JPY", "163 JPY"):
        assert fee in text, fee
    assert "DE, ES, FR, IT, UK (EUR, the DE table)" in text
    assert "<th>VTR ≥ 95 %</th><th>VTR ≥ 90 %</th>" in text
    assert "<td>CPU ≤ 5 %</td><td>free</td><td>50 % of the fee</td>" in text
    # the trial (once, from the first enrolment on 5 January) and the opt-out
    assert "ended on 2026-02-04" in text and "runs only once" in text
    assert "You can opt out at any time" in text

    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', text))
    assert form["action"] == "enrol" and form["terms_read_on"] == "2026-11-25"

    # A confirmation that did not come from the page explains first and changes nothing.
    bare = portal.post("/seller/account/enrolment",
                       data={"action": "enrol", "csrf": form["csrf"]}, follow_redirects=False)
    assert bare.status_code == 303
    assert bare.headers["location"] == "/seller/account/enrolment"
    stale = portal.post("/seller/account/enrolment", data={**form, "terms_read_on": "2025-01-01"},
                        follow_redirects=False)
    assert stale.headers["location"] == "/seller/account/enrolment"
    assert status(portal, account_store) == "opted_out"

    done = portal.post("/seller/account/enrolment", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/seller/account?changed=enrol"
    assert status(portal, account_store) == "active"
    assert "Sie sind angemeldet." in portal.get("/seller/account/enrolment").text


def test_a_trial_still_running_is_shown_with_its_end(client_at: Client,
                                                     account_store: Store) -> None:
    account_store.save(sellers=[seller_record(enrolled_on="2026-11-20")])
    portal = opted_out_portal(client_at, account_store)
    text = portal.get("/seller/account/enrolment").text
    assert "läuft bis 2026-12-20" in text  # the seller reads German


def test_the_terms_are_served_as_json_and_follow_the_uk_setting(
        client: TestClient, seller_auth: dict[str, str]) -> None:
    terms = client.get("/v1/seller/enrolment/terms", headers=seller_auth).json()
    groups = {t["table_of"]: t["marketplaces"] for t in terms["fee_tables"]}
    assert groups == {"DE": ["DE", "ES", "FR", "IT", "UK"], "US": ["US"], "JP": ["JP"]}
    assert terms["trial_days"] == 30 and terms["trial_ends_on"] == "2026-02-04"
    # UK priced by the US table keeps its own VTR rates: a group of its own
    us_uk = [(t.marketplaces, t.table_of, t.currency)
             for t in enrolment_terms(uk_table="US").fee_tables]
    assert (["UK"], "US", "USD") in us_uk and (["DE", "ES", "FR", "IT"], "DE", "EUR") in us_uk


@pytest.mark.slow
def test_the_served_app_explains_before_enrolling(settings: Settings) -> None:
    from channels.app import create_app

    app = create_app(settings, smtp_server=False, outbox_worker=False)
    with TestClient(app) as http:
        store: Store = app.state.store
        store.save(sellers=[seller_record(opted_out_on="2026-06-01")])
        http.cookies.set(COOKIE, issue_token(store, SELLER))
        assert 'href="/seller/account/enrolment"' in http.get("/seller/account").text
        page = http.get("/seller/account/enrolment").text
        assert "Was abgedeckt ist" in page and "0.41 EUR" in page
        assert "jederzeit auf Ihrer Kontoseite abmelden" in page
        assert 'name="terms_read_on" value="2026-11-25"' in page
