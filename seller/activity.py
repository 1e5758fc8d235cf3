"""What a seller's statement is computed from: covered MFN units shipped, and contacts.

Reads orders, the enrolment history and the contacts table, and hands the fee engine plain
numbers. A unit counts when its order was placed while the seller was enrolled, was fulfilled
by the seller (MFN, not Seller Fulfilled Prime) and shipped (not cancelled).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.enrolment import EnrolmentPeriod, covered_on
from agent.models import ContactRow, OrderRow
from agent.records import Order
from seller.fees import MonthActivity
from seller.months import Month

SHIPPED = frozenset({"shipped", "delivered"})


@dataclass(frozen=True, slots=True)
class MarketplaceActivity:
    """One seller in one marketplace: units by ship day, contacts by day."""

    shipments: Mapping[date, int] = field(default_factory=dict)
    contacts: Mapping[date, int] = field(default_factory=dict)

    def by_month(self) -> dict[Month, MonthActivity]:
        units: Counter[Month] = Counter()
        contacts: Counter[Month] = Counter()
        for day, n in self.shipments.items():
            units[Month.of(day)] += n
        for day, n in self.contacts.items():
            contacts[Month.of(day)] += n
        return {m: MonthActivity(units[m], contacts[m]) for m in units.keys() | contacts.keys()}

    def shipments_in(self, month: Month) -> dict[date, int]:
        return {d: n for d, n in self.shipments.items() if Month.of(d) == month}


def billable_units(order: Order, periods: tuple[EnrolmentPeriod, ...]) -> int:
    """The order's units the service covers and charges for (0 when none)."""
    if order.fulfillment_channel != "MFN" or order.seller_fulfilled_prime:
        return 0
    if order.status not in SHIPPED or order.ship_date is None:
        return 0
    if not covered_on(periods, order.purchase_date):
        return 0
    return sum(item.quantity for item in order.items)


def seller_activity(session: Session, seller_id: str,
                    periods: tuple[EnrolmentPeriod, ...]) -> dict[str, MarketplaceActivity]:
    shipments: dict[str, Counter[date]] = {}
    for row in session.scalars(select(OrderRow).where(OrderRow.seller_id == seller_id)):
        order = Order.model_validate(row.data)
        units = billable_units(order, periods)
        if units and order.ship_date is not None:
            shipments.setdefault(order.marketplace, Counter())[order.ship_date] += units
    contacts: dict[str, Counter[date]] = {}
    for marketplace, day, count in session.execute(
            select(ContactRow.marketplace, ContactRow.day, func.count())
            .where(ContactRow.seller_id == seller_id)
            .group_by(ContactRow.marketplace, ContactRow.day)):
        contacts.setdefault(marketplace, Counter())[day] += count
    return {mp: MarketplaceActivity(dict(shipments.get(mp, {})), dict(contacts.get(mp, {})))
            for mp in shipments.keys() | contacts.keys()}
