"""What the chat page says, per language: a table kept as data (``static/chat_strings.json``).

The page's language follows the marketplace it is opened for (``/?marketplace=DE``): German on
amazon.de, Spanish on amazon.es, and English wherever the table has no language of its own. A
string missing from a language falls back to its English wording.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Final

from base.money import MARKETPLACE_LANGUAGE

STRINGS_FILE = Path(__file__).parent / "static" / "chat_strings.json"
FALLBACK: Final = "en"

Strings = dict[str, str]


@cache
def _table() -> dict[str, Strings]:
    data: dict[str, Strings] = json.loads(STRINGS_FILE.read_text("utf-8"))
    return data


def languages() -> list[str]:
    return sorted(_table())


def page_language(marketplace: str | None) -> str:
    """The page's language for a marketplace code (any case); English when unknown."""
    language = MARKETPLACE_LANGUAGE.get((marketplace or "").upper(), FALLBACK)
    return language if language in _table() else FALLBACK


def strings_for(language: str) -> Strings:
    """Every string of the page in ``language``, the English wording where it has none."""
    table = _table()
    return {**table[FALLBACK], **table.get(language, {})}


def say(language: str, key: str, **values: str) -> str:
    """One string, its ``{name}`` places filled in."""
    text = strings_for(language)[key]
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text
