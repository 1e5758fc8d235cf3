"""Seller answers published to a product's knowledge, and the page as the index holds it.

An answer a proven seller gave to a case, with consent to publish it, is a row of its own
(``seller_answers``), never part of the page record a catalog re-ingest overwrites. The index
holds each page joined with its answers: the catalog line's own ``seller_answers`` first, then
the table's, each once. Nothing here decides who is a seller: callers pass a case that was
already matched to its proven seller (``Agent.answer_case``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from agent.db import Store, answer_hash
from agent.models import CaseRow, SellerAnswerRow
from knowledge.pages import ProductPage

SELLER_ANSWERS = "seller_answers"  # the page field (an extension of catalog.jsonl)


def publish_answer(session: Session, case: CaseRow, answer: str, now: datetime) -> bool:
    """Add the case's answer to its product's knowledge; False when it already is there (the
    same case, or the same text for the same page)."""
    if not case.asins:
        return False
    asin = case.asins[0]
    digest = answer_hash(answer)
    exists = session.scalar(select(SellerAnswerRow.id).where(or_(
        SellerAnswerRow.case_id == case.id,
        (SellerAnswerRow.asin == asin) & (SellerAnswerRow.marketplace == case.marketplace)
        & (SellerAnswerRow.answer_hash == digest))))
    if exists is not None:
        return False
    session.add(SellerAnswerRow(asin=asin, marketplace=case.marketplace,
                                seller_id=case.seller_id, case_id=case.id, answer=answer,
                                answer_hash=digest, answered_at=now, consented=True))
    return True


def published_answers(store: Store, keys: Iterable[tuple[str, str]] | None = None
                      ) -> dict[tuple[str, str], list[str]]:
    """The published answers per (ASIN, marketplace), oldest first; every page's when
    ``keys`` is None."""
    wanted = None if keys is None else set(keys)
    query = select(SellerAnswerRow.asin, SellerAnswerRow.marketplace, SellerAnswerRow.answer)
    if wanted is not None:
        if not wanted:
            return {}
        query = query.where(SellerAnswerRow.asin.in_(sorted({a for a, _ in wanted})))
    found: dict[tuple[str, str], list[str]] = {}
    with store.reads() as session:
        for asin, marketplace, answer in session.execute(query.order_by(SellerAnswerRow.id)):
            if wanted is None or (asin, marketplace) in wanted:
                found.setdefault((asin, marketplace), []).append(answer)
    return found


def published_case_ids(store: Store, case_ids: Sequence[str]) -> set[str]:
    """Which of these cases have their answer on their product's knowledge."""
    if not case_ids:
        return set()
    with store.reads() as session:
        return set(session.scalars(select(SellerAnswerRow.case_id).where(
            SellerAnswerRow.case_id.in_(list(case_ids)))))


def with_answers(page: ProductPage, answers: Sequence[str]) -> ProductPage:
    """The page with ``answers`` after its own ``seller_answers`` (the catalog line's), each
    text once."""
    own = (page.model_extra or {}).get(SELLER_ANSWERS) or []
    joined = list(own) + [a for a in answers if a not in own]
    if joined == list(own):
        return page
    return ProductPage.model_validate({**page.model_dump(), SELLER_ANSWERS: joined})


def pages_as_indexed(store: Store, pages: Sequence[ProductPage]) -> list[ProductPage]:
    """Each page joined with its published answers: what the index must hold for it."""
    answers = published_answers(store, [p.key for p in pages])
    return [with_answers(p, answers.get(p.key, [])) for p in pages]

