"""Scoring one reply against what a case expects: a list of checks, each passed or failed.

A check is the unit every metric counts (outcome, intent, each fact, each forbidden phrase,
each expected citation, each stated return-decision field, the escalation, the redirect).
Scoring reads only the expectation and the reply: it never looks at how the reply was made.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from agent.messages import Citation, Reply
from evals.dataset import Expect

CheckKind = Literal[
    "outcome", "intent", "language", "fact", "forbidden", "citation", "decision.eligible",
    "decision.method", "decision.return_shipping_paid_by", "decision.refund", "escalation",
    "redirect",
]
DECISION_FIELDS = ("eligible", "method", "return_shipping_paid_by", "refund")
_ASIN_REF = re.compile(r"^(B0[A-Z0-9]{8})(?::(.+))?$")
_ORDER_REF = re.compile(r"^\d{3}-\d{7}-\d{7}$")
_PRODUCT_KINDS = frozenset({"product_page", "seller_answer"})
MONEY_TOLERANCE = 0.005


@dataclass(frozen=True, slots=True)
class Check:
    kind: CheckKind
    passed: bool
    detail: str  # the failure message when not passed


@dataclass(frozen=True, slots=True)
class CitationCount:
    """Expected references cited (recall) and cited sources that were expected (precision)."""

    expected: int = 0
    expected_found: int = 0
    constrained: int = 0
    constrained_expected: int = 0


def normalise(text: str) -> str:
    """Case-, accent- and spacing-insensitive form for matching ("Rücksende" ~ "rucksende")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.split())


def contains(text: str, phrase: str) -> bool:
    return normalise(phrase) in normalise(text)


def ref_kinds(ref: str) -> frozenset[str]:
    """The citation kinds a reference in ``expect.citations`` speaks about."""
    if _ASIN_REF.match(ref):
        return _PRODUCT_KINDS
    if _ORDER_REF.match(ref):
        return frozenset({"order"})
    return frozenset({"policy"})


def ref_matches(ref: str, citation: Citation) -> bool:
    asin_ref = _ASIN_REF.match(ref)
    if asin_ref:
        asin, field = asin_ref.groups()
        if citation.kind not in _PRODUCT_KINDS or citation.asin != asin:
            return False
        # "attributes.item_weight" names a field; "description" any of its paragraphs.
        return field is None or citation.field == field or \
            (citation.field or "").startswith((f"{field}[", f"{field}."))
    if _ORDER_REF.match(ref):
        return citation.kind == "order" and citation.order_id == ref
    return citation.kind == "policy" and citation.rule == ref


def count_citations(refs: list[str], citations: list[Citation]) -> CitationCount:
    kinds = frozenset().union(*(ref_kinds(r) for r in refs)) if refs else frozenset()
    constrained = [c for c in citations if c.kind in kinds]
    return CitationCount(
        expected=len(refs),
        expected_found=sum(1 for r in refs if any(ref_matches(r, c) for c in citations)),
        constrained=len(constrained),
        constrained_expected=sum(1 for c in constrained if any(ref_matches(r, c) for r in refs)),
    )


def check_reply(expect: Expect, reply: Reply | None) -> list[Check]:
    """Every check ``expect`` states, against ``reply`` (None: the turn produced no reply)."""
    checks: list[Check] = []

    def same(kind: CheckKind, wanted: object, got: object) -> None:
        checks.append(Check(kind, wanted == got, f"{kind}: expected {wanted}, got {got}"))

    text = reply.text if reply else ""
    if expect.outcome is not None:
        same("outcome", expect.outcome, reply.outcome if reply else None)
    if expect.intent is not None:
        same("intent", expect.intent, reply.intent if reply else None)
    if expect.language is not None:
        same("language", expect.language, reply.language if reply else None)
    for fact in expect.facts:
        checks.append(Check("fact", reply is not None and contains(text, fact),
                            f"fact missing: {fact}"))
    for phrase in expect.forbidden:
        checks.append(Check("forbidden", not (reply is not None and contains(text, phrase)),
                            f"forbidden phrase said: {phrase}"))
    for ref in expect.citations or []:
        found = reply is not None and any(ref_matches(ref, c) for c in reply.citations)
        checks.append(Check("citation", found, f"citation missing: {ref}"))
    if expect.citations_any:
        found = reply is not None and any(ref_matches(ref, c) for ref in expect.citations_any
                                          for c in reply.citations)
        checks.append(Check("citation", found, "citation missing: none of "
                                               f"{', '.join(expect.citations_any)}"))
    if expect.return_decision is not None:
        got = reply.return_decision if reply else None
        wanted = expect.return_decision
        for name in DECISION_FIELDS:
            value = getattr(wanted, name)
            if value is None:
                continue
            actual = getattr(got, name) if got is not None else None
            kind: CheckKind = f"decision.{name}"  # type: ignore[assignment]
            if name == "refund":
                ok = actual is not None and actual.currency == value.currency and \
                    abs(actual.amount - value.amount) < MONEY_TOLERANCE
                shown = f"{actual.amount} {actual.currency}" if actual is not None else None
                checks.append(Check(kind, ok, f"return_decision.refund: expected "
                                              f"{value.amount} {value.currency}, got {shown}"))
            else:
                checks.append(Check(kind, value == actual,
                                    f"return_decision.{name}: expected {value}, got {actual}"))
    if expect.escalation is not None:
        opened = reply is not None and reply.case_id is not None
        checks.append(Check("escalation", opened == expect.escalation,
                            "a seller case was opened, none expected" if opened else
                            "no seller case was opened, one was expected"))
    if expect.redirect is not None:
        same("redirect", expect.redirect, reply.redirect if reply else None)
    return checks
