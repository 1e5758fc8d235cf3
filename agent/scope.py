"""Who the service is for: post-order questions on seller-fulfilled orders of enrolled sellers.

A pure decision over the order and the seller; the rule id says which row of the scope table
decided, so the reply and the seller report can cite it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.enrolment import EnrolmentPeriod, covered_on, periods_from_contract
from agent.messages import Redirect
from agent.records import Order, Seller

# The requests the service does not answer whatever the order (the seller does): the intent,
# the reply's template, and where the customer is sent instead.
REDIRECTS: dict[str, tuple[str, Redirect]] = {
    "pre_order_question": ("redirect_pre_order", "seller_messaging"),
    "invoice": ("redirect_invoice", "seller_messaging"),
    "customization": ("redirect_customization", "seller_messaging"),
}


@dataclass(frozen=True, slots=True)
class ScopeDecision:
    covered: bool
    rule: str
    redirect: Redirect | None = None


def order_scope(order: Order, seller: Seller | None,
                periods: Sequence[EnrolmentPeriod] = ()) -> ScopeDecision:
    """``periods`` is the seller's enrolment history; without it, the seller record's own
    ``csba`` block is the only period."""
    if order.fulfillment_channel == "AFN":
        return ScopeDecision(False, "scope.fulfilled_by_marketplace", "marketplace_support")
    if order.seller_fulfilled_prime:
        return ScopeDecision(False, "scope.seller_fulfilled_prime", "marketplace_support")
    if seller is None:
        return ScopeDecision(False, "scope.seller_not_enrolled", "seller_messaging")
    periods = periods or periods_from_contract(seller.csba)
    if not covered_on(periods, order.purchase_date):
        rule = ("scope.ordered_before_enrolment"
                if order.purchase_date < min(p.enrolled_on for p in periods)
                else "scope.ordered_after_opt_out")
        return ScopeDecision(False, rule, "seller_messaging")
    return ScopeDecision(True, "scope.covered")
