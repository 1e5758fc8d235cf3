"""How often a product question is answered from the right page field, and how often a
question the page cannot answer is refused (a case) instead of guessed.

Figures are printed with -s; the gates sit at today's level so a regression fails.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from agent.answer_decision import decision_for
from agent.product_answers import (
    AskedWord,
    answer_product_question,
    asked_part,
    asked_words,
    is_specialist_term,
)
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
# CSBA_ANSWER_DECISION's choices for the default model. These questions are among those the
# cross-encoder was fine-tuned on (``evals/cross_encoder/questions.py``, ``demo_questions``):
# for it they check the turn's wiring, not how it reads new questions (README, Evals).
DECISIONS = ("calibrated", "cross")


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.mark.parametrize("choice", DECISIONS)
def test_answers_cite_the_field_that_answers(demo_index: KnowledgeIndex,
                                            demo_pages: list[ProductPage], choice: str) -> None:
    titles = {p.asin: p.title for p in demo_pages}
    decision = decision_for(demo_index.model_name, choice=choice)
    right: dict[str, list[bool]] = defaultdict(list)
    for q in rows(ANSWERABLE):
        found = answer_product_question(
            demo_index, str(q["question"]), language=str(q["language"]),
            marketplace=str(q["marketplace"]), asins=[str(q["asin"])],
            product_names=titles[str(q["asin"])], decision=decision)
        right[str(q["language"])].append(any(h.field in q["fields"]  # type: ignore[operator]
                                             for h, _ in found.facts))
    rates = {lang: sum(v) / len(v) for lang, v in right.items()}
    print("answered from the right field:", rates)  # noqa: T201
    assert all(rates[lang] >= floor for lang, floor in RIGHT_FIELD_FLOOR.items()), rates


@pytest.mark.parametrize("choice", DECISIONS)
def test_questions_the_page_cannot_answer_are_not_guessed(
        demo_index: KnowledgeIndex, demo_pages: list[ProductPage], choice: str) -> None:
    titles = {p.asin: p.title for p in demo_pages}
    decision = decision_for(demo_index.model_name, choice=choice)
    questions = rows(UNANSWERABLE)
    refused = [not answer_product_question(
        demo_index, str(q["question"]), language=str(q["language"]),
        marketplace=str(q["marketplace"]), asins=[str(q["asin"])],
        product_names=titles[str(q["asin"])], decision=decision).answered
        for q in questions]
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


@pytest.mark.parametrize(("message", "language", "asked"), [
    ("tiene freno? mi hijo va a mil por la cuesta de casa", "es", "tiene freno?"),
    ("Hola! ¿la báscula trae pilas? no las encuentro", "es", "¿la báscula trae pilas?"),
    ("My laptop only has USB-C ports. Will this plug in? Kevin", "en", "Will this plug in?"),
    ("Es para mi madre. Quisiera saber el peso.", "es", "Quisiera saber el peso."),
    # A request asks too: both sentences are what is asked.
    ("i want to know how to clean it. what is it made out of?", "en",
     "i want to know how to clean it. what is it made out of?"),
    ("Wie hoch ist der Tisch? Wie breit?", "de", "Wie hoch ist der Tisch? Wie breit?"),
    ("Die Lampe flackert seit gestern.", "de", "Die Lampe flackert seit gestern."),
])
def test_the_sentences_that_ask_are_what_is_asked(message: str, language: str,
                                                   asked: str) -> None:
    assert asked_part(message, language) == asked


def test_a_lower_case_noun_names_the_product_only_as_a_word_of_its_name() -> None:
    assert [w.word for w in asked_words("kann ich die jacke in den trockner stecken?", "de",
                                        "HappyKids Kinder-Regenjacke")] == ["trockner"]
    # A verb sharing the compound's stem asks about it: "waschen" is not "Bettwäsche".
    assert [w.word for w in asked_words("kann man die bettwäsche bei 60 grad waschen", "de",
                                        "Casa Soleada Bettwäsche")] == ["grad", "waschen"]


def test_a_bare_question_after_the_situation_is_read_with_the_situation() -> None:
    # "Geht das?" names nothing: the situation told before it says what is asked.
    words = asked_words("Der Spiegel käme direkt neben die Dusche. Geht das?", "de",
                         "Lichtwerk Spiegel")
    assert {w.word for w in words} >= {"Dusche"}
    # Greetings and thanks are never what is asked.
    assert [w.word for w in asked_words("Hallo, wie schwer ist die Lampe?", "de",
                                         "Lichtwerk Stehlampe")] == ["schwer"]


@pytest.mark.parametrize(("asin", "marketplace", "language", "question", "field"), [
    ("B0ES5L9C2H", "ES", "es",
     "¿De qué tela es la camisa? Tengo la piel muy sensible y todo me pica.", "attributes.fabric"),
    ("B0ES3V7K1D", "ES", "es", "¿Cuánto pesa la vajilla? Vivimos en un quinto sin ascensor y "
     "la subo yo sola.", "attributes.item_weight"),
    ("B0UKTL2T48", "UK", "en", "How heavy is the throw? My gran is in her nineties and it has "
     "to sit on her knees.", "attributes.item_weight"),
    ("B0DE9HP3C6", "DE", "de", "Hallo, wie schwer ist das Puzzle? Wir verschicken es an die Oma.",
     "attributes.item_weight"),
])
def test_what_the_customer_tells_around_a_question_does_not_hide_it(
        demo_index: KnowledgeIndex, demo_pages: list[ProductPage], asin: str, marketplace: str,
        language: str, question: str, field: str) -> None:
    assert first_field(demo_index, demo_pages, asin, marketplace, language, question) == field


def first_field(index: KnowledgeIndex, pages: list[ProductPage], asin: str, marketplace: str,
                language: str, question: str) -> str | None:
    title = next(p.title for p in pages if p.asin == asin)
    found = answer_product_question(index, question, language=language,
                                    marketplace=marketplace, asins=[asin], product_names=title)
    return next((h.field for h, _ in found.facts), None)


@pytest.mark.parametrize(("asin", "marketplace", "language", "question", "field"), [
    # The thing itself ("das Teil") and needing it only frame what is asked.
    ("B0DE5WK1T4", "DE", "de", "Wie hoch ist das Teil ungefähr? Unser Hängeschrank hängt "
     "ziemlich tief.", "attributes.dimensions"),
    ("B0ES8D5H3J", "ES", "es", "¿Necesita pilas la casa de muñecas?", "bullet_points[2]"),
    # Typed all in lower case, a German noun ending the product's compound name still
    # names the product ("schürze" of "Leinen-Kochschürze"); "darf" only frames.
    ("B0DE1AP4L5", "DE", "de", "wie schwer ist die schürze?", "attributes.item_weight"),
    ("B0DE7CS2G9", "DE", "de", "darf das geschirrset in die spülmaschine?",
     "attributes.care_instructions"),
    # Having to buy a thing apart frames what is asked (whether it comes with the product
    # does not: a field answers that only by saying what is included).
    ("B0USHK1RB7", "US", "en", "Does the remote come with batteries or do I have to buy them "
     "separately?", "description[1]"),
    # A word of the product's name asks when it is all there is ("madera" of a wooden
    # board: its material).
    ("B0ES2T6G8R", "ES", "es", "¿De qué madera es la tabla?", "attributes.material"),
    # An attribute named by the words customers use for it is offered though retrieval
    # ranked it low ("alta" names the dimensions).
    ("B0ES8D5H3J", "ES", "es", "¿Qué tan alta es la casa?", "attributes.dimensions"),
])
def test_words_that_only_frame_a_question_are_not_what_it_asks(
        demo_index: KnowledgeIndex, demo_pages: list[ProductPage], asin: str, marketplace: str,
        language: str, question: str, field: str) -> None:
    assert first_field(demo_index, demo_pages, asin, marketplace, language, question) == field


@pytest.mark.parametrize(("asin", "marketplace", "language", "question", "field"), [
    ("B0ES2P0W7Y", "ES", "es", "¿Trae cable?", "bullet_points[4]"),  # "CABLE NO INCLUIDO"
    ("B0DE6BB1X7", "DE", "de", "Sind die Knopfzellen dabei?", "bullet_points[1]"),  # "enthalten"
    ("B0DE2FL8H6", "DE", "de", "Ist ein Leuchtmittel dabei?", "attributes.bulb_type"),
])
def test_whether_a_thing_comes_with_the_product_is_read_where_the_page_says_included(
        demo_index: KnowledgeIndex, demo_pages: list[ProductPage], asin: str, marketplace: str,
        language: str, question: str, field: str) -> None:
    # The question's "trae" and "dabei" are the page's "incluido" and "enthalten": read as
    # other words, the field covered half of what was asked and the question became a case.
    assert first_field(demo_index, demo_pages, asin, marketplace, language, question) == field


@pytest.mark.parametrize(("message", "language", "title", "asked"), [
    ("¿Cuánto mide la casa? quiero saber si me cabe en la estantería", "es",
     "Casa de muñecas", ["mide", "estantería"]),
    ("Eine Frage: ich möchte gerne wissen, wie schwer die Lampe ist", "de",
     "Lichtwerk Stehlampe", ["schwer"]),
    ("¿Sirve para exterior?", "es", "Guirnalda de luces", ["exterior"]),
])
def test_saying_what_one_wants_to_know_is_not_what_is_asked(
        message: str, language: str, title: str, asked: list[str]) -> None:
    assert [w.word for w in asked_words(message, language, title)] == asked


@pytest.mark.parametrize(("asin", "question"), [
    ("B0USRL1IB5", "Does it have bluetooth?"),  # a water bottle in "Glacier Blue"
    ("B0USBW3C65", "is it bluetooth?"),  # a charger in "Black", whose word list has "blue"
])
def test_a_word_that_only_opens_with_a_fields_word_is_not_that_word(
        demo_index: KnowledgeIndex, demo_pages: list[ProductPage], asin: str,
        question: str) -> None:
    # "bluetooth" opens with "blue": read as a form of it, the colour answered the question.
    title = next(p.title for p in demo_pages if p.asin == asin)
    found = answer_product_question(demo_index, question, language="en", marketplace="US",
                                    asins=[asin], product_names=title)
    assert "attributes.color" not in {h.field for h, _ in found.facts}

