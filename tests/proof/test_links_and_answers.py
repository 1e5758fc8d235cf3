"""Proof: a seller's published answer survives re-ingest and prune; links and numbers in page
or seller text reach a customer only when they are the marketplace's or the seller's own.

Real parts: SQLite, the index with the embedding model, ``seller.ingest.ingest`` on catalog files
in each format, the agent's turns and ``Agent.answer_case`` (the one entry for a seller's
answer).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.core import Agent
from agent.db import Store, make_engine
from agent.messages import InboundMessage, Reply
from agent.models import CaseRow, ConversationRow, OutboxRow, PageRow
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage
from seller.ingest import ingest, read_inputs
from seller.page_gaps import page_gap_report
from tests.support.scenarios import (
    DELIVERED_HEADLAMP_US,
    EXPIRED_BEDDING_DE,
    EXPIRED_DINNERWARE_ES,
    Scenario,
)

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parents[1] / "fixtures"
NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)
HEADLAMP = ("B0USRL3HL4", "US")
HEADLAMP_ORDER = DELIVERED_HEADLAMP_US
PETZL = "Does the headlamp fit on a Petzl bicycle helmet mount?"
ANSWER = "Yes, it fits the Petzl helmet mount with the adapter in the box."


def catalog_file(path: Path, pages: list[ProductPage], **extra: object) -> Path:
    path.write_text("".join(json.dumps({**p.model_dump(mode="json"), **extra}) + "\n"
                            for p in pages), encoding="utf-8")
    return path


def ask(agent: Agent, order: Scenario, text: str, thread: str) -> Reply:
    order_id, email = order.order_id, order.customer_email
    return agent.handle(InboundMessage(
        channel="email", sender=email, text=f"{text} ({order_id})", thread_key=thread,
        received_at=NOW, provider_message_id=f"{thread}-{uuid.uuid4().hex[:8]}",
        verified_contact=email))


def indexed_answers(index: KnowledgeIndex, asin: str, marketplace: str) -> dict[str, str]:
    rows = index.lexical.chunk_rows(sorted(index.lexical.page_chunk_ids(asin, marketplace)))
    return {r["field"]: r["text"] for r in rows.values()
            if r["field"].startswith("seller_answers[")}


def open_case(store: Store, asin: str, marketplace: str, seller_id: str) -> str:
    """A product-question case as the agent opens it (for a page no demo order names)."""
    case_id = "CS-" + uuid.uuid4().hex[:7].upper()
    with store.sessions.begin() as session:
        conv = ConversationRow(id=uuid.uuid4().hex, channel="chat", thread_key=uuid.uuid4().hex,
                               contact="session", misunderstood=0, state={}, created_at=NOW,
                               updated_at=NOW, language="de")
        session.add(conv)
        session.flush()
        session.add(CaseRow(id=case_id, seller_id=seller_id, order_id=None,
                            marketplace=marketplace, asins=[asin],
                            category="product_question", question="Q: battery", needs="-",
                            status="awaiting_seller", created_at=NOW,
                            due_at=NOW + timedelta(hours=24), conversation_id=conv.id,
                            language="de"))
    return case_id


@pytest.fixture()
def headlamp_agent(tmp_path: Path, store: Store, index: KnowledgeIndex,
                   demo_pages: list[ProductPage]) -> Agent:
    """The agent on its own index holding the headlamp, ingested from a catalog file."""
    headlamp = [p for p in demo_pages if p.key == HEADLAMP]
    ingest(read_inputs(catalogs=[catalog_file(tmp_path / "headlamp.jsonl", headlamp)]),
           store, index)
    return Agent(store, index, portal_url="http://127.0.0.1:8000/seller")


def answer_petzl_question(agent: Agent) -> str:
    first = ask(agent, HEADLAMP_ORDER, PETZL, "first")
    assert first.outcome == "escalated" and first.case_id
    agent.answer_case(first.case_id, "A5RIDGELINE", ANSWER, add_to_knowledge=True,
                      now=NOW + timedelta(hours=2))
    return first.case_id


# --- seller answers survive re-ingest -----------------------------------------------------------


def test_a_reingested_page_keeps_its_consented_answer(
        tmp_path: Path, headlamp_agent: Agent, store: Store, index: KnowledgeIndex,
        demo_pages: list[ProductPage]) -> None:
    agent = headlamp_agent
    case_id = answer_petzl_question(agent)
    headlamp = [p for p in demo_pages if p.key == HEADLAMP]
    ingest(read_inputs(catalogs=[catalog_file(tmp_path / "again.jsonl", headlamp)]),
           store, index)
    assert ANSWER in indexed_answers(index, *HEADLAMP).values()
    later = ask(agent, HEADLAMP_ORDER, PETZL, "second")
    assert later.outcome == "answered" and "Petzl helmet mount" in later.text
    assert [c.kind for c in later.citations] == ["seller_answer"]
    # The seller's report still shows the answer on the page.
    [gap] = page_gap_report(store, "A5RIDGELINE").gaps
    assert gap.case_id == case_id and gap.added_to_page and gap.answer == ANSWER


def test_prune_keeps_the_answers_and_a_returning_page_gets_them_back(
        tmp_path: Path, headlamp_agent: Agent, store: Store, index: KnowledgeIndex,
        demo_pages: list[ProductPage]) -> None:
    answer_petzl_question(headlamp_agent)
    headlamp = [p for p in demo_pages if p.key == HEADLAMP]
    other = [p for p in demo_pages if p.key == ("B0USRL45BP", "US")]
    # Pruned with the page in the catalog: its answer stays indexed.
    ingest(read_inputs(catalogs=[catalog_file(tmp_path / "both.jsonl", headlamp + other)]),
           store, index, prune=True)
    assert ANSWER in indexed_answers(index, *HEADLAMP).values()
    # Pruned away, then back: the answer comes back with it.
    ingest(read_inputs(catalogs=[catalog_file(tmp_path / "other.jsonl", other)]),
           store, index, prune=True)
    assert indexed_answers(index, *HEADLAMP) == {}
    assert store.page(*HEADLAMP) is None
    ingest(read_inputs(catalogs=[catalog_file(tmp_path / "back.jsonl", headlamp)]),
           store, index)
    assert ANSWER in indexed_answers(index, *HEADLAMP).values()
    assert page_gap_report(store, "A5RIDGELINE").gaps[0].added_to_page


def test_an_html_page_reingested_keeps_its_answer(
        store: Store, index: KnowledgeIndex) -> None:
    html = read_inputs(catalogs=[FIXTURES / "product_page_de.html"])
    ingest(html, store, index)
    [page] = html.pages
    agent = Agent(store, index, portal_url="http://127.0.0.1:8000/seller")
    case_id = open_case(store, page.asin, page.marketplace, page.seller_id)
    agent.answer_case(case_id, page.seller_id, "Der Akku hält etwa 12 Stunden bei halber "
                      "Helligkeit.", add_to_knowledge=True, now=NOW)
    assert len(indexed_answers(index, page.asin, page.marketplace)) == 1
    ingest(read_inputs(catalogs=[FIXTURES / "product_page_de.html"]), store, index)
    assert list(indexed_answers(index, page.asin, page.marketplace).values()) == [
        "Der Akku hält etwa 12 Stunden bei halber Helligkeit."]


def test_a_catalog_lines_own_answers_come_first_and_the_published_ones_follow(
        tmp_path: Path, headlamp_agent: Agent, store: Store, index: KnowledgeIndex,
        demo_pages: list[ProductPage]) -> None:
    answer_petzl_question(headlamp_agent)
    headlamp = [p for p in demo_pages if p.key == HEADLAMP]
    own = "The strap is washable by hand."
    ingest(read_inputs(catalogs=[catalog_file(tmp_path / "own.jsonl", headlamp,
                                              seller_answers=[own])]), store, index)
    assert indexed_answers(index, *HEADLAMP) == {"seller_answers[0]": own,
                                                 "seller_answers[1]": ANSWER}
    record = store.page(*HEADLAMP)  # the record is the catalog line's, as it came
    assert record is not None and record.model_extra == {"seller_answers": [own]}
    # Each text once: a published answer the line repeats is not indexed twice.
    ingest(read_inputs(catalogs=[catalog_file(tmp_path / "both.jsonl", headlamp,
                                              seller_answers=[own, ANSWER])]), store, index)
    assert indexed_answers(index, *HEADLAMP) == {"seller_answers[0]": own,
                                                 "seller_answers[1]": ANSWER}


def moves_answers_from_page_records(store: Store) -> None:
    """A database written before the table: the answer in the page's JSON moves, with the
    case that recorded it, once; a catalog line's own answer stays where it was."""
    from agent.seller_answers import published_answers

    case_id = open_case(store, *HEADLAMP, "A5RIDGELINE")
    with store.sessions.begin() as session:
        case = session.get_one(CaseRow, case_id)
        case.status, case.answer, case.answered_at = "answered", ANSWER, NOW
        case.add_to_knowledge = True
        row = session.get_one(PageRow, HEADLAMP)
        row.data = {**row.data, "seller_answers": ["From the catalog.", ANSWER]}
    for _ in range(2):  # every start runs it; the second finds nothing to move
        reopened = Store(make_engine(store.engine.url.render_as_string(hide_password=False)))
        assert published_answers(reopened) == {HEADLAMP: [ANSWER]}
        page = reopened.page(*HEADLAMP)
        assert page is not None and page.model_extra == {"seller_answers": ["From the catalog."]}
        reopened.engine.dispose()


def test_answers_an_earlier_version_kept_in_the_page_record_move_to_their_table(
        store: Store) -> None:
    moves_answers_from_page_records(store)


def test_the_move_works_on_postgresql_too(postgres_url: str,
                                          demo_pages: list[ProductPage]) -> None:
    store = Store(make_engine(postgres_url))
    try:
        store.save(pages=[p for p in demo_pages if p.key == HEADLAMP])
        moves_answers_from_page_records(store)
    finally:
        store.engine.dispose()


# --- links and numbers ----------------------------------------------------------------------------

PHISHING = "lichtwerk-garantie.top"
FOREIGN_PHONE = "+44 20 7946 0958"

CASES = [
    # (order, asin, marketplace, bullet, question, marketplace URL, marker)
    (EXPIRED_BEDDING_DE, "B0DE6BW3R9", "DE",
     "Garantie-Registrierung unter https://lichtwerk-garantie.top/login oder telefonisch unter "
     "+44 20 7946 0958, die Anleitung zur Garantie-Registrierung steht unter "
     "https://www.amazon.de/dp/B0DE6BW3R9",
     "Wie geht die Garantie-Registrierung?", "https://www.amazon.de/dp/B0DE6BW3R9",
     "[Link entfernt]"),
    (EXPIRED_DINNERWARE_ES, "B0ES3V7K1D", "ES",
     "Registro de garantía en https://lichtwerk-garantie.top/registro o llamando al "
     "+44 20 7946 0958, las instrucciones del registro de garantía están en "
     "https://www.amazon.es/dp/B0ES3V7K1D",
     "¿Cómo es el registro de garantía?", "https://www.amazon.es/dp/B0ES3V7K1D",
     "[enlace eliminado]"),
    (HEADLAMP_ORDER, "B0USRL3HL4", "US",
     "Warranty registration at http://lichtwerk-garantie.top/claim or by phone on "
     "+44 20 7946 0958, the warranty registration guide is at "
     "https://www.amazon.com/dp/B0USRL3HL4",
     "How does the warranty registration work?", "https://www.amazon.com/dp/B0USRL3HL4",
     "[link removed]"),
]


@pytest.mark.parametrize(("order", "asin", "marketplace", "bullet", "question", "own", "marker"),
                         CASES, ids=["de", "es", "en"])
def test_a_page_answers_without_foreign_links_and_numbers_but_with_the_marketplaces(
        store: Store, index: KnowledgeIndex, demo_pages: list[ProductPage],
        order: Scenario, asin: str, marketplace: str, bullet: str, question: str,
        own: str, marker: str) -> None:
    [page] = [p for p in demo_pages if p.key == (asin, marketplace)]
    page = page.model_copy(update={"bullet_points": [*page.bullet_points, bullet]})
    store.save(pages=[page])
    index.sync([page])
    agent = Agent(store, index, portal_url="http://127.0.0.1:8000/seller")
    reply = ask(agent, order, question, f"links-{marketplace}")
    assert reply.outcome == "answered", reply.text
    shown = [reply.text, *(c.text or "" for c in reply.citations)]
    assert any("bullet_points" in (c.field or "") for c in reply.citations)
    for text in shown:
        assert PHISHING not in text and "7946" not in text
    assert own in reply.text and marker in reply.text


def test_a_sellers_answer_is_relayed_without_foreign_links_but_with_their_own_address(
        headlamp_agent: Agent, store: Store) -> None:
    first = ask(headlamp_agent, HEADLAMP_ORDER, PETZL, "first")
    assert first.case_id
    answer = (f"Yes, it fits the Petzl helmet mount. Details at https://{PHISHING}/petzl or "
              f"call {FOREIGN_PHONE}; "
              "questions to help@ridgeline-outdoor.example or see "
              "https://www.amazon.com/dp/B0USRL3HL4.")
    headlamp_agent.answer_case(first.case_id, "A5RIDGELINE", answer, add_to_knowledge=True,
                               now=NOW + timedelta(hours=2))
    with store.reads() as session:
        relay = session.scalar(select(OutboxRow).where(
            OutboxRow.dedupe_key == f"case-answer:{first.case_id}"))
    assert relay is not None
    assert PHISHING not in relay.body and "7946" not in relay.body
    assert "help@ridgeline-outdoor.example" in relay.body
    assert "https://www.amazon.com/dp/B0USRL3HL4." in relay.body
    assert "[link removed]" in relay.body and "[contact detail removed]" in relay.body
    # Published as written (the seller's words), shown filtered to the next customer too.
    later = ask(headlamp_agent, HEADLAMP_ORDER, PETZL, "second")
    assert later.outcome == "answered"
    for text in [later.text, *(c.text or "" for c in later.citations)]:
        assert PHISHING not in text and "7946" not in text
