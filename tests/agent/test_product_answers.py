"""How often a product question is answered from the right page field, and how often a
question the page cannot answer is refused (a case) instead of guessed.

Figures are printed with -s; the gates sit at today's level so a regression fails.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from agent.product_answers import AskedWord, answer_product_question, is_specialist_term
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
ANSWERABLE = HERE.parent / "knowledge" / "retrieval_questions.jsonl"
UNANSWERABLE = HERE / "unanswerable_questions.jsonl"
# The default (calibrated) decision's level, docs/benchmarks.md section e: the coverage rule
# answers more of these English questions (0.85) from half their words, and fewer German
# ones; on held-out questions the calibrated decision is ahead in every language (README).
RIGHT_FIELD_FLOOR = {"de": 0.5, "es": 0.6, "en": 0.6}
REFUSAL_FLOOR = 0.7


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_answers_cite_the_field_that_answers(demo_index: KnowledgeIndex,
                                            demo_pages: list[ProductPage]) -> None:
    titles = {p.asin: p.title for p in demo_pages}
    right: dict[str, list[bool]] = defaultdict(list)
    for q in rows(ANSWERABLE):
        found = answer_product_question(
            demo_index, str(q["question"]), language=str(q["language"]),
            marketplace=str(q["marketplace"]), asins=[str(q["asin"])],
            product_names=titles[str(q["asin"])])
        right[str(q["language"])].append(any(h.field in q["fields"]  # type: ignore[operator]
                                             for h, _ in found.facts))
    rates = {lang: sum(v) / len(v) for lang, v in right.items()}
    print("answered from the right field:", rates)  # noqa: T201
    assert all(rates[lang] >= floor for lang, floor in RIGHT_FIELD_FLOOR.items()), rates


def test_questions_the_page_cannot_answer_are_not_guessed(
        demo_index: KnowledgeIndex, demo_pages: list[ProductPage]) -> None:
    titles = {p.asin: p.title for p in demo_pages}
    questions = rows(UNANSWERABLE)
    refused = [not answer_product_question(
        demo_index, str(q["question"]), language=str(q["language"]),
        marketplace=str(q["marketplace"]), asins=[str(q["asin"])],
        product_names=titles[str(q["asin"])]).answered for q in questions]
    rate = sum(refused) / len(refused)
    print("refused when the page is silent:", rate)  # noqa: T201
    assert rate >= REFUSAL_FLOOR


@pytest.mark.parametrize(("word", "language", "specialist"), [
    ("mulesing-free", "en", True),  # the part that matters is rare, "free" is not
    ("Petzl", "en", True),
    ("flight", "en", False),  # a plain word: the page may say "airline"
    ("Allergiker", "de", False),
    ("Wanddimmer", "de", False),  # rare as a whole, a plain "Dimmer" by its tail
    ("gratinar", "es", True),
])
def test_specialist_terms_are_rare_in_the_language_itself(word: str, language: str,
                                                         specialist: bool) -> None:
    assert is_specialist_term(AskedWord(word, word.lower(), ()), language) is specialist
