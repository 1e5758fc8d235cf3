"""What a seller reads of a product question it must answer: one sentence built from what
the agent understood (the product, the page field asked about, the question's topic words),
never the customer's message itself, their name or how to reach them.

The sentence is a ``SellerText``: it is written in the seller's language when the case opens.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources

from agent.cases import SellerText
from knowledge.labels import label_for
from knowledge.pages import ProductPage
from knowledge.text import fold

# "Brand Product, feature, feature – more": the product's name is what comes before the
# first comma, dash, bar or bracket; what follows is a list of facts.
_TITLE_TAIL = re.compile(r",|\s[–—-]\s|\s\||\(")
MAX_TITLE_WORDS = 6
MAX_KEYWORDS = 6


@cache
def _skip_words(language: str) -> frozenset[str]:
    text = resources.files("agent").joinpath("data/summary_skip_words.json").read_text("utf-8")
    table: dict[str, list[str]] = json.loads(text)
    return frozenset(fold(w) for w in table.get(language, []))


def short_title(page: ProductPage | None, asin: str) -> str:
    """The product's name as a seller knows it: the title's head, at most six words."""
    if page is None:
        return asin
    words = _TITLE_TAIL.split(page.title, maxsplit=1)[0].split()
    return " ".join(words[:MAX_TITLE_WORDS]) or asin


def topic_words(keywords: Iterable[str], *, language: str, private: Iterable[str],
                title: str = "") -> list[str]:
    """The question's content words a seller may read: no greeting or order word, no number
    (an order id, a phone), no word of the customer's name, none the sentence names already
    (the product's title); each once, at most six."""
    skip = _skip_words(language) | {fold(w) for w in private} \
        | {fold(w) for w in title.split()}
    kept: list[str] = []
    for word in keywords:
        if fold(word) in skip or any(c.isdigit() for c in word) \
                or fold(word) in {fold(k) for k in kept}:
            continue
        kept.append(word)
    return kept[:MAX_KEYWORDS]


def _topic_label(key: str, language: str) -> str:
    # The English sentence runs the label into its words ("the item weight of"); the other
    # languages quote it as the page labels it.
    label = label_for(key, language)
    return label[:1].lower() + label[1:] if language == "en" else label


def product_question_summary(*, page: ProductPage | None, asin: str, topic: str | None,
                             keywords: list[str]) -> SellerText:
    """"The customer asks about the item weight of Lichtwerk Lumo LED-Schreibtischlampe
    (B0…), in these words: schwer; the product page does not say." in the seller's language.
    The topic is the page field the answer belongs to, labelled in that language."""
    slots: dict[str, object] = {"title": short_title(page, asin), "asin": asin,
                                "keywords": ", ".join(keywords) or "-"}
    if topic and topic.startswith("attributes."):
        key = topic.removeprefix("attributes.")
        slots["topic"] = lambda language: _topic_label(key, language)
        return SellerText("seller_question_product", slots)
    return SellerText("seller_question_product_general", slots)
