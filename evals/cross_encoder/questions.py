"""Labelled questions over page fields, as a cross-encoder reads them.

Each question carries every field it is asked over (``ASIN:field`` and the text the model
reads) and the fields that answer it. Two sources, split as ``evals/answer_decision.py``
splits them:

- public questions (``evals/pqa.py``): each question's candidates. ``pages="as_cases"`` builds
  the page as ``evals/pqa_cases.py`` does (half of the questions with an answer lose their
  answering candidates and must escalate, as must those no candidate answers), so figures
  compare with the case-based reports; ``pages="as_labelled"`` keeps every candidate, for
  training;
- customers' questions (``evals/datasets/customers/``): every field of the ordered products'
  pages, ``citations_any`` naming the fields that answer.

Within ``tune`` a fixed slice (``SLICE_PERCENT`` of question ids by hash) is kept out of
training to choose the bar on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evals.answer_decision import CUSTOMERS, LANGUAGES, customers_part
from evals.pqa import PqaQuestion, questions_of
from evals.pqa_cases import convert
from knowledge.labels import label_for
from knowledge.pages import ProductPage

Source = Literal["public", "customers"]
Part = Literal["train", "bar", "tune", "report"]
SLICE_PERCENT = 20


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


def field_text(field: str, text: str, language: str) -> str:
    """A field as the model reads it: an attribute with its label ("Gewicht: 1,2 kg"), as the
    index embeds it (``knowledge/chunks.py``); any other field as written."""
    if field.startswith("attributes."):
        return f"{label_for(field.removeprefix('attributes.'), language)}: {text}"
    return text


def in_bar_slice(question_id: str) -> bool:
    digest = hashlib.sha256(f"cross-encoder-bar:{question_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < SLICE_PERCENT


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
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def _product_question(case: dict[str, Any]) -> bool:
    expect = case.get("expect", {})
    return (expect.get("outcome") in ("answered", "escalated")
            and expect.get("intent", "product_question") == "product_question"
            and bool(set(case.get("tags", [])) & {"product.answerable", "product.silent"}))


def customer_questions(part: Literal["tune", "report"]) -> list[Question]:
    out: list[Question] = []
    for language in LANGUAGES:
        pages = {(p["asin"], p["marketplace"]): ProductPage.model_validate(p)
                 for p in _jsonl(CUSTOMERS / f"catalog_{language}.jsonl")}
        orders = {o["order_id"]: o for o in _jsonl(CUSTOMERS / f"orders_{language}.jsonl")}
        for case in _jsonl(CUSTOMERS / f"cases_{language}.jsonl"):
            order = orders.get(case.get("order_id", ""))
            if not (order and _product_question(case) and customers_part(case["id"]) == part):
                continue
            fields: list[Field] = []
            for item in order["items"]:
                page = pages.get((item["asin"], order["marketplace"]))
                if page:
                    fields += [Field(f"{page.asin}:{name}",
                                     field_text(name, text, page.language))
                               for name, text in page.fields()]
            answered = case["expect"]["outcome"] == "answered"
            out.append(Question(case["id"], "customers",
                                case["expect"].get("language", language), case["turns"][0],
                                tuple(fields),
                                frozenset(case["expect"].get("citations_any", []))
                                if answered else frozenset()))
    return out


def tune_split(questions: Sequence[Question], part: Part) -> list[Question]:
    """``train``: the tune questions outside the bar slice; ``bar``: those inside it."""
    return [q for q in questions if in_bar_slice(q.id) == (part == "bar")]
