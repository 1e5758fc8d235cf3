"""Statements end to end: a month of traffic through the real agent gives the statement a
person computes by hand from the same numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from agent.db import Store
from agent.records import Order
from seller.activity import MarketplaceActivity
from seller.months import Month
from seller.statements import (
    CSV_COLUMNS,
    StatementError,
    build_statement,
    cpu_history,
    statements_csv,
    statements_for,
)
from seller.terms import fee_schedule
from tests.seller.conftest import OTHER, SELLER, Ask, order_record

TODAY = date(2026, 12, 3)
NOV = Month(2026, 11)


def ship(day: str, count: int, quantity: int, **kw: Any) -> list[Order]:
    return [order_record(purchased=day, shipped=day, quantity=quantity, **kw)
            for _ in range(count)]


def test_a_month_of_traffic_gives_the_hand_computed_statement(account_store: Store,
                                                             ask: Ask) -> None:
    # Shipped in the three months before November: 30 + 40 + 30 = 100 MFN units.
    aug, sep, octo = (ship("2026-08-03", 30, 1), ship("2026-09-07", 20, 2),
                      ship("2026-10-05", 30, 1))
    # Not the seller's units to pay for: fulfilled by the marketplace, Seller Fulfilled
    # Prime, cancelled, and a unit of another seller.
    afn = ship("2026-10-06", 3, 1, channel="AFN")
    prime = ship("2026-10-06", 2, 1, prime=True)
    cancelled = [order_record(purchased="2026-10-06", status="cancelled") for _ in range(2)]
    other = ship("2026-10-06", 5, 1, seller_id=OTHER)
    # November: 25 orders of 2 units = 50 units; one ordered in October, shipped in November.
    nov = ship("2026-11-04", 24, 2) + [order_record(purchased="2026-10-30",
                                                    shipped="2026-11-02", quantity=2)]
    account_store.save(orders=[*aug, *sep, *octo, *afn, *prime, *cancelled, *other, *nov])

    # Contacts August to October: 12.
    for order in aug[:4]:  # 4 orders asked about once each
        ask(order, "2026-08-12")
    ask(aug[4], "2026-08-12", channel="email")  # one order, one day, two channels: 1
    ask(aug[4], "2026-08-12", channel="chat")
    ask(aug[5], "2026-08-13")  # one order on two days: 2
    ask(aug[5], "2026-08-20")
    for order in sep[:3]:  # 3
        ask(order, "2026-09-15")
    ask(octo[0], "2026-10-08")  # 2 in October
    ask(octo[1], "2026-10-09")
    ask(octo[1], "2026-10-09", thread=f"again-{octo[1].order_id}")  # same day again: 0
    ask(afn[0], "2026-10-08")  # redirected to the marketplace: 0
    ask(other[0], "2026-10-08")  # another seller's contact: 0 here
    # Contacts in November: 4 (they set December's tier, not November's).
    for order in nov[:4]:
        ask(order, "2026-11-10")

    [statement] = statements_for(account_store, SELLER, NOV, today=TODAY).statements
    # By hand: CPU = 12 / 100 = 12 % -> band "<= 15 %" -> 0.41 EUR per unit;
    # 50 units x 0.41 = 20.50 EUR; VTR 90 % earns no discount (and CPU is above 5 %).
    assert statement.marketplace == "DE" and statement.month == "2026-11"
    assert statement.final and statement.currency == "EUR" and statement.fee_table == "DE"
    assert (statement.units_shipped, statement.units_in_trial, statement.units_charged) == (
        50, 0, 50)
    assert statement.contacts == 4
    basis = statement.cpu_basis
    assert (basis.from_month, basis.to_month, basis.units, basis.contacts, basis.cpu) == (
        "2026-08", "2026-10", 100, 12, Decimal("0.1200"))
    assert (statement.tier, statement.tier_label) == ("cpu_le_15", "CPU ≤ 15 %")
    assert statement.fee_per_unit == Decimal("0.41")
    assert statement.subtotal == statement.total == Decimal("20.50")
    assert statement.discounts == []

    # December's tier comes from September to November: (3 + 2 + 4) / (40 + 30 + 50) = 7.5 %
    [december] = statements_for(account_store, SELLER, Month(2026, 12), today=TODAY).statements
    assert december.cpu_basis.cpu == Decimal("0.0750") and december.tier == "cpu_le_15"
    assert not december.final and "provisional" in " ".join(december.notes)

    csv_text = statements_csv([statement])
    header, row = csv_text.splitlines()
    assert header.split(",") == list(CSV_COLUMNS)
    assert row.startswith("A8KONTOR,DE,2026-11,true,EUR,DE,50,0,50,4,2026-08..2026-10,100,12,"
                          "0.1200,cpu_le_15,0.41,20.50,,20.50,")


def test_a_month_in_the_future_and_an_unknown_seller_are_refused(
        account_store: Store) -> None:
    with pytest.raises(StatementError) as future:
        statements_for(account_store, SELLER, Month(2027, 1), today=TODAY)
    assert future.value.rule == "statement.month_in_future" and future.value.status == 422
    with pytest.raises(StatementError) as unknown:
        statements_for(account_store, "A0NOBODY", NOV, today=TODAY)
    assert unknown.value.rule == "statement.unknown_seller" and unknown.value.status == 404


def test_trial_units_are_free_and_the_statement_says_why() -> None:
    # enrolled 2026-03-10: the trial ends 2026-04-09 (30 days); April ships 10 units before
    # and 6 units from that day on; no history yet, so the CPU is unknown: 0.41 EUR per unit.
    activity = MarketplaceActivity(shipments={date(2026, 4, 1): 4, date(2026, 4, 8): 6,
                                              date(2026, 4, 9): 5, date(2026, 4, 30): 1})
    s = build_statement(seller_id=SELLER, marketplace="DE", month=Month(2026, 4),
                        activity=activity, schedule=fee_schedule("DE"),
                        first_enrolled=date(2026, 3, 10), valid_tracking_rate=None,
                        today=TODAY)
    assert (s.units_shipped, s.units_in_trial, s.units_charged) == (16, 10, 6)
    assert s.tier == "cpu_unknown" and s.total == Decimal("2.46")  # 6 x 0.41
    assert s.trial_ends_on == date(2026, 4, 9)
    assert any("free trial ended on 2026-04-09" in n for n in s.notes)
    assert any("CPU is unknown" in n for n in s.notes)


def test_the_vtr_discount_is_shown_with_its_reason() -> None:
    # 200 units, 4 contacts in the trailing months: CPU 2 %; VTR 97 %: free
    activity = MarketplaceActivity(
        shipments={date(2026, 8, 3): 100, date(2026, 9, 3): 50, date(2026, 10, 3): 50,
                   date(2026, 11, 3): 120},
        contacts={date(2026, 8, 5): 2, date(2026, 10, 5): 2})
    s = build_statement(seller_id=SELLER, marketplace="US", month=NOV, activity=activity,
                        schedule=fee_schedule("US"), first_enrolled=date(2026, 1, 1),
                        valid_tracking_rate=Decimal("0.97"), today=TODAY)
    assert s.subtotal == Decimal("12.00") and s.total == Decimal("0.00")  # 120 x 0.10
    [discount] = s.discounts
    assert discount.amount == Decimal("12.00") and "valid tracking rate 97 %" in discount.reason
    assert (s.vtr_band, s.vtr_cpu_band, s.share_charged) == ("VTR ≥ 95 %", "CPU ≤ 5 %",
                                                             Decimal(0))


def test_a_uk_statement_says_which_table_priced_it() -> None:
    activity = MarketplaceActivity(shipments={date(2026, 11, 3): 10})
    s = build_statement(seller_id=SELLER, marketplace="UK", month=NOV, activity=activity,
                        schedule=fee_schedule("UK"), first_enrolled=date(2026, 1, 1),
                        valid_tracking_rate=None, today=TODAY)
    assert (s.fee_table, s.currency, s.total) == ("DE", "EUR", Decimal("4.10"))
    assert any("No public fee table for UK" in n for n in s.notes)


def test_the_cpu_history_covers_twelve_months() -> None:
    activity = MarketplaceActivity(
        shipments={date(2026, 8, 3): 40, date(2026, 9, 3): 40, date(2026, 10, 3): 40},
        contacts={date(2026, 9, 5): 6})
    points = cpu_history(activity, NOV, fee_schedule("DE"))
    assert [str(p.month) for p in points] == [str(NOV.plus(-n)) for n in range(11, -1, -1)]
    # each month shows the CPU its tier was fixed from: the three months before it
    assert [(p.cpu, p.units) for p in points[-4:]] == [
        (None, 0),  # August: May..July, no unit: unknown
        (Decimal("0.0000"), 40),  # September: June..August, 0 / 40
        (Decimal("0.0750"), 80),  # October: July..September, 6 / 80
        (Decimal("0.0500"), 120),  # November: August..October, 6 / 120
    ]
    few = cpu_history(MarketplaceActivity(shipments={date(2026, 10, 3): 29}), NOV,
                      fee_schedule("DE"))
    assert (few[-1].cpu, few[-1].units) == (None, 29)  # below 30 units: unknown
