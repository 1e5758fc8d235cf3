"""The case desk: a seller's answer relayed to the customer, and cases the seller left
unanswered decided by their expiry rule (knowledge/case_rules.json).

What an expired case refunds is decided beside the returns engine (agent/expiry.py); the desk
records it in the ledger, writes the case's resolution and tells the customer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from agent.cases import (
    CaseError,
    case_conversations,
    case_expiry_rule,
    case_message_key,
    due_cases,
    queue_customer_message,
    seller_case,
)
from agent.contact_filter import contact_filter
from agent.db import Store
from agent.expiry import (
    ExpiryRefund,
    carried_out_refund,
    not_received_line_refunds,
    undelivered_line_refunds,
)
from agent.models import CaseRow, RefundRow
from agent.records import Order, Seller
from agent.refunds import case_cause, record_refund, refunded_units
from agent.replies import day, item_name, money, render
from agent.returns import ReturnDecision, decide_return
from agent.seller_answers import pages_as_indexed, publish_answer
from base.clock import as_utc
from base.money import Money
from knowledge.case_rules import ExpiryRule
from knowledge.pages import ProductPage
from knowledge.policy import load_policy
from knowledge.retriever import Retriever

log = logging.getLogger(__name__)


class CaseDesk:
    def __init__(self, store: Store, index: Retriever) -> None:
        self.store = store
        self.index = index  # a published answer joins the product's indexed page

    def answer_case(self, case_id: str, seller_id: str, answer: str, *,
                    add_to_knowledge: bool, now: datetime,
                    record: Callable[[Session, CaseRow], None] | None = None) -> CaseRow:
        """Record a seller's answer and queue it to the customer on their channel.

        ``record`` runs inside the answer's transaction: what the caller writes with it (the
        email the answer came in, the seller's confirmation) commits with the answer or not
        at all.
        """
        answer = answer.strip()
        if not answer:
            raise CaseError("the answer is empty")
        now = as_utc(now)
        published: ProductPage | None = None
        with self.store.sessions.begin() as session:
            case = seller_case(session, case_id, seller_id)
            if case.status != "awaiting_seller":
                raise CaseError(f"case {case_id} is {case.status}; it can no longer be answered")
            case.status, case.answer, case.answered_at = "answered", answer, now
            case.add_to_knowledge = add_to_knowledge and case.category == "product_question"
            asin = case.asins[0] if case.asins else ""
            page = self.store.page(asin, case.marketplace) if asin else None
            shown = contact_filter(case.marketplace, self.store.seller(case.seller_id)
                                   ).clean(answer, case.language)
            text = render("seller_answer_relay", case.language, case_id=case.id,
                          item=item_name(page, asin), answer=shown)
            for conv in case_conversations(session, case):
                queue_customer_message(session, conversation=conv, text=text,
                                       dedupe_key=case_message_key("case-answer", case, conv),
                                       now=now, case_id=case.id)
            case.resolution = {"kind": "seller_answer", "at": now.isoformat()}
            # The answer joins the product's knowledge in the answer's own transaction: its
            # own row, which no re-ingest of the page overwrites.
            if case.add_to_knowledge and page is not None \
                    and publish_answer(session, case, answer, now):
                published = page
            if record is not None:
                record(session, case)
            result = case
        if published is not None:
            self.index.sync(pages_as_indexed(self.store, [published]))
        return result

    def expire_cases(self, now: datetime) -> list[str]:
        """Cases past their deadline: decide each by its expiry rule and tell the customer."""
        now = as_utc(now)
        expired: list[str] = []
        with self.store.sessions.begin() as session:
            for case in due_cases(session, now):
                self._expire(session, case, now)
                expired.append(case.id)
        return expired

    def _expire(self, session: Session, case: CaseRow, now: datetime) -> None:
        """Decide a case the seller left unanswered by its deadline, by the rule it was opened
        under (knowledge/case_rules.json), and tell the customer; the rule goes into the
        resolution."""
        order = self.store.order(case.order_id) if case.order_id else None
        seller = self.store.seller(case.seller_id)
        rule = case_expiry_rule(case)
        case.status = "expired"
        resolution: dict[str, Any] = {"kind": "expired", "rule": rule.id,
                                      "on_expiry": rule.on_expiry,
                                      "due_at": as_utc(case.due_at).isoformat()}
        if order is None or seller is None:
            # Nothing to decide on without the order: the customer may still ask anew.
            text = render("case_expired_options", case.language, case_id=case.id,
                          order_id=case.order_id or "-")
        else:
            text, refunds = self._expiry_outcome(session, case, rule, order, seller, now)
            if refunds:
                total = sum((r.amount for r in refunds), Decimal(0))
                resolution["refund"] = {"amount": format(total, "f"),
                                        "currency": refunds[0].currency}
                resolution["refunds"] = [{"asin": r.asin, "amount": format(r.amount, "f"),
                                          "currency": r.currency} for r in refunds]
        case.resolution = resolution
        for conv in case_conversations(session, case):
            queue_customer_message(session, conversation=conv, text=text,
                                   dedupe_key=case_message_key("case-expired", case, conv),
                                   now=now, case_id=case.id)
        log.info("case %s expired for seller %s by rule %s", case.id, case.seller_id, rule.id)

    def _expiry_outcome(self, session: Session, case: CaseRow, rule: ExpiryRule, order: Order,
                        seller: Seller, now: datetime) -> tuple[str, list[RefundRow]]:
        """The customer's message and the refunds (ledger rows) of one expired case."""
        lang = case.language
        asin = case.asins[0] if case.asins else ""
        page = self.store.page(asin, case.marketplace) if asin else None
        name = item_name(page, asin)
        policy = load_policy(order.marketplace)
        if rule.on_expiry == "seller_could_not_confirm":
            decision = None
            if asin in {i.asin for i in order.items}:
                decision = decide_return(order=order, asin=asin, reason=None, seller=seller,
                                         page=page, policy=policy, today=now.date())
            return_by = decision.return_by if decision and decision.eligible else None
            return render("case_expired_product", lang, case_id=case.id, item=name,
                          return_by=day(return_by, lang) if return_by else "-"), []
        if rule.on_expiry == "tell_cancellation_not_confirmed":
            return render("case_expired_cancel", lang, case_id=case.id,
                          order_id=order.order_id), []
        if rule.on_expiry == "tell_options":
            return render("case_expired_options", lang, case_id=case.id,
                          order_id=order.order_id), []
        if rule.on_expiry in ("refund_undelivered_lines", "refund_lines_not_received"):
            lines = (undelivered_line_refunds(order, policy.money_decimals)
                     if rule.on_expiry == "refund_undelivered_lines"
                     else not_received_line_refunds(order, policy.money_decimals))
            if not lines:
                return render("case_expired_shipment_delivered", lang, case_id=case.id,
                              order_id=order.order_id), []
            issued = [(line, _record(session, order, line, rule, case, now)) for line in lines]
            # A line refunded before (in full or in part) is not refunded again here.
            rows = [row for _, row in issued if row is not None]
            if not rows:
                return render("case_expired_options", lang, case_id=case.id,
                              order_id=order.order_id), []
            total = Money(amount=sum((r.amount for r in rows), Decimal(0)),
                          currency=rows[0].currency)
            items = ", ".join(item_name(self.store.page(line.item.asin, order.marketplace),
                                        line.item.asin)
                              for line, row in issued if row is not None)
            return render("case_expired_shipment", lang, case_id=case.id,
                          order_id=order.order_id, refund=money(total, lang), items=items), rows
        # carry_out_return_decision: the refund the customer was told, now issued; the seller
        # arranged no return, so nothing is sent back.
        promised = ReturnDecision.model_validate(case.decision) if case.decision else None
        line = carried_out_refund(order, asin, promised, policy.money_decimals)
        item = line.item
        row = _record(session, order, line, rule, case, now)
        name = item_name(self.store.page(item.asin, order.marketplace), item.asin)
        if row is None:  # the line's units were refunded since the case opened
            decided = render("return_line_refunded", lang, item=name, order_id=order.order_id,
                             refunded=refunded_units(session, order_id=order.order_id,
                                                     asin=item.asin, ordered=item.quantity),
                             ordered=item.quantity)
            return render("case_expired_decision", lang, case_id=case.id, decision=decided), []
        decided = render("return_returnless", lang, item=name,
                         refund=money(Money(amount=row.amount, currency=row.currency), lang))
        return render("case_expired_decision", lang, case_id=case.id, decision=decided), [row]


def _record(session: Session, order: Order, line: ExpiryRefund, rule: ExpiryRule,
            case: CaseRow, now: datetime) -> RefundRow | None:
    """The case's refund of the line, or none when its units were refunded already (the
    case is the cause: a second run of the expiry pays nothing more)."""
    return record_refund(session, order_id=order.order_id, asin=line.item.asin,
                         seller_id=order.seller_id, amount=line.refund.amount,
                         currency=line.refund.currency, kind="returnless_refund",
                         reason=line.reason, rule=rule.id, issued_at=now, units=line.units,
                         ordered=line.item.quantity, cause=case_cause(case.id),
                         case_id=case.id).row
