"""The Case Log: cases for sellers, their notification, answers and their deadline.

A case holds what the seller needs and nothing else: never the transcript, never the
customer's name, email, phone or address. Every state change writes its outbox rows in the
same transaction, so a notification is never lost and never sent twice.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from agent.models import CaseRow, ConversationRow, MessageRow, OutboxRow
from agent.outgoing_mail import customer_thread, queue_email
from agent.records import Order, Seller
from agent.replies import render
from knowledge.case_rules import ExpiryRule, load_case_rules

OPEN = "awaiting_seller"
SELLER_NOTIFICATION = "seller_notification"  # the kind of the notification email's outbox row
_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out on the phone
CASE_ID_PATTERN = f"CS-[{_ID_ALPHABET}]{{7}}"


class CaseError(ValueError):
    """A case operation that is not allowed (wrong seller, already answered, unknown id)."""


@dataclass(frozen=True, slots=True)
class SellerText:
    """A seller-facing text by its template key and slots, written when the case opens in
    the language of the seller it goes to (the customer's language is not the seller's). A
    slot may be a SellerText itself, or a function of the language (an attribute's label)."""

    key: str
    slots: Mapping[str, object] = field(default_factory=dict)

    def text(self, language: str) -> str:
        return render(self.key, language, **{
            name: value.text(language) if isinstance(value, SellerText)
            else value(language) if callable(value) else value
            for name, value in self.slots.items()})


@dataclass(frozen=True, slots=True)
class CaseRequest:
    category: str
    # Plain text is taken as written; a SellerText is written in the seller's language.
    question: str | SellerText
    needs: str | SellerText
    asins: list[str]
    topic: str | None = None
    # Why a return case needs the seller (``ReturnDecision.case_reason``): some reasons have
    # their own deadline (a seller abroad with no return method has 5 days).
    case_reason: str | None = None
    # The return decision the customer was told (its JSON), carried out if the case expires.
    decision: dict[str, Any] | None = None

    @property
    def expiry_rule(self) -> ExpiryRule:
        return load_case_rules().for_case(self.category, self.case_reason)


def new_case_id() -> str:
    return "CS-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(7))


# The languages every seller-facing text is written in (agent/templates/*.json).
SELLER_LANGUAGES: Final = ("de", "es", "en", "fr", "it")
SELLER_FALLBACK: Final = "en"


def seller_language(seller: Seller | None) -> str:
    """The first of the seller's languages the service writes; English when none is (a
    seller who reads only Chinese still gets the texts every seller can get)."""
    for language in seller.languages if seller is not None else []:
        code = language.strip().lower().split("-")[0]
        if code in SELLER_LANGUAGES:
            return code
    return SELLER_FALLBACK


def seller_text(text: str | SellerText, language: str) -> str:
    return text if isinstance(text, str) else text.text(language)


def open_case_of(session: Session, *, conversation_id: str, order_id: str,
                 category: str) -> CaseRow | None:
    """The conversation's open case of ``category`` about the order, if one is open: a
    second report of the same problem joins it."""
    return session.scalar(select(CaseRow).where(
        CaseRow.conversation_id == conversation_id, CaseRow.order_id == order_id,
        CaseRow.category == category, CaseRow.status == OPEN))


def open_case(session: Session, *, request: CaseRequest, order: Order, seller: Seller,
              conversation: ConversationRow, language: str, now: datetime,
              portal_url: str) -> CaseRow:
    """Open a case (or return the open one for the same order, category and items) and
    queue the seller's notification, in the seller's language."""
    _one_opener(session, order.order_id, request.category)
    existing = open_case_for(session, order_id=order.order_id, category=request.category,
                             asins=request.asins)
    if existing is not None:
        return existing
    rule = request.expiry_rule
    lang = seller_language(seller)
    question, needs = seller_text(request.question, lang), seller_text(request.needs, lang)
    # One deadline per case: the customer, the seller's mail and the portal all show due_at.
    case = CaseRow(id=new_case_id(), seller_id=seller.seller_id, order_id=order.order_id,
                   marketplace=order.marketplace, asins=request.asins,
                   category=request.category, question=question, needs=needs,
                   topic=request.topic, status=OPEN, created_at=now, due_at=now + rule.due,
                   expiry_rule=rule.id, decision=request.decision,
                   conversation_id=conversation.id, language=language)
    session.add(case)
    slots = {"case_id": case.id, "order_id": order.order_id, "category": request.category,
             "asins": ", ".join(request.asins) or "-", "question": question,
             "needs": needs, "due": due_text(case),
             "on_expiry": render(f"seller_on_expiry_{rule.on_expiry}", lang),
             "portal_url": portal_url,
             # Only a product question's answer can join the product's knowledge.
             "consent": (render("seller_case_consent", lang)
                         if request.category == "product_question" else "")}
    # The notification's Message-ID is recorded, so the seller's reply finds this case.
    queue_email(session, dedupe_key=f"case-notify:{case.id}", recipient=seller.email,
                subject=render("seller_case_subject", lang, **slots),
                body=render("seller_case_body", lang, **slots), kind=SELLER_NOTIFICATION,
                now=now, case_id=case.id)
    return case


def _one_opener(session: Session, order_id: str, category: str) -> None:
    """On PostgreSQL, wait for any other turn opening a case of this order and category until
    its transaction ends: two turns at once (the same question by chat and by mail) would
    each find none open and each open one. The lock ends with the transaction; the second
    turn then finds the first one's case. SQLite has one writer, so turns take turns there."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"case-opening:{order_id}:{category}".encode()).digest()
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": int.from_bytes(digest[:8], "big", signed=True)})


def open_case_for(session: Session, *, order_id: str, category: str,
                  asins: list[str]) -> CaseRow | None:
    """The open case of an order, category and items, whichever conversation opened it: a
    late parcel asked about twice, or by chat and then by email, is one question to the
    seller; a question about another item of the order is another."""
    return next((case for case in session.scalars(select(CaseRow).where(
        CaseRow.order_id == order_id, CaseRow.category == category,
        CaseRow.status == OPEN).order_by(CaseRow.created_at))
        if sorted(case.asins) == sorted(asins)), None)


def case_conversations(session: Session, case: CaseRow) -> list[ConversationRow]:
    """The conversations a case was named in: the one that opened it, then each other one
    whose reply named it (the same customer asking again by another channel or mail). The
    seller's answer and the case's outcome go to all of them, so none waits for nothing."""
    joined = session.scalars(select(MessageRow.conversation_id).where(
        MessageRow.reply["case_id"].as_string() == case.id,
        MessageRow.conversation_id != case.conversation_id).distinct())
    ids = [case.conversation_id, *sorted(joined)]
    return [session.get_one(ConversationRow, conversation_id) for conversation_id in ids]


def case_message_key(kind: str, case: CaseRow, conversation: ConversationRow) -> str:
    """The outbox key of a case's message to one conversation: the opener's key is the
    case's alone, as before conversations could join a case."""
    if conversation.id == case.conversation_id:
        return f"{kind}:{case.id}"
    return f"{kind}:{case.id}:{conversation.id}"


def due_text(case: CaseRow) -> str:
    """A case's deadline as sellers read it, in the mail and in the portal (UTC)."""
    return case.due_at.strftime("%Y-%m-%d %H:%M")


def case_expiry_rule(case: CaseRow) -> ExpiryRule:
    """The rule a case was opened under; a case from before the rules were recorded on it
    gets its category's (and its decision's case reason's) rule."""
    rules = load_case_rules()
    recorded = rules.by_id(case.expiry_rule) if case.expiry_rule else None
    reason = (case.decision or {}).get("case_reason")
    return recorded or rules.for_case(case.category, reason if isinstance(reason, str) else None)


def queue_customer_message(session: Session, *, conversation: ConversationRow, text: str,
                           dedupe_key: str, now: datetime, case_id: str | None) -> OutboxRow:
    """A message to the customer on the channel they used; voice callers get an SMS.

    An email answers the customer's last mail, so it lands in their thread and their reply
    to it continues this conversation.
    """
    if conversation.channel == "email":
        thread = customer_thread(session, conversation)
        return queue_email(session, dedupe_key=dedupe_key, recipient=conversation.contact,
                           subject=thread.subject, body=text, kind="customer_follow_up",
                           now=now, conversation_id=conversation.id, case_id=case_id,
                           in_reply_to=thread.in_reply_to, references=thread.references)
    channel = "sms" if conversation.channel == "voice" else conversation.channel
    row = OutboxRow(dedupe_key=dedupe_key, channel=channel, recipient=conversation.contact,
                    subject=None, body=text, created_at=now,
                    meta={"case_id": case_id, "conversation_id": conversation.id,
                          "thread_key": conversation.thread_key, "kind": "customer_follow_up"})
    session.add(row)
    return row


def seller_case(session: Session, case_id: str, seller_id: str) -> CaseRow:
    case = session.get(CaseRow, case_id)
    # The same answer for "not yours" and "no such case": ids of other sellers stay secret.
    if case is None or case.seller_id != seller_id:
        raise CaseError(f"no case {case_id} for this seller")
    return case


def due_cases(session: Session, now: datetime) -> list[CaseRow]:
    """Open cases past their deadline, locked for the caller's write transaction: every server
    process runs the expiry round, and on PostgreSQL two rounds at once would otherwise both
    read a case open and both decide it (two refunds, two mails). A case another round holds
    is skipped; it is expired by then. (SQLite has one writer: the rounds take turns.)"""
    return list(session.scalars(select(CaseRow).where(
        CaseRow.status == OPEN, CaseRow.due_at <= now).order_by(CaseRow.due_at)
        .with_for_update(skip_locked=True)))
