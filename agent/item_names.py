"""Which line of an order a message names by the product's own words ("die Lampe" for the
"LED-Schreibtischlampe") or by the words customers use for its kind ("die Lichterkette" for
the "LED-Streifen", agent/data/item_kinds.json). A reading of the text only: it decides no
policy."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from agent.understanding import fold

ITEM_KINDS = Path(__file__).parent / "data" / "item_kinds.json"
ITEM_ORDINALS = Path(__file__).parent / "data" / "item_ordinals.json"
# Shorter words are articles, units and sizes ("der", "led", "5 m"): they name no product.
MIN_WORD = 4
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


@cache
def _kinds() -> tuple[tuple[str, ...], ...]:
    raw = json.loads(ITEM_KINDS.read_text(encoding="utf-8"))
    return tuple(tuple(fold(w) for w in group) for group in raw["kinds"])


def _words(text: str) -> set[str]:
    """The folded words of ``text``, a hyphenated word also in its parts ("led-streifen",
    "streifen")."""
    found: set[str] = set()
    for word in _WORD.findall(fold(text)):
        found.add(word)
        found.update(word.split("-"))
    return {w for w in found if len(w) >= MIN_WORD}


def _has(words: set[str], folded: str, term: str) -> bool:
    # A compound ends with the word it is a kind of: "schreibtischlampe" is a "lampe"; a
    # word of several parts is looked up in the text as written ("light strip").
    if " " in term:
        return re.search(rf"\b{re.escape(term)}\b", folded) is not None
    return any(w == term or w.endswith(term) for w in words)


def _score(message: set[str], folded: str, title: str) -> int:
    title_words = _words(title)
    title_folded = fold(title)
    shared = sum(1 for w in message
                 if any(t == w or t.endswith(w) for t in title_words))
    kinds = sum(1 for group in _kinds()
                if any(_has(message, folded, term) for term in group)
                and any(_has(title_words, title_folded, term) for term in group))
    return shared + kinds


def named_line(text: str, titles: Mapping[str, str]) -> str | None:
    """The ASIN (a key of ``titles``, ASIN to product title) whose product the message names
    more than any other's, or None when none stands out."""
    message, folded = _words(text), fold(text)
    scored = sorted(((_score(message, folded, title), asin) for asin, title in titles.items()),
                    reverse=True)
    if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    return scored[0][1]


@cache
def _ordinals() -> tuple[tuple[int, tuple[re.Pattern[str], ...]], ...]:
    raw = json.loads(ITEM_ORDINALS.read_text(encoding="utf-8"))
    return tuple((int(place), tuple(re.compile(p) for p in patterns))
                 for place, patterns in raw.items() if not place.startswith("_"))


def line_by_place(text: str, lines: int) -> int | None:
    """The index (from 0) of the line a message names by its place in an order of ``lines``
    lines ("the second item", "el último artículo"), or None when it names no place, names
    several, or one the order does not have."""
    folded = fold(text)
    places = {place for place, patterns in _ordinals()
              if any(p.search(folded) for p in patterns)}
    if len(places) != 1:
        return None
    place = places.pop()
    index = lines - 1 if place == -1 else place - 1
    return index if 0 <= index < lines else None
