"""What the portal's pages say, per language: a table kept as data (``portal/strings.json``).

A signed-in seller reads the portal in the seller's language (``agent.cases.seller_language``:
the first of its languages the service writes); ``?lang=`` on any page overrides it. A string
missing from a language falls back to its English wording.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Final

from agent.cases import SELLER_FALLBACK, seller_language
from agent.records import Seller

STRINGS_FILE = Path(__file__).parent / "strings.json"
FALLBACK: Final = SELLER_FALLBACK

Strings = dict[str, str]


@cache
def _table() -> dict[str, Strings]:
    data: dict[str, Strings] = {
        language: strings for language, strings in
        json.loads(STRINGS_FILE.read_text("utf-8")).items() if not language.startswith("_")}
    return data


def languages() -> list[str]:
    return sorted(_table())


def page_language(seller: Seller | None, asked: str | None = None) -> str:
    """The language of a seller's pages: ``asked`` (``?lang=``) when the table has it, else
    the seller's own, else English."""
    wanted = (asked or "").strip().lower()
    if wanted in _table():
        return wanted
    language = seller_language(seller)
    return language if language in _table() else FALLBACK


def strings_for(language: str) -> Strings:
    """Every string of the portal in ``language``, the English wording where it has none."""
    table = _table()
    return {**table[FALLBACK], **table.get(language, {})}


def say(language: str, key: str, **values: object) -> str:
    """One string, its ``{name}`` places filled in."""
    text = strings_for(language)[key]
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text
