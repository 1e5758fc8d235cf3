import json
from decimal import Decimal
from pathlib import Path

import pytest

from base.jsonl import DataFileError
from knowledge.loaders import load_catalog, load_catalogs, parse_price
from tests.conftest import FIXTURES

PAGE = {"asin": "B0TEST0001", "marketplace": "DE", "language": "de", "seller_id": "A1LICHTWERK",
        "title": "Testlampe", "price": {"amount": 24.99, "currency": "EUR"}}


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
                    encoding="utf-8")
    return path


def test_jsonl_page_keeps_unknown_fields_and_coerces_numeric_attributes(tmp_path: Path) -> None:
    row = {**PAGE, "attributes": {"wattage": 12, "color": "Schwarz"}, "vendor_note": "kept"}
    [page] = load_catalog(write_lines(tmp_path / "c.jsonl", [row]))
    assert page.attributes == {"wattage": "12", "color": "Schwarz"}
    assert page.model_dump()["vendor_note"] == "kept"
    assert page.fields()[0] == ("title", "Testlampe")


@pytest.mark.parametrize(("row", "needle"), [
    ({k: v for k, v in PAGE.items() if k != "title"}, "field 'title': Field required"),
    ({**PAGE, "price": {"amount": "free", "currency": "EUR"}}, "field 'price.amount'"),
    ({**PAGE, "bullet_points": "one string"}, "field 'bullet_points'"),
    ({**PAGE, "bullet_points": ["ok", 7]}, "field 'bullet_points[1]'"),
    ({**PAGE, "asin": "short"}, "field 'asin'"),
    ({**PAGE, "marketplace": "XX"}, "field 'marketplace'"),
    ("[1, 2]", "expected a JSON object"),
    ("{not json", "not valid JSON"),
])
def test_bad_line_names_file_line_and_field(tmp_path: Path, row: object, needle: str) -> None:
    path = write_lines(tmp_path / "catalog.jsonl", [PAGE, "", row])
    with pytest.raises(DataFileError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert f"{path}:3" in message and needle in message


def test_all_errors_of_a_file_are_reported_together(tmp_path: Path) -> None:
    bad = {k: v for k, v in PAGE.items() if k != "seller_id"}
    path = write_lines(tmp_path / "c.jsonl", [bad, PAGE, bad])
    with pytest.raises(DataFileError) as caught:
        load_catalog(path)
    assert len(caught.value.problems) == 2
    assert ":1:" in caught.value.problems[0] and ":3:" in caught.value.problems[1]


def test_html_product_page() -> None:
    [page] = load_catalog(FIXTURES / "product_page_de.html")
    assert (page.asin, page.marketplace, page.language) == ("B0DEHTML01", "DE", "de")
    assert page.seller_id == "A1LICHTWERK" and page.brand == "Lichtwerk"
    assert page.title.startswith("Lichtwerk Vela Akku-Tischleuchte")
    assert len(page.bullet_points) == 4 and "40 Stunden" in page.bullet_points[0]
    assert len(page.description_paragraphs()) == 2
    # Table labels become contract keys; listing rows (ASIN, reviews) are not attributes.
    assert page.attributes["item_weight"] == "620 g"
    assert page.attributes["model_number"] == "LW-VT26"
    assert "asin" not in page.attributes and "kundenrezensionen" not in page.attributes
    assert (page.price.amount, page.price.currency) == (Decimal("34.99"), "EUR")


def test_html_page_without_seller_needs_one(tmp_path: Path) -> None:
    html = (FIXTURES / "product_page_de.html").read_text("utf-8")
    path = tmp_path / "page.html"
    path.write_text(html.replace("seller=A1LICHTWERK", "x=1"), "utf-8")
    with pytest.raises(DataFileError, match="field 'seller_id'"):
        load_catalog(path)
    assert load_catalog(path, seller_id="A9OTHER")[0].seller_id == "A9OTHER"


def test_spapi_catalog_item_with_language_tags() -> None:
    [page] = load_catalog(FIXTURES / "spapi_item_es.json", seller_id="A2CASASOLEADA")
    assert (page.asin, page.marketplace, page.language) == ("B0ESSPAPI1", "ES", "es")
    assert page.title.startswith("Casa Soleada Jarra")
    assert len(page.bullet_points) == 3
    assert page.attributes["item_weight"] == "0.9 kilograms"
    assert page.attributes["item_dimensions"] == "18 x 12 x 24 centimeters"
    assert page.price.amount == 27.5 and not page.hazmat


def test_spapi_item_without_seller_is_rejected() -> None:
    with pytest.raises(DataFileError, match=r"items\[0\]: field 'seller_id'"):
        load_catalog(FIXTURES / "spapi_item_es.json")


def test_unknown_format_and_duplicate_pages(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="unknown catalog format"):
        load_catalog(write_lines(tmp_path / "c.csv", ["a,b"]))
    a = write_lines(tmp_path / "a.jsonl", [PAGE])
    b = write_lines(tmp_path / "b.jsonl", [PAGE])
    with pytest.raises(DataFileError, match="already in"):
        load_catalogs([a, b])


@pytest.mark.parametrize(("text", "amount", "currency"), [
    ("24,99 €", 24.99, "EUR"), ("£12.99", 12.99, "GBP"), ("$1,299.00", 1299.0, "USD"),
    ("1.299,00 €", 1299.0, "EUR"),
])
def test_parse_price(text: str, amount: float, currency: str) -> None:
    assert parse_price(text) == {"amount": amount, "currency": currency}
