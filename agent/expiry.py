"""What an expired case refunds: the amounts, as pure functions of the order and the decision the
customer was told. Which case refunds at all is the case rules' data (knowledge/case_rules.json);
nothing here reads a clock, a database or the rules.
"""

from __future__ import annotations

from decimal import Decimal

from agent.records import Order, OrderItem
from agent.returns import ReturnDecision, shipping_share
from base.money import Money, round_money

# An order in these states has lines not (yet) delivered; a delivered order has none, and a
# cancelled one is refunded by its cancellation.
UNDELIVERED_STATUSES = frozenset({"pending", "shipped"})


def promised_refund(order: Order, item: OrderItem, decision: ReturnDecision | None,
                    decimals: int) -> Money:
    """The refund the customer was told when the case opened; without one (a problem the
    seller was asked to solve), the returns policy's seller-fault refund: the item's price
    and its share of the shipping paid."""
    if decision is not None and decision.refund is not None:
        return decision.refund
    amount = item.unit_price.amount * item.quantity + shipping_share(order, item)
    return Money(amount=round_money(amount, decimals), currency=item.unit_price.currency)


def undelivered_refunds(order: Order, decimals: int) -> list[tuple[OrderItem, Money]]:
    """Each line not delivered with its refund: its price and its share of the shipping paid.
    The rounded shares add up to the shipping paid (the last line takes the remainder)."""
    if order.status not in UNDELIVERED_STATUSES:
        return []
    shipping = round_money(order.shipping_paid.amount, decimals) \
        if order.shipping_paid is not None else Decimal(0)
    refunds: list[tuple[OrderItem, Money]] = []
    allocated = Decimal(0)
    for n, item in enumerate(order.items):
        last = n == len(order.items) - 1
        share = shipping - allocated if last else round_money(shipping_share(order, item),
                                                               decimals)
        allocated += share
        amount = round_money(item.unit_price.amount * item.quantity + share, decimals)
        refunds.append((item, Money(amount=amount, currency=item.unit_price.currency)))
    return refunds
