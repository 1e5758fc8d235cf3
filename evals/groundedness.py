"""Groundedness without a language model: is every claim of a reply in the evidence it cites?

A reply is split into sentences. Its wording is parsed back into the agent's reply templates
(``agent/templates/<lang>.json``): the templates' own words are boilerplate, reviewed once;
what fills their slots (names, dates, amounts, quotes, addresses) is a claim. A sentence is
grounded when every number, code and word of its claims appears in the evidence, and a
sentence that is pure boilerplate is grounded when the reply carries a citation or a case
(the policy, order or page it speaks for) or when it only asks or greets. Text that parses into
no template (a reworded reply) is checked whole: its numbers, codes and key terms (words that
are neither stop words nor template words) must all be in the evidence. The README gives the
full definition; this module must not call a model.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache

from babel.dates import format_date
from stop_words import get_stop_words

from agent.messages import Reply
from agent.records import Order
from agent.replies import templates
from knowledge.labels import label_for
from knowledge.pages import ProductPage

# Templates that only greet, ask or point the customer on: they state no fact, so they need
# no citation. Every other template states policy, order or page facts.
CONVERSATIONAL_TEMPLATES = frozenset({
    "greeting", "thanks", "goodbye", "ask_order_id", "ask_item", "ask_rephrase",
    "case_follow_up_sms",
    "code_sent", "code_ask", "code_wrong", "code_expired", "code_exhausted", "code_limit",
})
_SLOT = re.compile(r"\{(\w+)\}")
_WORD = re.compile(r"[^\W\d_]{2,}")
_NUMBER_OR_CODE = re.compile(r"\w*\d[\w]*(?:[.,:/\-–]\d[\w]*)*")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_LOCALES = {"de": "de_DE", "es": "es_ES", "en": "en_GB", "fr": "fr_FR", "it": "it_IT"}
# A sentence ends at . ! ? or … followed by space; not after a one- or two-digit ordinal
# ("7. November 2026" is one date, not two sentences).
_BOUNDARY = re.compile(r"(?<!\s\d\.)(?<!\s\d\d\.)(?<=[.!?…])[\"”»)]?\s+")


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    grounded: bool
    unsupported: tuple[str, ...]  # the claim tokens the evidence does not hold


@dataclass(frozen=True, slots=True)
class Records:
    """The data a reply's citations point at: pages by ASIN, orders by id."""

    pages: dict[str, list[ProductPage]]
    orders: dict[str, Order]

    @classmethod
    def of(cls, pages: Iterable[ProductPage], orders: Iterable[Order]) -> Records:
        by_asin: dict[str, list[ProductPage]] = {}
        for page in pages:
            by_asin.setdefault(page.asin, []).append(page)
        return cls(by_asin, {o.order_id: o for o in orders})


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def number_forms(token: str) -> set[str]:
    """A number or code in comparable forms: "28,98" and "28.98" meet, as do "1.350" and "1350"."""
    folded = fold(token)
    groups = re.findall(r"[^\W_]+", folded)
    return {".".join(groups), "".join(groups)}


def claim_tokens(text: str) -> list[str]:
    """Numbers and codes (anything with a digit) and words, as they appear."""
    found = [m.group() for m in _NUMBER_OR_CODE.finditer(text)]
    rest = _NUMBER_OR_CODE.sub(" ", text)
    return found + _WORD.findall(rest)


class Evidence:
    """What a reply may state: its cited texts and the records they point at."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.words: set[str] = set()
        self.numbers: set[str] = set()
        for text in texts:
            for token in claim_tokens(text):
                if any(c.isdigit() for c in token):
                    self.numbers |= number_forms(token)
                else:
                    self.words.add(fold(token))

    def holds(self, token: str) -> bool:
        if any(c.isdigit() for c in token):
            return bool(number_forms(token) & self.numbers)
        return fold(token) in self.words


def _spelled_dates(text: str, languages: Sequence[str]) -> list[str]:
    out: list[str] = []
    for match in _ISO_DATE.finditer(text):
        value = date(*(int(g) for g in match.groups()))
        out += [str(format_date(value, format="long", locale=_LOCALES.get(lang, "en_GB")))
                for lang in languages]
    return out


def evidence_for(reply: Reply, records: Records, context: Sequence[str]) -> Evidence:
    """The evidence of ``reply``: what it cites, the records behind each citation, its case,
    and ``context`` (what the customer and the channel said in this conversation)."""
    languages = list(dict.fromkeys([reply.language, "en"]))
    texts: list[str] = list(context)
    for citation in reply.citations:
        texts.append(citation.text)
        texts += [v for v in (citation.rule, citation.order_id, citation.asin, citation.case_id)
                  if v]
        if citation.asin:
            for page in records.pages.get(citation.asin, []):
                # A cited page is spoken of by its title; an attribute by its label.
                texts.append(page.title)
                if citation.field and citation.field.startswith("attributes."):
                    key = citation.field.removeprefix("attributes.")
                    texts += [label_for(key, lang) for lang in {page.language, *languages}]
        if citation.order_id and citation.order_id in records.orders:
            order = records.orders[citation.order_id]
            for item in order.items:
                texts += [p.title for p in records.pages.get(item.asin, [])
                          if p.marketplace == order.marketplace]
    decision = reply.return_decision
    if decision is not None:
        texts += [decision.rule, *decision.rules]
        for value in (decision.return_by, decision.seller_method_due):
            if value is not None:
                texts.append(value.isoformat())
        if decision.refund is not None:
            texts += [f"{decision.refund.amount:.2f}", str(decision.refund.amount),
                      decision.refund.currency]
        if decision.quantity is not None:  # the units decided ("1 × lamp")
            texts.append(str(decision.quantity))
        if decision.refund_within_business_days is not None:
            texts.append(str(decision.refund_within_business_days))
        address = decision.return_address
        if isinstance(address, dict):
            texts += [str(v) for v in address.values() if v]
        elif isinstance(address, str):
            texts.append(address)
    if reply.case_id:
        texts.append(reply.case_id)
    if reply.case_due is not None:  # the deadline the reply gives ("by 26 November 2026")
        texts.append(reply.case_due.date().isoformat())
    texts += _spelled_dates(" ".join(texts), languages)
    return Evidence(texts)


# --- parsing a reply back into templates -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    key: str
    pattern: re.Pattern[str]
    has_slots: bool


@cache
def _templates(language: str) -> tuple[_Template, ...]:
    out: list[_Template] = []
    merged = {**templates("en"), **templates(language)}
    for key, text in merged.items():
        literal = _SLOT.sub("", text)
        if not _WORD.search(literal):
            continue  # a template of slots alone would explain any text
        parts = _SLOT.split(text)
        pattern = ""
        for i, part in enumerate(parts):
            pattern += r"\s+".join(re.escape(w) for w in part.split(" ")) if i % 2 == 0 \
                else "(.+?)"
        out.append(_Template(key, re.compile(pattern, re.DOTALL), len(parts) > 1))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Parse:
    keys: tuple[tuple[int, int, str], ...]  # (start, end, template key) of each segment
    claims: tuple[tuple[int, int], ...]  # spans that fill slots


def _ends(text: str, start: int) -> list[int]:
    # Templates are joined by one space after a sentence end; a segment ends there or at the end.
    ends = [m.start() for m in re.finditer(r"(?<=[.!?…])\s", text[start:])]
    return [start + e for e in ends] + [len(text)]


def parse(text: str, language: str, start: int = 0, depth: int = 0) -> _Parse | None:
    """``text[start:]`` as a sequence of the language's templates, or None."""
    if start >= len(text):
        return _Parse((), ())
    if depth > 4:
        return None
    for end in _ends(text, start):
        for template in _templates(language):
            match = template.pattern.fullmatch(text, start, end)
            if match is None:
                continue
            rest = parse(text, language, end + 1 if end < len(text) else end, depth + 1) \
                if end < len(text) else _Parse((), ())
            if rest is None:
                continue
            claims: list[tuple[int, int]] = []
            for group in range(1, (match.lastindex or 0) + 1):
                s, e = match.span(group)
                claims += _slot_claims(text, s, e, language, depth)
            return _Parse(((start, end, template.key), *rest.keys), (*claims, *rest.claims))
    return None


def _slot_claims(text: str, start: int, end: int, language: str, depth: int
                 ) -> list[tuple[int, int]]:
    """A slot filled with another template ("free for you, the seller pays") is boilerplate
    but for that template's own slots; any other value is a claim."""
    value = text[start:end]
    for template in _templates(language):
        match = template.pattern.fullmatch(value)
        if match is not None:
            inner: list[tuple[int, int]] = []
            for group in range(1, (match.lastindex or 0) + 1):
                s, e = match.span(group)
                inner += _slot_claims(text, start + s, start + e, language, depth + 1) \
                    if depth < 4 else [(start + s, start + e)]
            return inner
    # A slot cut short at a period inside its value ("Casa Soleada S.L. Devoluciones, ...")
    # runs into the next sentence: each sentence of it is read on its own.
    cuts = [start + m.end() for m in re.finditer(r"(?<=[.!?…])\s+", value)]
    if cuts and depth < 4:
        bounds = [start, *cuts, end]
        return [claim for s, e in zip(bounds, bounds[1:], strict=False)
                for claim in _slot_claims(text, s, e if e == end else e - 1, language,
                                          depth + 1)]
    return [(start, end)]


def split_sentences(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


@cache
def _common_words(language: str) -> frozenset[str]:
    """Words that carry no claim in free text: stop words and the templates' own words."""
    try:
        stop = get_stop_words(language)
    except Exception:  # noqa: BLE001 - the library raises its own error for unknown languages
        stop = []
    words = {fold(w) for w in stop}
    for text in {**templates("en"), **templates(language)}.values():
        words |= {fold(w) for w in _WORD.findall(_SLOT.sub(" ", text))}
    return frozenset(words)


def judge(reply: Reply, evidence: Evidence) -> list[Sentence]:
    """Each sentence of ``reply`` with whether its claims are all in ``evidence``."""
    text = reply.text
    parsed = parse(text, reply.language)
    cited = bool(reply.citations) or reply.case_id is not None
    out: list[Sentence] = []
    for s, e in split_sentences(text):
        sentence = text[s:e]
        if parsed is None:
            common = _common_words(reply.language)
            tokens = [t for t in claim_tokens(sentence)
                      if any(c.isdigit() for c in t) or fold(t) not in common]
            boilerplate_ok = True
        else:
            tokens = []
            for cs, ce in parsed.claims:
                lo, hi = max(cs, s), min(ce, e)
                if lo < hi:
                    tokens += claim_tokens(text[lo:hi])
            keys = {k for ks, ke, k in parsed.keys if ks < e and ke > s}
            boilerplate_ok = cited or keys <= CONVERSATIONAL_TEMPLATES
        missing = tuple(t for t in tokens if not evidence.holds(t))
        out.append(Sentence(sentence, not missing and boilerplate_ok, missing))
    return out
