"""What an expired case refunds: the lines, units, amounts and reasons, as pure functions of the
order and the decision the customer was told. Which case refunds at all is the case rules' data
(knowledge/case_rules.json); the case desk (agent/case_desk.py) only records what is decided
here. Nothing here reads a clock, a database or the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agent.records import Order, OrderItem
from agent.returns import ReturnDecision, shipping_share
from base.money import Money, round_money

# An order in these states has lines not (yet) delivered; a delivered order has none, and a
# cancelled one is refunded by its cancellation.
UNDELIVERED_STATUSES = frozenset({"pending", "shipped"})
# The ledger's reason for a refund no return decision gave a reason for.
EXPIRY_REASON = "case_expired"


@dataclass(frozen=True, slots=True)
class ExpiryRefund:
    """One refund an expired case issues: the line, how many of its units, the amount, and
    the reason the ledger records."""

    item: OrderItem
    units: int
    refund: Money
    reason: str


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
    return line_refunds(order, decimals)


def line_refunds(order: Order, decimals: int) -> list[tuple[OrderItem, Money]]:
    """Each line with its refund, whatever the order's status: its price and its share of
    the shipping paid, the rounded shares adding up to the shipping paid."""
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


def undelivered_line_refunds(order: Order, decimals: int) -> list[ExpiryRefund]:
    """An overdue shipment's refunds: every line not delivered, whole, with its share of the
    shipping paid."""
    return [ExpiryRefund(item, item.quantity, refund, EXPIRY_REASON)
            for item, refund in undelivered_refunds(order, decimals)]


def not_received_line_refunds(order: Order, decimals: int) -> list[ExpiryRefund]:
    """A parcel shown as delivered that the customer did not receive: every line, whole,
    with its share of the shipping paid (what was refunded since is left out when
    recorded)."""
    return [ExpiryRefund(item, item.quantity, refund, EXPIRY_REASON)
            for item, refund in line_refunds(order, decimals)]


def carried_out_refund(order: Order, asin: str, promised: ReturnDecision | None,
                       decimals: int) -> ExpiryRefund:
    """A return or problem case's refund: the decision the customer was told when the case
    opened, for the units it decided (the whole line when it named none), carried out without
    a return. A case naming no line of the order refunds its first."""
    item = next((i for i in order.items if i.asin == asin), order.items[0])
    refund = promised_refund(order, item, promised, decimals)
    reason = promised.reason if promised and promised.reason else EXPIRY_REASON
    units = promised.quantity if promised and promised.quantity else item.quantity
    return ExpiryRefund(item, units, refund, reason)
