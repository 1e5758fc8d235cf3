"""The bundled demo data covers what the agent and the evals need."""

import re
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from agent.db import Store, make_engine
from agent.records import Order, Seller
from base.jsonl import read_jsonl
from knowledge.pages import ProductPage
from seller.ingest import DEMO_DATA_DAY, DEMO_DATA_DIR, demo_data, demo_day_of
from tests.support import scenarios
from tests.support.scenarios import Scenario

LOW_VALUE = {"EUR": 25.0, "GBP": 20.0, "USD": 25.0}


def test_demo_catalog_spans_marketplaces_languages_and_special_items(
        demo_pages: list[ProductPage]) -> None:
    assert len(demo_pages) >= 60
    assert {p.marketplace for p in demo_pages} >= {"DE", "ES", "UK", "US"}
    assert {p.language for p in demo_pages} >= {"de", "es", "en"}
    assert {"electronics", "home", "toys", "clothing"} <= {p.category for p in demo_pages}
    kinds = Counter(p.return_category for p in demo_pages)
    assert kinds["perishable"] and kinds["hygiene_sealed"]
    assert any(p.customizable for p in demo_pages) and any(p.hazmat for p in demo_pages)


def test_demo_orders_cover_channels_statuses_and_value_lines(
        demo_pages: list[ProductPage]) -> None:
    orders = read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order)
    sellers = {s.seller_id: s for s in read_jsonl(DEMO_DATA_DIR / "sellers.jsonl", Seller)}
    pages = {(p.asin, p.marketplace): p for p in demo_pages}
    assert len(orders) >= 80 and len(sellers) >= 6
    assert {o.fulfillment_channel for o in orders} == {"MFN", "AFN"}
    assert {o.status for o in orders} == {"pending", "shipped", "delivered", "cancelled"}
    assert {s.country for s in sellers.values()} >= {"DE", "ES", "CN", "US"}
    assert any(s.return_addresses.get(s.country) for s in sellers.values())
    assert any(not any(s.return_addresses.values()) for s in sellers.values())
    cross_border_prices = set()
    for order in orders:
        assert order.seller_id in sellers
        for item in order.items:
            page = pages[(item.asin, order.marketplace)]
            assert page.seller_id == order.seller_id
            if sellers[order.seller_id].country != order.marketplace:
                cross_border_prices.add(item.unit_price.amount <= LOW_VALUE[page.price.currency])
    assert cross_border_prices == {True, False}


def _index_rows() -> dict[str, set[str]]:
    """ORDERS.md's scenario table: each row's number and the order ids it lists."""
    rows = {}
    for line in (DEMO_DATA_DIR / "ORDERS.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"\d+[a-z]?", cells[0]):
            rows[cells[0]] = set(re.findall(r"\d{3}-\d{7}-\d{7}", cells[2]))
    return rows


def test_the_scenario_index_is_read_whole() -> None:
    rows = _index_rows()
    assert {"1", "15a", "15b", "20"} <= rows.keys() and all(rows.values())


@pytest.mark.parametrize("scenario", scenarios.ALL, ids=lambda s: s.order_id)
def test_each_named_scenario_is_a_demo_order_listed_where_it_says(scenario: Scenario) -> None:
    orders = {o.order_id: o for o in read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order)}
    assert scenario.order == orders[scenario.order_id]
    listed_in = tuple(row for row, ids in _index_rows().items() if scenario.order_id in ids)
    assert listed_in == scenario.index_rows


def test_scenario_names_are_unique_and_the_missing_order_is_missing() -> None:
    assert len({s.order_id for s in scenarios.ALL}) == len(scenarios.ALL) >= 30
    orders = read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order)
    assert scenarios.NO_SUCH_ORDER_ID not in {o.order_id for o in orders}


def test_the_day_the_stored_demo_is_dated_for_is_read_back(tmp_path: Path) -> None:
    # What `csba serve` and `csba chat` compare with today when the data was loaded earlier.
    store = Store(make_engine(f"sqlite:///{tmp_path / 'demo.sqlite3'}"))
    assert demo_day_of(store) is None  # no demo here
    store.save(orders=read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order))
    assert demo_day_of(store) == DEMO_DATA_DAY  # the files as written (make ingest-demo)
    later = DEMO_DATA_DAY + timedelta(days=9)
    store.save(orders=demo_data(later).orders)
    assert demo_day_of(store) == later == date(2026, 12, 4)


def test_the_scenario_index_is_written_for_the_demo_day() -> None:
    index = (DEMO_DATA_DIR / "ORDERS.md").read_text("utf-8")
    assert f"dates relative to {DEMO_DATA_DAY.isoformat()}" in index
