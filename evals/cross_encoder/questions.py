"""Labelled questions over page fields, as a cross-encoder reads them.

Each question carries every field it is asked over (``ASIN:field`` and the text the model
reads) and the fields that answer it. Two sources reported on, split as
``evals/answer_decision.py`` splits them, and one for training only:

- public questions (``evals/pqa.py``): each question's candidates. ``pages="as_cases"`` builds
  the page as ``evals/pqa_cases.py`` does (half of the questions with an answer lose their
  answering candidates and must escalate, as must those no candidate answers), so figures
  compare with the case-based reports; ``pages="as_labelled"`` keeps every candidate, for
  training;
- customers' questions (``evals/datasets/customers/``): every field of the ordered products'
  pages, ``citations_any`` naming the fields that answer;
- the project's own questions on the demo pages (``demo_questions``), for training only.

Within ``tune`` a fixed slice (``evals.answer_decision.SLICE_PERCENT`` of question ids by
hash) is kept out of training to choose the bar on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from base.jsonl import iter_json_lines
from evals.answer_decision import CUSTOMERS, LANGUAGES, customers_part, in_bar_slice
from evals.pqa import PqaQuestion, questions_of
from evals.pqa_cases import convert
from knowledge.cross_encoder.fields import field_text
from knowledge.pages import ProductPage

Source = Literal["public", "customers", "demo"]
Part = Literal["train", "bar", "tune", "report"]
_ROOT = Path(__file__).resolve().parents[2]
DEV = _ROOT / "evals" / "datasets" / "dev.jsonl"
DEMO = _ROOT / "data" / "demo"
RETRIEVAL_QUESTIONS = _ROOT / "tests" / "knowledge" / "retrieval_questions.jsonl"
UNANSWERABLE_QUESTIONS = _ROOT / "tests" / "agent" / "unanswerable_questions.jsonl"


@dataclass(frozen=True, slots=True)
class Field:
    ref: str  # "ASIN:field", as citations name it
    text: str  # what the model reads


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    source: Source
    language: str
    question: str
    fields: tuple[Field, ...]
    answers: frozenset[str]  # refs of the fields that answer; empty: the page is silent

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def _public(question: PqaQuestion, as_cases: bool) -> Question:
    if as_cases:
        case = convert(question)
        page = ProductPage.model_validate(case.page)
        asin = page.asin
        # The candidates as the case's page holds them (renumbered after removal); its title
        # is made up (an attribute's copy or "Item ASIN"), not a candidate.
        fields = tuple(Field(f"{asin}:{name}", field_text(name, text, "en"))
                       for name, text in page.fields() if name != "title")
        answers = frozenset(case.case["expect"].get("citations_any", []))
        return Question(question.qid, "public", "en", question.question, fields, answers)
    fields = tuple(Field(f"{question.qid}:{c.field}", field_text(c.field, c.text, "en"))
                   for c in question.candidates)
    answers = frozenset(f"{question.qid}:{c.field}" for c in question.candidates if c.relevant)
    return Question(question.qid, "public", "en", question.question, fields, answers)


def public_questions(part: Literal["tune", "held-out"], as_cases: bool) -> list[Question]:
    return [_public(q, as_cases) for q in questions_of(part)]


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for _, row in iter_json_lines(path):
        yield cast(dict[str, Any], row)


_PRODUCT_TAGS = frozenset({"product.answerable", "product.silent",  # the customers' sets
                           "product.answered", "product.unanswerable"})  # the dev set


def _product_question(case: dict[str, Any]) -> bool:
    expect = case.get("expect", {})
    return (expect.get("outcome") in ("answered", "escalated")
            and expect.get("intent", "product_question") == "product_question"
            and bool(set(case.get("tags", [])) & _PRODUCT_TAGS))


def _page_fields(page: ProductPage) -> list[Field]:
    return [Field(f"{page.asin}:{name}", field_text(name, text, page.language))
            for name, text in page.fields()]


def _pages(path: Path) -> dict[tuple[str, str], ProductPage]:
    return {(p["asin"], p["marketplace"]): ProductPage.model_validate(p) for p in _jsonl(path)}


def _case_questions(cases: Path, catalog: Path, orders_path: Path, source: Source,
                    language: str, keep: Callable[[str], bool]) -> list[Question]:
    """The first-turn product questions of an eval dataset, over every field of the ordered
    products' pages; ``citations_any`` names the fields that answer."""
    pages = _pages(catalog)
    orders = {o["order_id"]: o for o in _jsonl(orders_path)}
    out: list[Question] = []
    for case in _jsonl(cases):
        order = orders.get(case.get("order_id", ""))
        if not (order and _product_question(case) and keep(case["id"])):
            continue
        fields: list[Field] = []
        for item in order["items"]:
            page = pages.get((item["asin"], order["marketplace"]))
            if page:
                fields += _page_fields(page)
        expect = case["expect"]
        # The dev set names every field it cites (``citations``), the customers' sets any
        # one that answers (``citations_any``); a citation of a whole page ("B0DE6BW3R9",
        # any of its fields) names no field.
        answers = frozenset(ref for ref in expect.get("citations_any",
                                                      expect.get("citations", []))
                            if ":" in ref)
        answered = expect["outcome"] == "answered"
        if answered and not answers:
            continue  # answered, but no field named: nothing to learn which one
        out.append(Question(case["id"], source, expect.get("language", language),
                            case["turns"][0], tuple(fields),
                            answers if answered else frozenset()))
    return out


def customer_questions(part: Literal["tune", "report"]) -> list[Question]:
    return [q for language in LANGUAGES for q in _case_questions(
        CUSTOMERS / f"cases_{language}.jsonl", CUSTOMERS / f"catalog_{language}.jsonl",
        CUSTOMERS / f"orders_{language}.jsonl", "customers", language,
        lambda case_id: customers_part(case_id) == part)]


def demo_questions() -> list[Question]:
    """The project's own product questions on the demo pages, in German, Spanish and English:
    the dev set's, and the retrieval tests' labelled and page-silent ones. Training only: the
    pages are not the customers' nor the public ones, so nothing reported is trained on, and
    they double the German and Spanish questions the customers' tune half gives."""
    out = _case_questions(DEV, DEMO / "catalog.jsonl", DEMO / "orders.jsonl", "demo", "en",
                          lambda case_id: True)
    pages = _pages(DEMO / "catalog.jsonl")
    for path in (RETRIEVAL_QUESTIONS, UNANSWERABLE_QUESTIONS):
        for n, row in enumerate(_jsonl(path)):
            page = pages[(row["asin"], row["marketplace"])]
            out.append(Question(row.get("id", f"{path.stem}-{n}"), "demo", row["language"],
                                row["question"], tuple(_page_fields(page)),
                                frozenset(f"{page.asin}:{f}" for f in row.get("fields", []))))
    return out


def tune_split(questions: Sequence[Question], part: Part) -> list[Question]:
    """``train``: the tune questions outside the bar slice; ``bar``: those inside it."""
    return [q for q in questions if in_bar_slice(q.id) == (part == "bar")]
