"""Order numbers a caller spoke, written as the agent reads them.

A recogniser writes "null zwei acht vier drei ..." or "cero dos ocho, cuatro ..." word by word,
or mixes words and numerals ("028 vier drei null sechs ..."). Any run of digit words, numerals,
"double"/"doppel" and spoken dashes that adds up to the 17 digits of an order number becomes
``123-1234567-1234567``; every other word, and every shorter run ("ich möchte eins
zurückgeben", "two lamps"), is left as spoken. It reads text only: nothing is logged or kept.
"""

from __future__ import annotations

import re
import unicodedata

ORDER_DIGITS = 17  # 123-1234567-1234567

# Every language's digit words at once: a caller may answer in another language than the
# number they dialled, and only a run that makes a whole order number is rewritten, so a
# word shared by two languages ("zero", "six", "due") cannot change a sentence.
DIGIT_WORDS: dict[str, str] = {
    # German ("zwo" is how "zwei" is said on the phone)
    "null": "0", "eins": "1", "ein": "1", "zwei": "2", "zwo": "2", "drei": "3", "vier": "4",
    "funf": "5", "sechs": "6", "sieben": "7", "acht": "8", "neun": "9",
    # Spanish
    "cero": "0", "uno": "1", "un": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5",
    "seis": "6", "siete": "7", "ocho": "8", "nueve": "9",
    # English ("oh" for 0, as in "oh two eight")
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    # French
    "une": "1", "deux": "2", "trois": "3", "quatre": "4", "cinq": "5", "sept": "7",
    "huit": "8", "neuf": "9",
    # Italian
    "due": "2", "tre": "3", "quattro": "4", "cinque": "5", "sei": "6", "sette": "7",
    "otto": "8", "nove": "9",
}
# "doppel null", "double two", "doble cero", "doppio zero", "triple sept".
REPEATS: dict[str, int] = {
    "doppel": 2, "double": 2, "doble": 2, "doppio": 2, "doppia": 2,
    "triple": 3, "tripel": 3, "triplo": 3, "tripla": 3,
}
# Spoken between the groups of a number; skipped inside a run.
SEPARATORS = frozenset({"strich", "bindestrich", "minus", "dash", "hyphen", "guion", "tiret",
                        "trattino", "-"})
# Words that also mean "a" or "or": taken for a digit only when the run needs them.
ARTICLES = frozenset({"ein", "un", "une", "uno", "o", "oh", "one"})
# A token: a word or a numeral; hyphens, commas and full stops between them do not count.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def order_number(digits: str) -> str:
    return f"{digits[:3]}-{digits[3:10]}-{digits[10:]}"


def _digits_of(token: str) -> str | None:
    if token.isascii() and token.isdigit():
        return token
    return DIGIT_WORDS.get(_fold(token))


def _run(tokens: list[re.Match[str]], i: int) -> tuple[list[tuple[int, int, str]], int]:
    """The digits spoken from token ``i`` on, one (start, end, digits) per token that gave
    some, and the index of the first token after the run."""
    parts: list[tuple[int, int, str]] = []
    j = i
    while j < len(tokens):
        word = tokens[j].group()
        folded = _fold(word)
        value = _digits_of(word)
        if value is None and folded in REPEATS and j + 1 < len(tokens):
            repeated = _digits_of(tokens[j + 1].group())
            if repeated is not None and len(repeated) == 1:
                parts.append((tokens[j].start(), tokens[j + 1].end(),
                              repeated * REPEATS[folded]))
                j += 2
                continue
        if value is not None:
            parts.append((tokens[j].start(), tokens[j].end(), value))
        elif not (folded in SEPARATORS and parts):
            break
        j += 1
    return parts, j


def _order_digits(text: str, parts: list[tuple[int, int, str]]
                  ) -> list[tuple[int, int, str]] | None:
    """The parts that make an order number: all of them, or all but leading words that
    also mean "a" or "or" ("un", "ein", "o") and were taken for digits."""
    while parts:
        total = sum(len(d) for _, _, d in parts)
        if total == ORDER_DIGITS:
            return parts
        if total < ORDER_DIGITS or _fold(text[parts[0][0]:parts[0][1]]) not in ARTICLES:
            return None
        parts = parts[1:]
    return None


def spoken_order_numbers(text: str) -> str:
    """``text`` with each spoken order number written as ``123-1234567-1234567``."""
    tokens = list(_TOKEN.finditer(text))
    out: list[str] = []
    last = 0  # how much of ``text`` is already in ``out``
    i = 0
    while i < len(tokens):
        parts, after = _run(tokens, i)
        found = _order_digits(text, parts)
        if found:
            out += [text[last:found[0][0]], order_number("".join(d for _, _, d in found))]
            last = found[-1][1]
        i = max(after, i + 1)
    out.append(text[last:])
    return "".join(out)
