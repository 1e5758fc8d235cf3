"""Where a refund is: the latest one the ledger holds for the order, else the policy's time
to refund."""

from __future__ import annotations

from sqlalchemy import select

from agent.intents.order_status import order_status, reports_missing_parcel
from agent.messages import Citation
from agent.models import RefundRow
from agent.replies import day, item_name, money, render
from agent.turn import Services, Turn, TurnResult, cite_order
from base.clock import as_utc
from base.money import Money
from knowledge.policy import load_policy


def refund_status(services: Services, t: Turn, text: str) -> TurnResult:
    order, lang = t.order, t.language
    assert order is not None
    refunds = list(t.session.scalars(select(RefundRow).where(
        RefundRow.order_id == order.order_id).order_by(RefundRow.issued_at, RefundRow.id)))
    if not refunds and reports_missing_parcel(t, text):
        # Money back for a parcel that never came is the shipment case's refund: apologise,
        # have the seller investigate and say what is refunded if they do not account for it.
        return order_status(services, t, text)
    if refunds:
        r = refunds[-1]  # the latest: a line may be refunded unit by unit
        page = services.page(order, r.asin)
        t.citations.append(Citation(kind="policy", rule=r.rule,
                                    text=f"{r.amount} {r.currency}"))
        cite_order(t, "refunds.issued_at", as_utc(r.issued_at).date())
        return TurnResult(render("refund_issued", lang, item=item_name(page, r.asin),
                                 refund=money(Money(amount=r.amount, currency=r.currency), lang),
                                 date=day(as_utc(r.issued_at).date(), lang)), "answered")
    policy = load_policy(order.marketplace)
    t.citations.append(Citation(kind="policy", rule=f"{order.marketplace}.refund.timing",
                                text=str(policy.refund_within_business_days)))
    return TurnResult(render("refund_pending", lang, order_id=order.order_id,
                             days=policy.refund_within_business_days), "answered")
