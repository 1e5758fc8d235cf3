"""Reply wording: templates per language (data files in ``agent/templates/``) and the
formatting of money, dates and addresses in the customer's language.

Every sentence the agent says comes from here, filled with values from an order, a page, a
policy decision or a seller's answer; nothing else is said.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

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
    return str(format_currency(value.amount, value.currency,
                               locale=_LOCALES.get(language, "en_GB")))


def day(value: date, language: str) -> str:
    return str(format_date(value, format="long", locale=_LOCALES.get(language, "en_GB")))


def address(value: dict[str, Any] | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    parts = [value.get("name"), value.get("street"),
             " ".join(p for p in (value.get("postal_code"), value.get("city")) if p),
             value.get("country")]
    return ", ".join(str(p) for p in parts if p)


def item_name(page: ProductPage | None, asin: str) -> str:
    """An item as a reply names it: its title's first six words (a title is often a line of
    keywords), else its ASIN when the page is missing."""
    if page is None:
        return asin
    words = page.title.split()
    return " ".join(words[:6]) + ("…" if len(words) > 6 else "")
