"""How many units of an order line a return or a problem is about, as the customer says it.

"One of the two lamps is broken", "Eine der zwei Lampen ist kaputt", "Una de las dos
lámparas llegó rota", "2 of the 3 glasses", "both lamps": the quantity the customer names is
the quantity decided. A message that names none (or names several that disagree) reads as
None, and the agent asks; the answer to that question ("1", "eine", "alle", "todas") is read
with ``answer=True``. The words are data (agent/data/quantity_words.json).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from agent.understanding import ASIN, EMAIL, ORDER_ID, PHONE, fold

QUANTITY_WORDS = Path(__file__).parent / "data" / "quantity_words.json"
ALL: Literal["all"] = "all"
Quantity = int | Literal["all"]

# Numbers that are not counts: prices and sizes written with a separator ("24,99", "1.5"),
# dates ("25.11.2026") and codes that mix letters and digits ("LW-TL45", "B0DE8SL2P7").
_NOT_A_COUNT = re.compile(r"\d+[.,:/]\d+(?:[.,:/]\d+)*|\b(?=\w*\d)(?=\w*[^\W\d_])\w+\b")
_TOKEN = re.compile(r"[^\W_]+")
_MAX_COUNT = 99
# How far after a count its "of the two" or its unit may come ("one of my two lamps").
_LOOK_AHEAD = 3


@dataclass(frozen=True)
class _Words:
    numbers: dict[str, dict[str, int]]
    of: dict[str, frozenset[str]]
    all_words: dict[str, frozenset[str]]
    not_counted: frozenset[str]
    one_counts_alone: frozenset[str]
    one_pronoun_after: frozenset[str]
    others: dict[str, frozenset[str]]
    others_not_before: frozenset[str]


@cache
def _words() -> _Words:
    raw = json.loads(QUANTITY_WORDS.read_text(encoding="utf-8"))
    return _Words(
        numbers={lang: {fold(w): n for w, n in words.items()}
                 for lang, words in raw["numbers"].items()},
        of={lang: frozenset(fold(w) for w in words) for lang, words in raw["of"].items()},
        all_words={lang: frozenset(fold(w) for w in words)
                   for lang, words in raw["all"].items()},
        not_counted=frozenset(fold(w) for w in raw["not_counted"]),
        one_counts_alone=frozenset(raw["one_counts_alone"]),
        one_pronoun_after=frozenset(fold(w) for w in raw["one_is_a_pronoun_after"]),
        others={lang: frozenset(fold(w) for w in words)
                for lang, words in raw["others"].items()},
        others_not_before=frozenset(fold(w) for w in raw["others_not_before"]))


def _tokens(text: str) -> list[str]:
    for pattern in (ORDER_ID, ASIN, EMAIL, PHONE):
        text = pattern.sub(" ", text)
    return _TOKEN.findall(_NOT_A_COUNT.sub(" ", fold(text)))


def _number(token: str, numbers: dict[str, int]) -> int | None:
    if token.isdigit():
        value = int(token)
        return value if 0 <= value <= _MAX_COUNT else None
    return numbers.get(token)


def _names_all(tokens: list[str], all_words: frozenset[str]) -> bool:
    pairs = {f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}
    return bool(all_words & (set(tokens) | pairs))


def read_quantity(text: str, language: str, *, answer: bool = False) -> Quantity | None:
    """The units a message names: a count, ``"all"``, or None when it names none clearly.

    ``answer``: the message answers "how many?", so a lone "one" ("eine", "una") is a count
    too; in a message of its own it is an article or a pronoun unless it is "one of ...".
    """
    words = _words()
    numbers = words.numbers.get(language, {})
    of = words.of.get(language, frozenset())
    tokens = _tokens(text)
    counts: list[int] = []
    # A "one" read as an article ("eine", "una") beside a count is unclear: "Ich habe 2 Lampen
    # bestellt, eine ist kaputt" names two ordered and (perhaps) one broken.
    uncertain_one = False
    for i, token in enumerate(tokens):
        value = _number(token, numbers)
        if value is None:
            continue
        after = tokens[i + 1:i + 1 + _LOOK_AHEAD]
        if after and after[0] in words.not_counted or any(
                t in words.not_counted for t in after[1:2] if after[0] in of):
            continue  # "2 days", "2 de noviembre": a duration or a date
        if after and after[0] in of:
            return value  # "one of the two", "eine der zwei", "una de las dos"
        if answer or value != 1 or token.isdigit() or (
                language in words.one_counts_alone and bool(after)
                and (i == 0 or tokens[i - 1] not in words.one_pronoun_after)):
            counts.append(value)
        else:
            uncertain_one = True
    if _names_all(tokens, words.all_words.get(language, frozenset())):
        return ALL
    distinct = set(counts)
    if answer:
        return counts[0] if counts else None
    if len(distinct) != 1 or (uncertain_one and distinct != {1}):
        return None  # none named, or "ordered 3, 2 arrived broken": the agent asks
    return counts[0]


def names_the_others(text: str, language: str) -> bool:
    """The message is about the line's other units: "the other lamp is broken too", "die
    andere ist auch kaputt", "l'autre aussi" (but not "the other day"). Only meaningful when
    some units were dealt with before; the caller knows which."""
    words = _words()
    others = words.others.get(language, frozenset())
    tokens = _tokens(text)
    for i in range(len(tokens) - 1):
        if f"{tokens[i]} {tokens[i + 1]}" not in others:
            continue
        after = tokens[i + 2:i + 3]
        if not (after and after[0] in words.others_not_before):
            return True
    return False
