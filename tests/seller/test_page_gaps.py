"""The page-gap report: product questions the pages could not answer, per seller and product."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.core import Agent
from agent.db import Store
from agent.models import CaseRow, ConversationRow
from agent.seller_answers import publish_answer
from evals.dataset import fill_customers, read_dataset
from evals.runner import messages
from portal.charts import page_gap_chart
from seller.ingest import DEMO_DATA_DIR, read_inputs
from seller.page_gaps import page_gap_report, page_gaps_csv
from tests.support.scenarios import DELIVERED_DESK_LAMP_DE

DEV_DATASET = Path(__file__).parents[2] / "evals" / "datasets" / "dev.jsonl"


def add_case(store: Store, case_id: str, *, seller: str = "A1LICHTWERK",
             asin: str = "B0DE4LT7K2", topic: str | None = "attributes.app_control",
             opened: datetime, answer: str | None = None, category: str = "product_question",
             question: str = "Q: app control") -> None:
    with store.sessions.begin() as session:
        case = CaseRow(
            id=case_id, seller_id=seller, order_id=DELIVERED_DESK_LAMP_DE.order_id,
            marketplace="DE", asins=[asin], category=category, question=question, needs="-",
            topic=topic,
            status="answered" if answer else "awaiting_seller", created_at=opened,
            due_at=opened + timedelta(hours=24), answer=answer,
            answered_at=opened + timedelta(hours=2) if answer else None,
            add_to_knowledge=bool(answer), conversation_id=_conversation(store),
            language="de")
        session.add(case)
        if answer:  # answered with consent: the answer is published to the page
            publish_answer(session, case, answer, opened + timedelta(hours=2))


def _conversation(store: Store) -> str:
    now = datetime.now(UTC)
    with store.sessions.begin() as session:
        conv = ConversationRow(id=uuid.uuid4().hex, channel="chat", thread_key=uuid.uuid4().hex,
                               contact="session", misunderstood=0, state={}, created_at=now,
                               updated_at=now)
        session.add(conv)
        return conv.id


def test_gaps_are_grouped_by_product_and_field_and_counted_per_period(store: Store) -> None:
    nov, dec = datetime(2026, 11, 2, 9, tzinfo=UTC), datetime(2026, 12, 1, 9, tzinfo=UTC)
    add_case(store, "CS-AAAAAA2", opened=nov, answer="Ja, mit der Lichtwerk-App.")
    add_case(store, "CS-AAAAAA3", opened=nov + timedelta(days=8), topic=None)
    add_case(store, "CS-AAAAAA4", opened=dec, asin="B0DE6BW3R9", topic="attributes.size")
    add_case(store, "CS-AAAAAA5", opened=dec, category="return")  # not a page gap
    add_case(store, "CS-AAAAAA6", opened=dec, seller="A3BRIGHTWAY")  # another seller's

    monthly = page_gap_report(store, "A1LICHTWERK")
    assert [(p.asin, len(p.gaps)) for p in monthly.products] == [("B0DE4LT7K2", 2),
                                                                 ("B0DE6BW3R9", 1)]
    assert monthly.by_period == {"2026-11": 2, "2026-12": 1}
    assert monthly.products[0].by_field == {"attributes.app_control": 1, "unknown": 1}
    assert monthly.products[0].gaps[0].answer == "Ja, mit der Lichtwerk-App."
    assert monthly.products[0].title.startswith("Lichtwerk")

    weekly = page_gap_report(store, "A1LICHTWERK", period="week")
    assert weekly.by_period == {"2026-W45": 1, "2026-W46": 1, "2026-W47": 0, "2026-W48": 0,
                                "2026-W49": 1}
    assert page_gap_report(store, "A1LICHTWERK", since=dec.date()).by_period == {"2026-12": 1}

    chart = page_gap_chart(weekly)
    assert chart.startswith("<svg") and chart.count('class="bar"') == 5

    rows = list(csv.DictReader(io.StringIO(page_gaps_csv(monthly))))
    assert [r["case_id"] for r in rows] == ["CS-AAAAAA2", "CS-AAAAAA3", "CS-AAAAAA4"]
    assert rows[0]["seller_answer"] == "Ja, mit der Lichtwerk-App."
    assert rows[0]["added_to_page"] == "yes" and rows[1]["page_field"] == "unknown"


def test_a_csv_cell_never_runs_as_a_formula(store: Store) -> None:
    add_case(store, "CS-AAAAAA7", opened=datetime(2026, 11, 2, tzinfo=UTC),
             answer="=HYPERLINK(\"http://evil.example\")")
    row = next(csv.DictReader(io.StringIO(page_gaps_csv(page_gap_report(store, "A1LICHTWERK")))))
    assert row["seller_answer"].startswith("'=")


@pytest.mark.slow
def test_the_report_lists_the_dev_datasets_unanswerable_questions_per_product(
        agent: Agent, store: Store) -> None:
    demo_orders = read_inputs(orders=DEMO_DATA_DIR / "orders.jsonl").orders
    cases = [c for c in fill_customers(read_dataset(DEV_DATASET), demo_orders)
             if c.expect and c.expect.outcome == "escalated"
             and c.expect.intent == "product_question"]
    assert len(cases) >= 5, "the dev dataset holds unanswerable product questions"
    escalated: dict[str, dict[str, str]] = {}  # seller -> case id -> ASIN
    for case in cases:
        for msg in messages(case):
            reply = agent.handle(msg)
        if reply.outcome == "escalated" and reply.case_id:
            with store.sessions() as session:
                row = session.get_one(CaseRow, reply.case_id)
            if row.category == "product_question":  # a missing page fact, not "other"
                escalated.setdefault(row.seller_id, {})[row.id] = row.asins[0]
    # How many the agent escalates is the eval's measure (escalation recall); the report
    # must list exactly those it did.
    assert len(escalated) >= 2 and sum(len(v) for v in escalated.values()) >= 5

    for seller_id, by_case in escalated.items():
        report = page_gap_report(store, seller_id)
        listed = {g.case_id: g.asin for g in report.gaps}
        assert listed == by_case  # every escalated question, under its own product
        for product in report.products:
            assert product.title != product.asin  # named by its page
            assert sum(product.by_field.values()) == len(product.gaps)
        assert sum(report.by_period.values()) == len(by_case)
        rows = list(csv.DictReader(io.StringIO(page_gaps_csv(report))))
        assert {r["case_id"] for r in rows} == set(by_case)
