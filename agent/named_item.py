"""Which item of an order a message names: the one whose title shares the most words with it.

Words every title of the order shares (the brand, "LED") tell no item from another and are
not counted; a German compound's tail counts ("Lampe" names the "Schreibtischlampe").
"""

from __future__ import annotations

from collections.abc import Mapping

from knowledge.text import stopwords, tokens

_MIN_STEM = 3  # shorter stems ("m", "5") are units and sizes, not names


def _stems(text: str, language: str) -> set[str]:
    stop = stopwords(language)
    return {t for t in tokens(text, language)
            if len(t) >= _MIN_STEM and t.isalpha() and t not in stop}


def named_item(text: str, language: str, titles: Mapping[str, str]) -> str | None:
    """The ASIN among ``titles`` (ASIN -> title) the text names by title words, or none when
    no title shares a word with it or two share as many."""
    if len(titles) < 2:
        return next(iter(titles), None)
    asked = _stems(text, language)
    own = {asin: _stems(title, language) for asin, title in titles.items()}
    shared = set.intersection(*own.values())
    scores = sorted(((len(asked & (stems - shared)), asin) for asin, stems in own.items()),
                    reverse=True)
    (best, asin), (second, _) = scores[0], scores[1]
    return asin if best > second else None
