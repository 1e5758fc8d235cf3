"""Answering a product question from the product detail page, or saying it does not answer.

Retrieval ranks page fields; this module decides whether the best fields actually speak to the
question (shared content words, or for the embedding model's own language a close meaning) and
picks the sentences to quote. It never adds a word the page does not say.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from knowledge.index import Evidence, KnowledgeIndex
from knowledge.labels import glossary, label_for, terms_for
from knowledge.text import query_tokens, tokens

# Cosine similarity at which the English model's match counts as an answer on its own; below
# it, the page must share a content word with the question.
DENSE_ANSWER_SIMILARITY = 0.5
MIN_COVERAGE = 0.5
MAX_FACTS = 2
MAX_QUOTE_CHARS = 300
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")


@dataclass(frozen=True, slots=True)
class ProductAnswer:
    facts: list[tuple[Evidence, str]]  # each quoted evidence with the exact text quoted
    topic: str | None  # the page field a missing answer belongs to, e.g. attributes.battery_life
    keywords: list[str]  # the question's content words, for restating it without the message

    @property
    def answered(self) -> bool:
        return bool(self.facts)


@cache
def _injection_patterns() -> list[re.Pattern[str]]:
    text = resources.files("agent").joinpath("data/injection_patterns.json").read_text("utf-8")
    return [re.compile(p, re.IGNORECASE) for p in json.loads(text)]


def addresses_an_assistant(text: str) -> bool:
    """Page text written to steer an AI ("ignore your instructions") is never quoted."""
    return any(p.search(text) for p in _injection_patterns())


def _stems(text: str, language: str) -> set[str]:
    return {t for t in tokens(text, language) if len(t) > 2}


def _evidence_stems(hit: Evidence) -> set[str]:
    stems = _stems(hit.text, hit.language)
    if hit.field.startswith("attributes."):
        key = hit.field.removeprefix("attributes.")
        extra = " ".join([label_for(key, hit.language), *terms_for(key, hit.language)])
        stems |= _stems(extra, hit.language)
    return stems


def _shares(question: set[str], evidence: set[str]) -> set[str]:
    # Prefix match both ways: stems of one form meet longer forms and compound tails.
    return {q for q in question for e in evidence
            if q == e or (len(q) >= 4 and e.startswith(q)) or (len(e) >= 4 and q.startswith(e))}


@cache
def _attribute_stems(language: str) -> dict[str, set[str]]:
    """Per attribute key, the stems of its label and of the words customers use for it."""
    return {key: _stems(" ".join([label_for(key, language), *terms_for(key, language)]),
                        language) for key in glossary()}


def _topic(question: set[str], language: str) -> str | None:
    best, best_hits = None, 0
    for key, stems in _attribute_stems(language).items():
        hits = len(question & stems)
        if hits > best_hits:
            best, best_hits = f"attributes.{key}", hits
    return best


def _quote(hit: Evidence, question: set[str]) -> str:
    if hit.field.startswith("attributes."):
        return f"{label_for(hit.field.removeprefix('attributes.'), hit.language)}: {hit.text}"
    sentences = [s for s in _SENTENCE.split(hit.text) if s.strip()]
    scored = sorted(sentences, key=lambda s: -len(_shares(question, _stems(s, hit.language))))
    best = scored[0] if scored and _shares(question, _stems(scored[0], hit.language)) else hit.text
    return best if len(best) <= MAX_QUOTE_CHARS else best[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + " …"


def answer_product_question(
    index: KnowledgeIndex, question: str, *, language: str, marketplace: str,
    asins: list[str], product_names: str, dense_languages: frozenset[str] = frozenset({"en"}),
) -> ProductAnswer:
    """Evidence from the pages of ``asins`` that answers ``question``, or none."""
    hits = index.search(question, marketplace=marketplace, asins=asins, language=language, k=5)
    # Words that name the product say which product, not what is asked about it.
    # Numbers and sizes in a title are facts ("cama de 150"), not the product's name.
    names = {s for lang in {language, *(h.language for h in hits)}
             for s in _stems(product_names, lang) if s.isalpha()}
    asked: set[str] = set()
    for lang in {language, *(h.language for h in hits)}:
        words = {t for t in query_tokens(question, lang) if len(t) > 2}
        asked |= set(index.lexical.informative_terms(lang, sorted(words)))
    asked -= names
    scored: list[tuple[int, Evidence]] = []
    for hit in hits:
        if addresses_an_assistant(hit.text):
            continue
        overlap = len(_shares(asked, _evidence_stems(hit)))
        # Most of what is asked must be on the page: one shared word ("helmet") is not an
        # answer to "does it fit a Petzl bicycle helmet mount".
        covers = bool(asked) and overlap / len(asked) >= MIN_COVERAGE
        close = (language in dense_languages and hit.similarity is not None
                 and hit.similarity >= DENSE_ANSWER_SIMILARITY)
        if covers or close:
            scored.append((overlap, hit))
    scored.sort(key=lambda s: (-s[0], -s[1].score))
    facts = [(hit, _quote(hit, asked)) for _, hit in scored[:MAX_FACTS]]
    keywords = [w for w in re.findall(r"[^\W\d_][\w-]*", question)
                if _stems(w, language) & asked]
    return ProductAnswer(facts=facts, topic=_topic(asked, language), keywords=keywords)
