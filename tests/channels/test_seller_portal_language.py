"""The seller portal in the seller's language: German for a German seller, Spanish for a
Spanish one, ``?lang=`` overriding it, English before anyone signs in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.core import Agent
from agent.db import Store
from portal.auth import COOKIE, issue_token
from portal.routers import seller_portal_router
from portal.strings import languages, page_language, say, strings_for
from tests.conftest import NOW, Say
from tests.support.scenarios import OVERDUE_BEDDING_DE

HTML_LANG = re.compile(r'<html lang="([a-z]{2})">')


@pytest.fixture()
def client(agent: Agent) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(seller_portal_router(agent, clock=lambda: datetime.fromisoformat(NOW)))
    with TestClient(app) as test_client:
        yield test_client


def signed_in(client: TestClient, store: Store, seller_id: str) -> TestClient:
    client.cookies.set(COOKIE, issue_token(store, seller_id))
    return client


def html_lang(html: str) -> str:
    found = HTML_LANG.search(html)
    assert found, "every page says its language"
    return found.group(1)


def test_every_language_has_every_string_the_english_table_has() -> None:
    english = strings_for("en")
    assert languages() == ["de", "en", "es", "fr", "it"]
    for language in languages():
        table = strings_for(language)
        assert table.keys() == english.keys()
        # A language that only fell back would say the English words: some must differ.
        if language != "en":
            assert sum(table[k] != english[k] for k in english) > len(english) // 2
    assert say("de", "case_title", case_id="CS-1") == "Fall CS-1"


def test_a_page_language_is_asked_else_the_sellers_else_english() -> None:
    assert page_language(None) == "en" and page_language(None, "es") == "es"
    assert page_language(None, "zh") == "en" and page_language(None, "DE") == "de"


@pytest.mark.slow
def test_a_german_seller_reads_the_portal_in_german(client: TestClient, store: Store,
                                                    say: Say) -> None:
    reply = say(f"Wo ist meine Bestellung? ({OVERDUE_BEDDING_DE.order_id})",
                sender=OVERDUE_BEDDING_DE.customer_email)
    assert reply.case_id
    signed_in(client, store, OVERDUE_BEDDING_DE.seller_id)  # A1LICHTWERK: de, en
    cases = client.get("/seller/cases").text
    assert html_lang(cases) == "de"
    assert "<h1>Ihre Fälle</h1>" in cases and ">Abmelden<" in cases
    assert "wartet auf Ihre Antwort" in cases and "Your cases" not in cases
    # The case itself was written for this seller: its question is German too.
    case = client.get(f"/seller/cases/{reply.case_id}").text
    assert html_lang(case) == "de" and f"Fall {reply.case_id}" in case
    assert "Was wir von Ihnen brauchen" in case and "Antwort an den Kunden senden" in case
    assert f"Bestellung {OVERDUE_BEDDING_DE.order_id} sollte am" in case
    # An explicit ?lang= overrides the seller's language, page by page.
    english = client.get("/seller/cases", params={"lang": "en"}).text
    assert html_lang(english) == "en" and "<h1>Your cases</h1>" in english
    missing = client.get("/seller/cases/CS-AAAAAAA")
    assert missing.status_code == 404 and html_lang(missing.text) == "de"
    assert "Für Ihr Konto gibt es keinen Fall CS-AAAAAAA." in missing.text


@pytest.mark.slow
def test_a_spanish_seller_reads_spanish_and_the_sign_in_is_english(client: TestClient,
                                                                  store: Store) -> None:
    form = client.get("/seller").text
    assert html_lang(form) == "en" and "Sign in" in form
    assert html_lang(client.get("/seller", params={"lang": "it"}).text) == "it"
    signed_in(client, store, "A2CASASOLEADA")  # es, en
    cases = client.get("/seller/cases").text
    assert html_lang(cases) == "es" and "<h1>Sus casos</h1>" in cases
    assert "Aún no hay casos." in cases
    signed_in(client, store, "A5RIDGELINE")  # en only
    assert html_lang(client.get("/seller/cases").text) == "en"
