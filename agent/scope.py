"""Who the service is for: post-order questions on seller-fulfilled orders of enrolled sellers.

A pure decision over the order and the seller; the rule id says which row of the scope table
decided, so the reply and the seller report can cite it.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.messages import Redirect
from agent.records import Order, Seller


@dataclass(frozen=True, slots=True)
class ScopeDecision:
    covered: bool
    rule: str
    redirect: Redirect | None = None


def order_scope(order: Order, seller: Seller | None) -> ScopeDecision:
    if order.fulfillment_channel == "AFN":
        return ScopeDecision(False, "scope.fulfilled_by_marketplace", "marketplace_support")
    if order.seller_fulfilled_prime:
        return ScopeDecision(False, "scope.seller_fulfilled_prime", "marketplace_support")
    if seller is None:
        return ScopeDecision(False, "scope.seller_not_enrolled", "seller_messaging")
    if not seller.csba.covers(order.purchase_date):
        rule = ("scope.ordered_after_opt_out" if seller.csba.opted_out_on
                and order.purchase_date >= seller.csba.opted_out_on
                else "scope.ordered_before_enrolment")
        return ScopeDecision(False, rule, "seller_messaging")
    return ScopeDecision(True, "scope.covered")
