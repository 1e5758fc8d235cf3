"""Every page a German seller reads is German: no English left in the visible text of the
account, enrolment, statements (notes, discounts, chart), cases, claims refusals, hand-over,
page gaps and resolution pages; a Spanish seller's statements are Spanish likewise."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage, Reply
from agent.models import CaseRow, ConversationRow, RefundRow, TrackingRateRow
from base.settings import DEFAULT_HANDOVER_ADDRESSES, Settings
from portal.auth import COOKIE, issue_token
from portal.routers import seller_account_router, seller_portal_router, seller_reports_router
from portal.statement_text import said_notes, said_vtr_discount
from seller.months import Month
from seller.statements import statements_for
from tests.seller.conftest import NOW, SELLER, order_record, seller_record

# English a German page must not say: words of running text and the phrases that were left.
ENGLISH_WORDS = re.compile(
    r"\b(the|and|you|your|is|are|of|for|fee|units?|orders?|unknown|questions?|refunds?|"
    r"claims?|rule|shipment|product_question|months?|answered|photo|covered|enrolled|"
    r"applies|charged|free|tracking|returnless|seller|pending|progress|filed|abuse)\b",
    re.IGNORECASE)
ENGLISH_PHRASES = ("Contacts per unit over", "unknown CPU", "Fewer than", "Questions customers",
                   "You can opt out", "opted out", "The month is not over", "No public fee",
                   "has no such refund", "(rule ")
# The attributes a reader sees or hears: a bar's tooltip, a chart's name, a field's hint.
SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
CODES = re.compile(r"\b[a-z]+(\.[a-z_]+)+\b")  # a rule's stable code, e.g. claim.outside_window


class VisibleText(HTMLParser):
    """The text a reader sees: data outside scripts and styles, and shown attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.hidden += 1
        self.parts.extend(value for name, value in attrs if name in SHOWN_ATTRIBUTES and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def english_in(html: str) -> list[str]:
    """The English words and phrases of a page's visible text; a rule's code is not English."""
    # A code shown for a name ("returnless_refund") is read as its words.
    text = CODES.sub(" ", visible(html)).replace("_", " ")
    return ([p for p in ENGLISH_PHRASES if p in text]
            + sorted({m.group(0) for m in ENGLISH_WORDS.finditer(text)}))


def _no_turns(message: InboundMessage) -> Reply:
    raise AssertionError("these pages run no turn")


def _add_case(store: Store, order_id: str, category: str, topic: str | None) -> str:
    case_id = f"CS-{uuid.uuid4().hex[:7].upper()}"
    with store.sessions.begin() as session:
        conversation = ConversationRow(
            id=uuid.uuid4().hex, channel="chat", thread_key=uuid.uuid4().hex,
            contact="session", misunderstood=0, state={}, created_at=NOW, updated_at=NOW)
        session.add(conversation)
        session.flush()
        session.add(CaseRow(
            id=case_id, seller_id=SELLER, order_id=order_id, marketplace="DE",
            asins=["B0KONTOR01"], category=category, question="Wo bleibt das Paket?",
            needs="Sendungsstatus", topic=topic, status="awaiting_seller",
            created_at=NOW - timedelta(hours=2), due_at=NOW + timedelta(hours=22),
            add_to_knowledge=False, conversation_id=conversation.id, language="de"))
    return case_id


@pytest.fixture()
def portal(account_store: Store, account_settings: Settings, account_agent: Agent
           ) -> TestClient:
    app = FastAPI()
    app.include_router(seller_account_router(account_store, account_settings,
                                             clock=lambda: NOW))
    app.include_router(seller_portal_router(account_agent, clock=lambda: NOW))
    app.include_router(seller_reports_router(account_store, _no_turns,
                                             handover_addresses=DEFAULT_HANDOVER_ADDRESSES,
                                             clock=lambda: NOW))
    return TestClient(app)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the account page carries its form token"
    return found.group(1)


def test_a_german_sellers_pages_say_no_english(portal: TestClient,
                                              account_store: Store) -> None:
    # 40 units in August fix a known CPU for October (with the VTR table's discount); July's
    # basis has none (unknown CPU); November is not over; UK borrows a fee table.
    order = order_record(purchased="2026-10-03", shipped="2026-10-04")
    returned = order_record(purchased="2026-11-03", shipped="2026-11-04")
    account_store.save(orders=[returned,
        order_record(purchased="2026-08-03", shipped="2026-08-04", quantity=40),
        order, order_record(purchased="2026-07-03", shipped="2026-07-04"),
        order_record(marketplace="UK", purchased="2026-10-05", shipped="2026-10-06")])
    with account_store.sessions.begin() as session:
        session.add(RefundRow(order_id=order.order_id, asin="B0KONTOR01", seller_id=SELLER,
                              amount=20, currency="EUR", reason="beschädigt",
                              rule="refund.seller", issued_by="seller", cause="seller:1",
                              issued_at=NOW - timedelta(days=3)))
        # The service's refund, claimed back below; October's VTR earns the free cell.
        session.add(RefundRow(order_id=returned.order_id, asin="B0KONTOR01", seller_id=SELLER,
                              amount=20, currency="EUR", reason="defective",
                              rule="DE.window.30d", cause="case:1",
                              issued_at=NOW - timedelta(days=2)))
        session.add(TrackingRateRow(seller_id=SELLER, month="2026-10", rate="0.97",
                                    source="operator", recorded_at=NOW))
    shipment = _add_case(account_store, order.order_id, "shipment", None)
    question = _add_case(account_store, order.order_id, "product_question",
                         "attributes.app_control")
    portal.cookies.set(COOKIE, issue_token(account_store, SELLER))

    pages = {path: portal.get(path) for path in (
        "/seller/account", "/seller/account/enrolment", "/seller/statements?month=2026-10",
        "/seller/statements?month=2026-07", "/seller/statements?month=2026-11",
        "/seller/statements?month=2027-01", "/seller/statements?month=11-2026",
        "/seller/cases", f"/seller/cases/{shipment}", f"/seller/cases/{question}",
        "/seller/handover", "/seller/page-gaps", "/seller/page-gaps?period=week",
        f"/seller/resolution?order_id={order.order_id}")}
    csrf = _csrf(pages["/seller/account"].text)
    filed = portal.post("/seller/claims", data={
        "csrf": csrf, "order_id": returned.order_id, "reason": "returned_unsellable",
        "description": "Unverkäuflich zurückgekommen"}, follow_redirects=True)
    assert filed.status_code == 200 and "eingereicht" in visible(filed.text)
    pages["claim filed"] = filed
    # A claim on the seller's own refund is refused by a rule: said in German.
    refused = portal.post("/seller/claims", data={
        "csrf": csrf, "order_id": order.order_id, "reason": "returned_unsellable",
        "description": "Beschädigt zurückgekommen"})
    assert refused.status_code == 422 and "claim.not_service_issued" in refused.text
    assert f"Zur Bestellung {order.order_id} gibt es keine solche" in refused.text
    pages["claim refused"] = refused
    # Opting out answers on the account page.
    pages["opted out"] = portal.post("/seller/account/enrolment",
                                     data={"csrf": csrf, "action": "opt_out"})

    october = visible(pages["/seller/statements?month=2026-10"].text)
    assert "Kontakte pro Einheit in den letzten 12 Monaten" in october
    assert "Für UK gibt es keine öffentliche Gebührentabelle" in october
    assert "Rabatt: Rate gültiger Sendungsnummern 97 %" in october and "(kostenlos)" in october
    assert "Unbekannte CPU" in visible(pages["/seller/statements?month=2026-07"].text)
    assert "vorläufig" in visible(pages["/seller/statements?month=2026-11"].text)
    assert "Der Monat 2027-01 hat noch nicht begonnen" in visible(
        pages["/seller/statements?month=2027-01"].text)
    assert "Versand" in visible(pages["/seller/cases"].text)
    assert "Produktfrage" in visible(pages[f"/seller/cases/{question}"].text)
    assert "Sie können sich jederzeit" in visible(pages["/seller/account/enrolment"].text)
    for path, response in pages.items():
        assert response.status_code in (200, 422), path
        assert 'lang="de"' in response.text, path
        assert english_in(response.text) == [], path


def test_a_spanish_sellers_statements_say_no_english(client_at: object,
                                                   account_store: Store,
                                                   account_settings: Settings) -> None:
    spanish = seller_record("A3SOLANA", country="ES").model_copy(
        update={"languages": ["es", "en"]})
    account_store.save(sellers=[spanish], orders=[
        order_record(seller_id="A3SOLANA", marketplace="ES", purchased=f"2026-{m:02d}-03",
                     shipped=f"2026-{m:02d}-04") for m in (9, 10, 11)])
    app = FastAPI()
    app.include_router(seller_account_router(account_store, account_settings,
                                             clock=lambda: NOW))
    client = TestClient(app)
    client.cookies.set(COOKIE, issue_token(account_store, "A3SOLANA"))
    for month in ("2026-10", "2026-11"):
        page = client.get("/seller/statements", params={"month": month})
        assert page.status_code == 200 and 'lang="es"' in page.text
        text = visible(page.text)
        assert "Contactos por unidad en los últimos 12 meses" in text
        assert "CPU desconocido (menos de 30 unidades en 3 meses)" in text
        assert english_in(page.text) == [], month


def test_the_notes_said_again_in_english_are_the_statements_own(account_store: Store
                                                                ) -> None:
    # The page says a statement's notes and discount again from its figures: in English they
    # must read word for word as the statement's, or the two have drifted apart.
    account_store.save(orders=[
        order_record(purchased="2026-08-03", shipped="2026-08-04", quantity=40),
        order_record(purchased="2026-01-06", shipped="2026-01-07", quantity=2),
        order_record(purchased="2026-07-03", shipped="2026-07-04"),
        order_record(purchased="2026-10-03", shipped="2026-10-04"),
        order_record(purchased="2026-11-03", shipped="2026-11-04")])
    with account_store.sessions.begin() as session:
        session.add(TrackingRateRow(seller_id=SELLER, month="2026-10", rate="0.92",
                                    source="operator", recorded_at=NOW))
    said = []
    for month in ("2026-01", "2026-07", "2026-09", "2026-10", "2026-11"):
        for s in statements_for(account_store, SELLER, Month.parse(month),
                                today=NOW.date()).statements:
            assert said_notes(s, "en") == s.notes, month
            said.extend(s.notes)
            for d in s.discounts:
                assert said_vtr_discount(s, "en") == d.reason, month
                said.append(d.reason)
    # Every kind of note was compared: trial, unknown CPU, VTR cell, no VTR, provisional.
    assert any("free trial" in n for n in said) and any("Fewer than" in n for n in said)
    assert any(n.startswith("Valid tracking rate of") for n in said)
    assert any(n.startswith("No valid tracking rate") for n in said)
    assert any("provisional" in n for n in said) and any("50 % of the fee" in n for n in said)
