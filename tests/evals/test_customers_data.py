"""The customers' questions on pages of their own (evals/datasets/customers/): written in
German, Spanish and English on pages no earlier question was written for, before any rule was
tuned on them. These tests hold the data to its contracts, not the agent to a score: every
file loads, every answer it names is on its page, and each language has its share."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from evals.dataset import EvalCase, fill_customers, read_datasets
from seller.ingest import DEMO_DATA_DIR, IngestInput, read_inputs

FOLDER = Path(__file__).resolve().parents[2] / "evals" / "datasets" / "customers"
LANGUAGES = ("de", "es", "en")


def _data() -> tuple[IngestInput, list[EvalCase]]:
    data = read_inputs(catalogs=[FOLDER / f"catalog_{lang}.jsonl" for lang in LANGUAGES],
                       orders=[FOLDER / f"orders_{lang}.jsonl" for lang in LANGUAGES],
                       sellers=DEMO_DATA_DIR / "sellers.jsonl")
    cases = read_datasets([FOLDER / f"cases_{lang}.jsonl" for lang in LANGUAGES])
    return data, fill_customers(cases, data.orders)


def test_every_file_loads_and_every_cited_answer_is_on_its_page() -> None:
    data, cases = _data()
    pages = {p.asin: p for p in data.pages}
    orders = {o.order_id: o for o in data.orders}
    sellers = {s.seller_id for s in data.sellers}
    for case in cases:
        order = orders[case.order_id or ""]
        assert order.seller_id in sellers and order.status == "delivered", case.id
        contact = case.customer.email or case.customer.phone
        assert contact in {order.customer.email, order.customer.phone}, case.id
        assert case.expect is not None, case.id
        for ref in case.expect.citations_any or []:
            asin, field = ref.split(":", 1)
            assert asin in {i.asin for i in order.items}, case.id
            assert pages[asin].field_text(field), f"{case.id}: {ref} is not on the page"


def test_new_pages_and_orders_only() -> None:
    data, _ = _data()
    demo = read_inputs(catalogs=[DEMO_DATA_DIR / "catalog.jsonl"],
                       orders=DEMO_DATA_DIR / "orders.jsonl")
    assert not {p.asin for p in data.pages} & {p.asin for p in demo.pages}
    assert not {o.order_id for o in data.orders} & {o.order_id for o in demo.orders}


def test_each_language_has_at_least_sixty_product_questions() -> None:
    _, cases = _data()
    expected = [(c.expect, c.tags) for c in cases if c.expect is not None]
    product = Counter(e.language for e, tags in expected
                      if e.intent == "product_question" and "crosslingual" not in tags)
    assert all(product[lang] >= 60 for lang in LANGUAGES), product
    silent = sum(e.outcome == "escalated" for e, _ in expected
                 if e.intent == "product_question")
    assert silent >= 60  # questions the page does not answer: the agent must not guess
