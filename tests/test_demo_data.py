"""The bundled demo data covers what the agent and the evals need."""

from collections import Counter

from agent.records import Order, Seller
from base.jsonl import read_jsonl
from knowledge.pages import ProductPage
from seller.ingest import DEMO_DATA_DIR

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
