"""Tokens for the lexical leg: Snowball stems per language, accents folded, codes kept whole.

Exact codes decide many answers ("Passt das LW-TL45 Netzteil?", "140x200"), so a code is
indexed both joined ("lwtl45") and in parts ("lw", "tl45"); the dense model cannot do this.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import Stemmer
from stop_words import StopWordError, get_stop_words

SNOWBALL_LANGUAGES = {"de": "german", "es": "spanish", "en": "english", "fr": "french",
                      "it": "italian", "pt": "portuguese", "nl": "dutch"}
_WORD = re.compile(r"[^\W_]+(?:[-/.+][^\W_]+)*", re.UNICODE)
_PART = re.compile(r"[^\W_]+", re.UNICODE)
_DIGIT = re.compile(r"\d")
_DIMENSION = re.compile(r"(\d)\s*[x×*]\s*(?=\d)")  # "140 x 200" and "140x200" alike
_TIMES = re.compile(r"(?<=\d)x(?=\d)")
_SEPARATOR = re.compile(r"[-/.+]")
# German (and Dutch) glue words together: "Waschmaschine" should meet "maschinenwaschbar".
# Long words are also indexed by their tails, which prefix queries then match.
COMPOUNDING_LANGUAGES = {"de", "nl"}
_COMPOUND_MIN_LEN = 9
_MIN_HEAD = 3
_MIN_TAIL = 5


@cache
def _stemmer(language: str) -> Stemmer.Stemmer | None:
    name = SNOWBALL_LANGUAGES.get(language)
    return Stemmer.Stemmer(name) if name else None


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Batería' -> 'bateria', 'Größe' -> 'grosse'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str, language: str) -> list[str]:
    """Index/query terms of ``text`` as written in ``language``."""
    stemmer = _stemmer(language)
    out: list[str] = []
    lowered = _DIMENSION.sub(r"\1x", unicodedata.normalize("NFKC", text).casefold())
    for match in _WORD.finditer(lowered):
        word = match.group()
        parts = _PART.findall(_TIMES.sub(" ", word))
        if len(parts) > 1:
            out.append(fold(_SEPARATOR.sub("", word)))  # whole code: bw-pb20k -> bwpb20k
        for part in parts:
            # Stemming a code or number would mangle it; only words are stemmed.
            # Fold before stemming: customers often type without accents ("bateria").
            plain = fold(part)
            folded = plain if (stemmer is None or _DIGIT.search(plain)) else stemmer.stemWord(plain)
            out.append(folded)
            if language in COMPOUNDING_LANGUAGES and len(folded) >= _COMPOUND_MIN_LEN \
                    and folded.isalpha():
                out += [folded[i:] for i in range(_MIN_HEAD, len(folded) - _MIN_TAIL + 1)]
    return out


@cache
def stopwords(language: str) -> frozenset[str]:
    """Function words of ``language`` (accent-folded); empty for a language without a list."""
    try:
        return frozenset(fold(w) for w in get_stop_words(language))
    except StopWordError:
        return frozenset()


def query_tokens(text: str, language: str) -> list[str]:
    """Tokens of a question without its function words ("does", "las", "die"), which
    match everywhere and answer nothing. A question of function words only keeps them."""
    stop = stopwords(language)
    kept = " ".join(w for w in re.findall(r"\S+", text)
                    if fold(w.strip("¿?¡!.,;:()\"'")) not in stop)
    return tokens(kept, language) or tokens(text, language)
