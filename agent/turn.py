"""One turn's values and what every intent handler shares.

A handler reads the ``Turn`` (the message, the proven order and its seller, the database
session) and returns a ``TurnResult``; the ``Services`` lend it the agent's store, index and
answer decision, and the helpers here ask, cite the order and open a case the same way for
every intent, so a reply's evidence and a case's wording do not depend on which handler wrote
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from agent.answer_decision import AnswerDecision
from agent.cases import CaseRequest, SellerText, open_case
from agent.db import Store
from agent.message_vectors import MessageVectors
from agent.messages import Citation, InboundMessage, Outcome, Redirect
from agent.models import CaseRow, ConversationRow
from agent.records import Order, Seller
from agent.replies import day, render
from agent.returns import ReturnDecision
from base.clock import as_utc
from knowledge.pages import ProductPage
from knowledge.retriever import Retriever


@dataclass
class Turn:
    """What one turn knows and what it has decided so far."""

    msg: InboundMessage
    message_id: int  # the stored message: a refund this turn issues is caused by it
    conv: ConversationRow
    session: Session
    language: str
    intent: str
    now: datetime
    order: Order | None = None
    seller: Seller | None = None
    citations: list[Citation] = field(default_factory=list)
    decision: ReturnDecision | None = None
    # The return decided for a whole line while the customer is asked how many units: its
    # deadline, who pays and how the item goes back hold whatever the number, the refund not.
    line_decision: ReturnDecision | None = None
    case: CaseRow | None = None
    # The message answers what the agent asked ("the jumper"): it continues the earlier
    # request and states nothing new of its own (no new return reason).
    continued: bool = False

    @property
    def today(self) -> date:
        return self.now.date()


@dataclass(frozen=True)
class TurnResult:
    """What an action decided to say, and how the turn ended."""

    text: str
    outcome: Outcome
    redirect: Redirect | None = None


# Where a gathered case's id and deadline go in a reply until the one case is open.
CASE_MARK = "\x00case\x00"
DUE_MARK = "\x00due\x00"


@dataclass(frozen=True)
class GatheredCase:
    """A case a part of a message would open, held until the turn opens one case for all
    of them (``agent.several_requests``)."""

    request: CaseRequest


@dataclass(frozen=True)
class Services:
    """What the agent lends a handler for one turn. Built from the agent's attributes at the
    turn's start, so a caller that swaps one (a test's answer decision) is heard."""

    store: Store
    index: Retriever
    portal_url: str  # the seller portal, named in a case's notification
    dense_languages: frozenset[str]
    decision: AnswerDecision
    vectors: MessageVectors
    # A message of several requests: the cases its parts would open are gathered here and
    # opened as one, their replies naming it (``CASE_MARK``, ``DUE_MARK``) once it is open.
    gathered: list[GatheredCase] | None = None

    def page(self, order: Order, asin: str) -> ProductPage | None:
        """The product page of an order's item, in the order's marketplace."""
        return self.store.page(asin, order.marketplace)

    def escalate(self, t: Turn, category: str, asins: list[str], key: str, *,
                 question: str | SellerText | None = None,
                 needs: str | SellerText | None = None,
                 topic: str | None = None, slots: dict[str, object] | None = None,
                 decision: ReturnDecision | None = None, case_reason: str | None = None,
                 **more: object) -> TurnResult:
        """Open a case for the turn's seller and tell the customer its id and deadline.
        ``case_reason``: why the seller is needed, when no return decision says it (a case
        reason may have its own deadline and expiry rule)."""
        assert t.order is not None and t.seller is not None
        # The reply names the products the case is about: the order's items are its evidence.
        cite_order(t, "items", ", ".join(asins))
        shown_order = order_slots(t.order)
        request = CaseRequest(
            category=category, asins=asins, topic=topic,
            question=question or SellerText(f"seller_question_{category}", shown_order),
            needs=needs or SellerText(f"seller_needs_{category}", shown_order),
            case_reason=case_reason or (decision.case_reason if decision else None),
            decision=decision.model_dump(mode="json") if decision else None)
        if self.gathered is not None:
            self.gathered.append(GatheredCase(request))
            return TurnResult(render(key, t.language, case_id=CASE_MARK,
                                     **{**(slots or {}), "due": DUE_MARK}, **more),
                              "escalated")
        t.case = open_case(t.session, request=request, order=t.order, seller=t.seller,
                           conversation=t.conv, language=t.language, now=t.now,
                           portal_url=self.portal_url)
        # The customer is told the case's own deadline, the one the seller and the portal see.
        shown = {**(slots or {}), "due": day(as_utc(t.case.due_at).date(), t.language)}
        return TurnResult(render(key, t.language, case_id=t.case.id, **shown, **more),
                          "escalated")


def ask(t: Turn, key: str, pending: str, **slots: object) -> TurnResult:
    """Ask the customer for what the turn lacks; the next message answering it continues
    this turn's intent (the conversation remembers what was asked)."""
    t.conv.pending, t.conv.pending_intent = pending, t.intent
    return TurnResult(render(key, t.language, **slots), "needs_info")


def cite_order(t: Turn, field_name: str, value: object) -> None:
    """Cite a field of the turn's order as the evidence of what the reply says."""
    assert t.order is not None
    t.citations.append(Citation(kind="order", order_id=t.order.order_id, field=field_name,
                                text=str(value)))


def order_slots(order: Order) -> dict[str, str]:
    """The order's facts a seller's question and needs name."""
    tracking = order.tracking
    return {"order_id": order.order_id,
            "estimated": str(order.estimated_delivery_date or "-"),
            "carrier": tracking.carrier if tracking else "-",
            "tracking": tracking.id if tracking else "-"}
