"""Real product questions from public data (semiPQA, HetPQA), as questions over page fields.

Each question comes with candidate pieces of its product's page and a human label saying whether
the piece answers it. The questions are split once into a part to tune on and a part held back,
and the held-back part is only ever reported on.

The split rule: a question's text is normalised (Unicode NFKC, case-folded, every run of
characters that are not letters or digits made one space, trimmed); the SHA-256 of that text,
read as a big-endian integer, modulo 100, puts the question in ``tune`` below 60 and in
``held-out`` otherwise. The same question asked in two files (or twice in one) therefore lands in
one part, and the split changes for no one when files are added.

Only page content is read: semiPQA's attribute candidates and HetPQA's ``attribute``, ``bullet``
and ``Desc`` candidates; HetPQA's other sources (``OSP``, ``CQA``, ``review``) are not a product
page and are skipped. Data: github.com/amazon-science/contextual-product-qa, CDLA-Sharing-1.0
(see ``evals/datasets/pqa/README.md``).
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Part = Literal["tune", "held-out"]
PARTS: tuple[Part, ...] = ("tune", "held-out")
FOLDER = Path(__file__).parent / "datasets" / "pqa"
TUNE_PERCENT = 60

# file name -> the prefix of its question ids, so ids from different files never collide.
FILES: dict[str, str] = {
    "semipqa_attribute_ranking_dev.tsv": "semipqa-dev",
    "semipqa_attribute_ranking_testseen.tsv": "semipqa-testseen",
    "semipqa_attribute_ranking_testunseen.tsv": "semipqa-testunseen",
    "hetpqa_evidence_ranking_dev.tsv": "hetpqa-dev",
}
# HetPQA sources that are the product page; the others are offers, Q&A and reviews.
PAGE_SOURCES = {"attribute": "attributes", "bullet": "bullet_points", "Desc": "description"}
_ATTRIBUTE = re.compile(r"^([A-Za-z0-9_]+):\s+(.*)$", re.S)
_NOT_WORD = re.compile(r"[^\w]+|_+")
# Keys that only qualify a value (its unit converted, its standard form, an internal id).
_QUALIFIERS = frozenset({"normalized_value", "standardized_values", "brand_seq_id",
                         "language_tag", "marketplace_id"})


@dataclass(frozen=True, slots=True)
class PqaCandidate:
    """One piece of the page: ``field`` as the service names page fields, and its text."""

    field: str
    text: str
    relevant: bool


@dataclass(frozen=True, slots=True)
class PqaQuestion:
    qid: str
    question: str
    source: str  # the file's name without ``.tsv``
    candidates: tuple[PqaCandidate, ...]
    part: Part

    @property
    def relevant(self) -> tuple[PqaCandidate, ...]:
        return tuple(c for c in self.candidates if c.relevant)


class PqaFormatError(ValueError):
    """A row of a vendored file that cannot be read; names the file and the line."""


def normalise_question(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def part_of(question: str) -> Part:
    digest = hashlib.sha256(normalise_question(question).encode("utf-8")).digest()
    return "tune" if int.from_bytes(digest, "big") % 100 < TUNE_PERCENT else "held-out"


# --- the attribute notation: `key:  { value:"v" }; { value:"w" }`, nested objects and lists ----

class _Bare(str):
    """An unquoted token (``false``, ``kilograms``, ``13.``), as opposed to a quoted string."""


Node = str | list["Node"] | dict[str, "Node"]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> PqaFormatError:
        return PqaFormatError(f"{what} at character {self.pos} of {self.text[:80]!r}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def values(self) -> list[Node]:
        items = [self.value()]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.value())
        if self.peek():
            raise self.fail("unexpected text")
        return items

    def value(self) -> Node:
        char = self.peek()
        if char == "{":
            return self.mapping()
        if char == "[":
            return self.sequence()
        if char == '"':
            return self.quoted()
        return self.bare()

    def mapping(self) -> dict[str, Node]:
        self.expect("{")
        out: dict[str, Node] = {}
        while self.peek() != "}":
            start = self.pos
            while self.pos < len(self.text) and self.text[self.pos] not in ":}":
                self.pos += 1
            key = self.text[start:self.pos].strip()
            self.expect(":")
            out[key] = self.value()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}":
                raise self.fail("expected ',' or '}'")
        self.pos += 1
        return out

    def sequence(self) -> list[Node]:
        self.expect("[")
        out: list[Node] = []
        while self.peek() != "]":
            out.append(self.value())
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise self.fail("expected ',' or ']'")
        self.pos += 1
        return out

    def quoted(self) -> str:
        self.expect('"')
        chars: list[str] = []
        while self.pos < len(self.text) and self.text[self.pos] != '"':
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        self.expect('"')
        return "".join(chars)

    def bare(self) -> _Bare:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",;}]":
            self.pos += 1
        token = self.text[start:self.pos].strip()
        if not token:
            raise self.fail("expected a value")
        return _Bare(token)


def _word(token: _Bare) -> str:
    # Booleans read as a person would say them; numbers lose the notation's trailing dot.
    if token in {"true", "false"}:
        return "yes" if token == "true" else "no"
    if re.fullmatch(r"-?\d+\.", token):
        return token[:-1]
    return token.replace("_", " ")


def _render(node: Node) -> str:
    if isinstance(node, _Bare):
        return _word(node)
    if isinstance(node, str):
        return " ".join(node.split())
    if isinstance(node, list):
        return ", ".join(dict.fromkeys(t for t in map(_render, node) if t))
    value = node.get("value", node.get("decimal_value"))
    if value is not None:
        text = _render(value)
        unit = node.get("unit")
        return f"{text} {_render(unit)}" if unit is not None and text else text
    parts = [(k, _render(v)) for k, v in node.items() if k not in _QUALIFIERS]
    return ", ".join(f"{k.replace('_', ' ')}: {t}" for k, t in parts if t)


def attribute_candidate(candidate: str) -> tuple[str, str]:
    """(key, readable text) of ``key:  { value:"v" }``; several values are joined by commas."""
    match = _ATTRIBUTE.match(candidate)
    if match is None:
        raise PqaFormatError(f"not an attribute: {candidate[:80]!r}")
    key, raw = match.groups()
    items = _Parser(raw).values()
    # Values of several parts each ("quantity: 4, type: c") are kept apart by semicolons.
    compound = any(isinstance(i, dict) and "value" not in i and len(i) > 1 for i in items)
    texts = dict.fromkeys(t for t in map(_render, items) if t)
    return key, ("; " if compound else ", ").join(texts)


# --- the files ------------------------------------------------------------------------------

@dataclass
class _Page:
    question: str
    attributes: dict[str, tuple[str, bool]]
    bullets: list[tuple[str, bool]]
    description: list[tuple[str, bool]]

    def add(self, where: str, key: str, text: str, relevant: bool) -> None:
        if not text:
            return
        if where == "attributes":
            # A key listed twice is one field: its texts joined, relevant if either is.
            old_text, old_rel = self.attributes.get(key, ("", False))
            joined = text if not old_text or text == old_text else f"{old_text}; {text}"
            self.attributes[key] = (joined, old_rel or relevant)
            return
        pieces = self.bullets if where == "bullet_points" else self.description
        for i, (old, old_rel) in enumerate(pieces):
            if old == text:
                pieces[i] = (old, old_rel or relevant)
                return
        pieces.append((text, relevant))

    def candidates(self) -> tuple[PqaCandidate, ...]:
        return (
            *(PqaCandidate(f"attributes.{k}", t, r) for k, (t, r) in self.attributes.items()),
            *(PqaCandidate(f"bullet_points[{i}]", t, r) for i, (t, r) in enumerate(self.bullets)),
            *(PqaCandidate(f"description[{i}]", t, r)
              for i, (t, r) in enumerate(self.description)),
        )


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, dialect="excel-tab")
        for row in reader:
            missing = [k for k in ("qid", "question", "candidate", "label") if not row.get(k)]
            if missing:
                raise PqaFormatError(f"{path}:{reader.line_num}: missing {', '.join(missing)}")
            yield reader.line_num, row


def read_file(path: Path) -> list[PqaQuestion]:
    """The questions of one vendored file, in the file's order."""
    prefix = FILES.get(path.name)
    if prefix is None:
        raise PqaFormatError(f"{path}: not one of the public question files {sorted(FILES)}")
    pages: dict[str, _Page] = {}
    for line, row in _rows(path):
        where = PAGE_SOURCES.get(row.get("source") or "attribute")
        if where is None:
            continue
        page = pages.setdefault(row["qid"], _Page(row["question"].strip(), {}, [], []))
        relevant = row["label"].strip() == "1"
        try:
            if where == "attributes":
                key, text = attribute_candidate(row["candidate"])
            else:
                key, text = "", " ".join(row["candidate"].split())
        except PqaFormatError as exc:
            raise PqaFormatError(f"{path}:{line}: {exc}") from None
        page.add(where, key, text, relevant)
    return [PqaQuestion(qid=f"{prefix}-{qid}", question=page.question, source=path.stem,
                        candidates=page.candidates(), part=part_of(page.question))
            for qid, page in pages.items() if page.question]


def load_questions(folder: Path = FOLDER) -> list[PqaQuestion]:
    """Every question of the four public files, both parts, files in a fixed order."""
    return [q for name in FILES for q in read_file(folder / name)]


def questions_of(part: Part, folder: Path = FOLDER) -> list[PqaQuestion]:
    return [q for q in load_questions(folder) if q.part == part]
