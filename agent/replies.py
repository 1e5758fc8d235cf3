"""Reply wording: templates per language (data files in ``agent/templates/``) and the
formatting of money, dates and addresses in the customer's language.

Every sentence the agent says comes from here, filled with values from an order, a page, a
policy decision or a seller's answer; nothing else is said.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency

from base.money import Money
from knowledge.pages import ProductPage

FALLBACK_LANGUAGE = "en"
_LOCALES = {"de": "de_DE", "es": "es_ES", "en": "en_GB", "fr": "fr_FR", "it": "it_IT"}


@cache
def templates(language: str) -> dict[str, str]:
    folder = resources.files("agent").joinpath("templates")
    path = folder.joinpath(f"{language}.json")
    if not path.is_file():
        return templates(FALLBACK_LANGUAGE) if language != FALLBACK_LANGUAGE else {}
    data: dict[str, str] = json.loads(path.read_text("utf-8"))
    return data


def reply_languages() -> list[str]:
    folder = resources.files("agent").joinpath("templates")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir()
                  if p.name.endswith(".json"))


def render(key: str, language: str, **slots: object) -> str:
    text = templates(language).get(key) or templates(FALLBACK_LANGUAGE)[key]
    return text.format(**slots)


def money(value: Money, language: str) -> str:
    # English amounts in dollars are for the US customers the currency belongs to: "$34.95",
    # not British English's "US$34.95", which reads as a foreign price to them.
    locale = "en_US" if language == "en" and value.currency == "USD" \
        else _LOCALES.get(language, "en_GB")
    return str(format_currency(value.amount, value.currency, locale=locale))


def day(value: date, language: str) -> str:
    return str(format_date(value, format="long", locale=_LOCALES.get(language, "en_GB")))


def address(value: dict[str, Any] | str | None, language: str = FALLBACK_LANGUAGE,
            home: str | None = None) -> str:
    """A postal address on one line. Its country is left out where it is the customer's
    own (``home``, a marketplace or country code) and named in the customer's language
    otherwise ("Spanien", not "ES")."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    country = str(value.get("country") or "")
    parts = [value.get("name"), value.get("street"),
             " ".join(p for p in (value.get("postal_code"), value.get("city")) if p),
             None if home and _iso(country) == _iso(home) else country_name(country, language)]
    return ", ".join(str(p) for p in parts if p)


def country_name(code: str, language: str) -> str:
    """A country's name in ``language`` ("DE" in Spanish: "Alemania"), else its code."""
    if not code:
        return ""
    names = Locale.parse(_LOCALES.get(language, "en_GB")).territories
    return str(names.get(_iso(code), code))


def _iso(code: str) -> str:
    # The marketplace is called "UK" while ISO says "GB".
    return "GB" if code.upper() == "UK" else code.upper()


def item_name(page: ProductPage | None, asin: str) -> str:
    """An item as a reply names it: its title's head (a title is often a line of keywords,
    "Lamp X with Y, 5 colours, black"), at most seven words, cut at a word boundary and never
    on a joining word or a bare measure ("… Bettwäsche 135 x"); its ASIN when the page is
    missing."""
    if page is None:
        return asin
    head = _TITLE_BREAK.split(page.title, maxsplit=1)[0].split()
    if len(head) <= MAX_NAME_WORDS:
        return " ".join(head)
    words = head[:MAX_NAME_WORDS]
    while len(words) > 2 and (words[-1].casefold() in _dangling()
                              or any(c.isdigit() for c in words[-1])):
        words.pop()
    return " ".join(words)


# Where a title's head ends: a comma, a dash between spaces, a bar or an opening bracket.
_TITLE_BREAK = re.compile(r",\s|\s[-–—|]\s|\s\(")
MAX_NAME_WORDS = 7


@cache
def _dangling() -> frozenset[str]:
    path = resources.files("agent").joinpath("data", "title_words.json")
    words: list[str] = json.loads(path.read_text("utf-8"))["dangling"]
    return frozenset(words)
