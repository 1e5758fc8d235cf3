"""How replies name products, addresses and who pays the return shipping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.replies import address, country_name, item_name, money, render, reply_languages
from base.money import Money
from knowledge.pages import ProductPage

CATALOG = Path(__file__).parents[2] / "data" / "demo" / "catalog.jsonl"


FIRST_PAGE = json.loads(CATALOG.read_text("utf-8").splitlines()[0])


def page(title: str) -> ProductPage:
    return ProductPage.model_validate({**FIRST_PAGE, "title": title})


@pytest.mark.parametrize(("title", "name"), [
    # The head before the first comma or dash, whole when short.
    ("Lichtwerk Lumo LED-Schreibtischlampe mit Qi-Ladefläche, 5 Farbtemperaturen, Schwarz",
     "Lichtwerk Lumo LED-Schreibtischlampe mit Qi-Ladefläche"),
    # Cut at seven words, never on a measure or a joining word.
    ("Lichtwerk Schlafgut Mako-Satin Bettwäsche 135 x 200 cm + Kissenbezug 80 x 80 cm, Grün",
     "Lichtwerk Schlafgut Mako-Satin Bettwäsche"),
    ("Lichtwerk Lámpara de escritorio LED LW-DL30 con brazo articulado – 5 temperaturas",
     "Lichtwerk Lámpara de escritorio LED"),
    ("Marea Baja Bañador de mujer de una pieza con escote cruzado – tejido reciclado",
     "Marea Baja Bañador de mujer"),
    ("Thistle & Loom Tartan Wool Throw, 130 x 180 cm", "Thistle & Loom Tartan Wool Throw"),
])
def test_a_product_is_named_by_its_titles_head_cut_at_a_word(title: str, name: str) -> None:
    assert item_name(page(title), "B0TEST0001") == name


def test_no_demo_product_is_named_with_an_ellipsis_or_a_dangling_word() -> None:
    for line in CATALOG.read_text("utf-8").splitlines():
        title = json.loads(line)["title"]
        name = item_name(page(title), "B0TEST0001")
        assert "…" not in name and title.startswith(name)
        assert name.split()[-1] not in {"x", "+", "mit", "de", "con", "with", "una", "a"}


def test_a_missing_page_names_the_asin() -> None:
    assert item_name(None, "B0TEST0001") == "B0TEST0001"


ADDRESS = {"name": "Casa Soleada S.L. Devoluciones", "street": "Calle de la Industria 44",
           "postal_code": "46015", "city": "Valencia", "country": "ES"}


def test_an_address_in_the_customers_country_has_no_country_code() -> None:
    assert address(ADDRESS, "es", "ES") == \
        "Casa Soleada S.L. Devoluciones, Calle de la Industria 44, 46015 Valencia"


def test_an_address_abroad_names_its_country_in_the_customers_language() -> None:
    assert address(ADDRESS, "de", "DE").endswith("46015 Valencia, Spanien")
    assert address(ADDRESS, "en", "UK").endswith("46015 Valencia, Spain")
    assert address({**ADDRESS, "country": "GB"}, "en", "UK").endswith("Valencia")
    assert country_name("UK", "es") == "Reino Unido"


@pytest.mark.parametrize("language", reply_languages())
def test_who_pays_the_return_shipping_is_a_whole_sentence(language: str) -> None:
    for payer in ("buyer", "seller"):
        sentence = render(f"who_pays_{payer}", language)
        assert sentence[0].isupper() and sentence.endswith(".")
    text = render("return_prepaid_label", language, item="X", return_by="1", refund="2",
                  days=2, who_pays=render("who_pays_seller", language))
    assert ": ." not in text and ". " + render("who_pays_seller", language) in text


@pytest.mark.parametrize(("amount", "currency", "language", "written"), [
    ("34.95", "USD", "en", "$34.95"),  # a US customer's price, not "US$34.95"
    ("34.95", "GBP", "en", "£34.95"),
    ("34.95", "EUR", "en", "€34.95"),
    ("34.95", "EUR", "de", "34,95\xa0€"),
    ("34.95", "USD", "es", "34,95\xa0US$"),
])
def test_prices_are_written_as_the_customers_of_that_currency_read_them(
        amount: str, currency: str, language: str, written: str) -> None:
    assert money(Money(amount=amount, currency=currency), language) == written
