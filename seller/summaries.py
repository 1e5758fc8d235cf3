"""How the inquiries about one of a seller's orders were resolved, as the seller may see it.

Outcome, the rule that decided each turn, cases, refunds and the dates, read from the stored
replies, cases and the refund ledger. Never the conversation: no message or reply text, no
conversation id, no customer contact detail ever enters these models.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select

from agent.db import Store
from agent.messages import Outcome, Reply
from agent.models import CaseRow, ConversationRow, MessageRow, RefundRow
from base.clock import as_utc
from base.money import round_money as money
from seller.handovers import handover_rows
from seller.terms import currency_decimals

Resolution = Literal["resolved", "awaiting_seller", "in_progress", "no_inquiry"]


class _Closed(BaseModel):
    # Closed on purpose: a field added here is a decision about what a seller may see.
    model_config = ConfigDict(extra="forbid")


class ReturnOutcome(_Closed):
    eligible: bool
    method: str | None
    return_shipping_paid_by: str | None
    return_by: str | None
    refund: dict[str, Any] | None
    quantity: int | None = None  # the units of the order line decided (one of two, say)


class Decision(_Closed):
    """One answer the service gave, without its words."""

    at: datetime
    channel: str
    intent: str
    outcome: Outcome
    rule: str | None  # the policy or scope rule that decided it, when one did
    evidence: list[str]  # what it answered from: "order:status", "product_page:B0..:field"
    redirect: str | None
    case_id: str | None
    return_decision: ReturnOutcome | None


class CaseOutcome(_Closed):
    case_id: str
    category: str
    status: str
    opened_at: datetime
    answered_at: datetime | None
    decided_by: Literal["seller", "service", "pending"]
    rule: str | None
    refund: dict[str, Any] | None


class RefundOutcome(_Closed):
    asin: str
    amount: Decimal
    currency: str
    kind: str
    rule: str
    reason: str | None
    issued_at: datetime


class HandoverOutcome(_Closed):
    handover_id: str
    source: str
    status: str
    rule: str | None
    at: datetime


class ResolutionSummary(_Closed):
    order_id: str
    marketplace: str
    resolution: Resolution
    outcome: Outcome | None  # of the latest answer
    rule: str | None  # the rule behind the latest decision that had one
    first_contact_at: datetime | None
    last_contact_at: datetime | None
    decisions: list[Decision]
    cases: list[CaseOutcome]
    refunds: list[RefundOutcome]
    handovers: list[HandoverOutcome]
    # Questions about a resolution go to Seller Support (CSBA_SELLER_SUPPORT_URL).
    seller_support_url: str
    questions: str


class UnknownOrder(LookupError):
    """No such order for this seller: the same for another seller's order."""


def questions_to(seller_support_url: str) -> str:
    """The line that tells a seller where questions about a resolution go."""
    return f"Questions about this resolution: contact Seller Support at {seller_support_url}"


def resolution_summary(store: Store, seller_id: str, order_id: str, *,
                       seller_support_url: str) -> ResolutionSummary:
    order = store.order(order_id)
    if order is None or order.seller_id != seller_id:
        raise UnknownOrder(f"no order {order_id} for this seller")
    with store.reads() as session:
        turns = session.execute(
            select(MessageRow, ConversationRow.channel)
            .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
            .where(or_(ConversationRow.order_id == order_id,
                       ConversationRow.verified_order_id == order_id),
                   MessageRow.reply.is_not(None))
            .order_by(MessageRow.received_at, MessageRow.id)).all()
        cases = list(session.scalars(select(CaseRow).where(CaseRow.order_id == order_id)
                                     .order_by(CaseRow.created_at)))
        refunds = list(session.scalars(select(RefundRow).where(RefundRow.order_id == order_id)
                                       .order_by(RefundRow.issued_at)))
    case_ids = {c.id for c in cases}
    decisions = [d for message, channel in turns
                 if (d := _decision(message, channel, order_id, case_ids)) is not None]
    case_outcomes = [_case(c) for c in cases if c.seller_id == seller_id]
    handovers = [HandoverOutcome(handover_id=row.id, source=row.source, status=row.status,
                                 rule=row.rule, at=as_utc(row.created_at))
                 for row in handover_rows(store, seller_id, order_id)]
    latest = decisions[-1] if decisions else None
    if any(c.decided_by == "pending" for c in case_outcomes):
        resolution: Resolution = "awaiting_seller"
    elif latest is None:
        resolution = "no_inquiry"
    elif latest.outcome == "needs_info":
        resolution = "in_progress"
    else:
        resolution = "resolved"
    rules = [c.rule for c in case_outcomes if c.rule] + [d.rule for d in decisions if d.rule]
    return ResolutionSummary(
        order_id=order_id, marketplace=order.marketplace, resolution=resolution,
        outcome=latest.outcome if latest else None,
        rule=next((d.rule for d in reversed(decisions) if d.rule), None) or
        (rules[-1] if rules else None),
        first_contact_at=decisions[0].at if decisions else None,
        last_contact_at=latest.at if latest else None, decisions=decisions,
        cases=case_outcomes,
        refunds=[RefundOutcome(asin=r.asin, amount=money(Decimal(str(r.amount)),
                                                         currency_decimals(r.currency)),
                               currency=r.currency, kind=r.kind, rule=r.rule, reason=r.reason,
                               issued_at=as_utc(r.issued_at)) for r in refunds],
        handovers=handovers, seller_support_url=seller_support_url,
        questions=questions_to(seller_support_url))


def _decision(message: MessageRow, channel: str, order_id: str,
              case_ids: set[str]) -> Decision | None:
    assert message.reply is not None
    reply = Reply.model_validate(message.reply)
    cited_orders = {c.order_id for c in reply.citations if c.order_id}
    # A conversation may move on to another order: its turns about that one are not this
    # order's (nor this seller's to see).
    if cited_orders and order_id not in cited_orders and reply.case_id not in case_ids:
        return None
    policy_rule = next((c.rule for c in reply.citations if c.kind == "policy" and c.rule), None)
    decision = reply.return_decision
    evidence = sorted({
        f"{c.kind}:{c.field}" if c.kind == "order" else f"{c.kind}:{c.asin}:{c.field}"
        for c in reply.citations if c.kind in ("order", "product_page", "seller_answer")})
    return Decision(
        at=as_utc(message.received_at), channel=channel, intent=reply.intent,
        outcome=reply.outcome, rule=decision.rule if decision else policy_rule,
        evidence=evidence, redirect=reply.redirect, case_id=reply.case_id,
        return_decision=ReturnOutcome(
            eligible=decision.eligible, method=decision.method,
            return_shipping_paid_by=decision.return_shipping_paid_by,
            return_by=decision.return_by.isoformat() if decision.return_by else None,
            refund=decision.refund.model_dump(mode="json") if decision.refund else None,
            quantity=decision.quantity)
        if decision else None)


def _case(case: CaseRow) -> CaseOutcome:
    resolution = case.resolution or {}
    if case.status == "awaiting_seller":
        decided_by: Literal["seller", "service", "pending"] = "pending"
    elif resolution.get("kind") == "expired" or case.status == "expired":
        decided_by = "service"
    else:
        decided_by = "seller"
    rule = resolution.get("rule")
    refund = resolution.get("refund")
    return CaseOutcome(
        case_id=case.id, category=case.category, status=case.status,
        opened_at=as_utc(case.created_at),
        answered_at=as_utc(case.answered_at) if case.answered_at else None,
        decided_by=decided_by, rule=str(rule) if rule else None,
        refund=dict(refund) if isinstance(refund, dict) else None)
