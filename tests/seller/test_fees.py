"""The fee engine at every tier boundary, the trial, the VTR table and the unknown CPU.

Every expected amount is written out by hand: fee per unit (from the published table) times
the units charged, less the discount.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from seller.fees import (
    CpuBasis,
    MonthActivity,
    contacts_per_unit,
    monthly_fee,
    trailing_basis,
    trial_ends_on,
    units_in_trial,
)
from seller.months import Month
from seller.terms import VtrRates, fee_schedule, load_terms

NOV = Month(2026, 11)


def basis(units: int, contacts: int) -> CpuBasis:
    return CpuBasis(Month(2026, 8), Month(2026, 10), units, contacts)


# marketplace, basis units, basis contacts, units shipped, tier, fee per unit, total
TIERS = [
    # DE (EUR), bands 5 / 15 / 30 %
    ("DE", 100, 0, 200, "cpu_le_5", "0.09", "18.00"),
    ("DE", 100, 5, 200, "cpu_le_5", "0.09", "18.00"),  # 5 % exactly: still the lowest band
    ("DE", 100, 6, 200, "cpu_le_15", "0.41", "82.00"),
    ("DE", 40, 2, 200, "cpu_le_5", "0.09", "18.00"),  # 2/40 = 5 %
    ("DE", 100, 15, 200, "cpu_le_15", "0.41", "82.00"),
    ("DE", 100, 16, 200, "cpu_le_30", "1.09", "218.00"),
    ("DE", 100, 30, 200, "cpu_le_30", "1.09", "218.00"),
    ("DE", 100, 31, 200, "cpu_gt_30", "2.55", "510.00"),
    ("DE", 30, 200, 7, "cpu_gt_30", "2.55", "17.85"),  # more contacts than units
    # US (USD), bands 5 / 15 / 30 %
    ("US", 200, 10, 37, "cpu_le_5", "0.10", "3.70"),
    ("US", 200, 11, 37, "cpu_le_15", "0.25", "9.25"),
    ("US", 200, 30, 37, "cpu_le_15", "0.25", "9.25"),
    ("US", 200, 31, 37, "cpu_le_30", "0.50", "18.50"),
    ("US", 200, 60, 37, "cpu_le_30", "0.50", "18.50"),
    ("US", 200, 61, 37, "cpu_gt_30", "0.70", "25.90"),
    # JP (JPY, no decimals), bands 5 / 10 / 20 %
    ("JP", 100, 5, 40, "cpu_le_5", "11", "440"),
    ("JP", 100, 6, 40, "cpu_le_10", "38", "1520"),
    ("JP", 100, 10, 40, "cpu_le_10", "38", "1520"),
    ("JP", 100, 11, 40, "cpu_le_20", "76", "3040"),
    ("JP", 100, 20, 40, "cpu_le_20", "76", "3040"),
    ("JP", 100, 21, 40, "cpu_gt_20", "163", "6520"),
    # the lent DE table: ES, FR, IT in EUR
    ("ES", 100, 6, 10, "cpu_le_15", "0.41", "4.10"),
    ("IT", 100, 31, 10, "cpu_gt_30", "2.55", "25.50"),
    # no unit shipped this month: nothing to pay
    ("DE", 100, 31, 0, "cpu_gt_30", "2.55", "0.00"),
]


@pytest.mark.parametrize(("mp", "units", "contacts", "shipped", "tier", "fee", "total"), TIERS)
def test_tier_boundaries(mp: str, units: int, contacts: int, shipped: int, tier: str, fee: str,
                         total: str) -> None:
    result = monthly_fee(fee_schedule(mp), basis(units, contacts), units_shipped=shipped)
    assert result.tier.id == tier
    assert result.tier.fee_per_unit == Decimal(fee)
    assert result.total == Decimal(total) and str(result.total) == total
    assert result.discounts == ()


# marketplace, basis units, shipped, total: below 30 units in the trailing months the CPU is
# unknown and the published unknown-CPU fee (JP: our default, the second band) applies.
UNKNOWN = [
    ("DE", 29, 10, "4.10"),  # 0.41 x 10
    ("DE", 0, 10, "4.10"),
    ("US", 0, 4, "1.00"),  # 0.25 x 4
    ("JP", 12, 3, "114"),  # 38 x 3
]


@pytest.mark.parametrize(("mp", "units", "shipped", "total"), UNKNOWN)
def test_too_few_units_make_the_cpu_unknown(mp: str, units: int, shipped: int,
                                            total: str) -> None:
    # no contact at all: the lowest band would apply if the CPU were known
    result = monthly_fee(fee_schedule(mp), basis(units, 0), units_shipped=shipped,
                         valid_tracking_rate=Decimal("0.99"))
    assert result.tier.id == "cpu_unknown" and "fewer than 30 units" in result.tier.label
    assert result.total == Decimal(total)
    assert result.discounts == ()  # no VTR discount without a known CPU


def test_thirty_units_are_enough_for_a_known_cpu() -> None:
    result = monthly_fee(fee_schedule("DE"), basis(30, 0), units_shipped=10)
    assert result.tier.id == "cpu_le_5" and result.total == Decimal("0.90")  # 0.09 x 10


# marketplace, basis contacts (of 100 units), shipped, in trial, total
TRIAL = [
    ("DE", 10, 50, 20, "12.30"),  # 30 charged x 0.41
    ("DE", 10, 50, 50, "0.00"),  # the whole month inside the trial
    ("US", 25, 8, 3, "2.50"),  # CPU 25 %: 5 x 0.50
    ("JP", 7, 9, 4, "190"),  # 5 x 38
]


@pytest.mark.parametrize(("mp", "contacts", "shipped", "free", "total"), TRIAL)
def test_units_shipped_in_the_trial_are_free(mp: str, contacts: int, shipped: int, free: int,
                                             total: str) -> None:
    result = monthly_fee(fee_schedule(mp), basis(100, contacts), units_shipped=shipped,
                         units_in_trial=free)
    assert (result.units_charged, result.total) == (shipped - free, Decimal(total))


def test_the_trial_runs_30_days_from_the_first_enrolment() -> None:
    end = trial_ends_on(date(2026, 3, 1), load_terms("DE").trial.days)
    assert end == date(2026, 3, 31)
    shipped = {date(2026, 3, 29): 2, date(2026, 3, 30): 3, date(2026, 3, 31): 4}
    assert units_in_trial(shipped, end) == 5  # the 31st is the first paying day
    assert units_in_trial(shipped, None) == 0
    assert trial_ends_on(None, 30) is None


# marketplace, contacts (of 100 units), VTR, shipped, subtotal, share, discount, total, rule
# The VTR tables (seller/data): CPU <= 5 %: free at VTR >= 95 %, half at >= 90 %; the next CPU
# band (DE, US: 15 %, JP: 10 %): half at >= 95 %, three quarters at >= 90 %; above: the full fee.
DISCOUNT = [
    ("DE", 5, "0.95", 200, "18.00", "0", "18.00", "0.00", "vtr.cpu_le_5.vtr_ge_95"),
    ("DE", 5, "0.9499", 200, "18.00", "0.5", "9.00", "9.00", "vtr.cpu_le_5.vtr_ge_90"),
    ("DE", 5, "0.8999", 200, "18.00", None, None, "18.00", None),  # below every VTR band
    ("DE", 6, "0.99", 200, "82.00", "0.5", "41.00", "41.00", "vtr.cpu_le_15.vtr_ge_95"),
    # 3 x 0.41 = 1.23 EUR, three quarters 0.9225 rounds to 0.92: 0.31 off
    ("DE", 15, "0.90", 3, "1.23", "0.75", "0.31", "0.92", "vtr.cpu_le_15.vtr_ge_90"),
    ("DE", 16, "0.99", 200, "218.00", "1", None, "218.00", "vtr.cpu_gt_15.vtr_ge_95"),
    ("DE", 0, None, 200, "18.00", None, None, "18.00", None),  # no VTR for the month
    ("US", 5, "0.97", 37, "3.70", "0", "3.70", "0.00", "vtr.cpu_le_5.vtr_ge_95"),
    ("JP", 5, "0.96", 40, "440", "0", "440", "0", "vtr.cpu_le_5.vtr_ge_95"),
    # 3 x 38 = 114 JPY, three quarters 85.5 rounds half up to 86: 28 off
    ("JP", 10, "0.91", 3, "114", "0.75", "28", "86", "vtr.cpu_le_10.vtr_ge_90"),
]


@pytest.mark.parametrize(("mp", "contacts", "vtr", "shipped", "subtotal", "share", "discount",
                          "total", "rule"), DISCOUNT)
def test_a_good_vtr_makes_the_fee_free_or_discounted(
        mp: str, contacts: int, vtr: str | None, shipped: int, subtotal: str,
        share: str | None, discount: str | None, total: str, rule: str | None) -> None:
    result = monthly_fee(fee_schedule(mp), basis(100, contacts), units_shipped=shipped,
                         valid_tracking_rate=Decimal(vtr) if vtr else None)
    assert result.subtotal == Decimal(subtotal) and result.total == Decimal(total)
    assert (result.vtr.rule if result.vtr else None) == rule
    assert (result.vtr.share if result.vtr else None) == (Decimal(share) if share else None)
    if discount is None:
        assert result.discounts == ()
    else:
        [applied] = result.discounts
        assert applied.amount == Decimal(discount) and applied.rule == rule
        assert result.vtr is not None
        assert f"({result.vtr.vtr_band}) and {result.vtr.cpu_band}" in applied.reason
        assert f"{Decimal(share) * 100:.0f} % of the fee charged" in applied.reason


@pytest.mark.parametrize("mp", ["DE", "ES", "FR", "IT", "UK", "US", "JP"])
def test_every_marketplace_has_a_vtr_table_with_free_as_its_best_cell(mp: str) -> None:
    rates = load_terms(mp).vtr_rates
    assert rates is not None
    assert rates.source.startswith("https://") and "free or discounted" in rates.source_says
    assert "neither" in rates.decided_where_silent  # the numbers are ours, and say so
    shares = [share for row in rates.cpu_bands for share in row.shares]
    assert rates.cpu_bands[0].shares[0] == 0 and min(shares) == 0
    assert any(0 < share < 1 for share in shares)  # discounted, not only free


def _table(**change: object) -> dict[str, object]:
    table: dict[str, object] = {
        "source": "https://example.test/fees", "source_says": "free or discounted rates",
        "decided_where_silent": "ours", "vtr_bands": [{"min_vtr": "0.95"}, {"min_vtr": "0.9"}],
        "cpu_bands": [{"max_cpu": "0.05", "shares": ["0", "0.5"]},
                      {"max_cpu": None, "shares": ["1", "1"]}]}
    return {**table, **change}


@pytest.mark.parametrize(("change", "message"), [
    ({"cpu_bands": [{"max_cpu": "0.05", "shares": ["0.1", "0.5"]},
                    {"max_cpu": None, "shares": ["1", "1"]}]}, "best cell"),
    ({"cpu_bands": [{"max_cpu": "0.05", "shares": ["0", "0.5"]},
                    {"max_cpu": None, "shares": ["0.3", "0.4"]}]}, "higher CPU band"),
    ({"cpu_bands": [{"max_cpu": "0.05", "shares": ["0", "0.5"]},
                    {"max_cpu": None, "shares": ["1", "0.9"]}]}, "lower VTR band"),
    ({"vtr_bands": [{"min_vtr": "0.9"}, {"min_vtr": "0.95"}]}, "fall strictly"),
    ({"cpu_bands": [{"max_cpu": "0.05", "shares": ["0"]},
                    {"max_cpu": None, "shares": ["1"]}]}, "2 shares"),
    ({"decided_where_silent": ""}, "decided_where_silent"),
])
def test_a_vtr_table_that_would_charge_a_better_seller_more_is_refused(
        change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        VtrRates.model_validate(_table(**change))


def test_uk_uses_the_table_the_operator_sets() -> None:
    default = fee_schedule("UK")
    assert (default.table_of, default.table.currency) == ("DE", "EUR")
    assert "No public fee table for UK" in default.notes[0]
    us = fee_schedule("UK", uk_table="US")
    assert (us.table_of, us.table.currency) == ("US", "USD")
    assert monthly_fee(us, basis(100, 6), units_shipped=10).total == Decimal("2.50")


def test_the_tier_is_fixed_from_the_three_months_before() -> None:
    activity = {Month(2026, 7): MonthActivity(1000, 900), Month(2026, 8): MonthActivity(40, 1),
                Month(2026, 9): MonthActivity(30, 2), Month(2026, 10): MonthActivity(30, 3),
                NOV: MonthActivity(500, 400)}
    b = trailing_basis(activity, NOV, 3)
    assert (b.first_month, b.last_month, b.units, b.contacts) == (
        Month(2026, 8), Month(2026, 10), 100, 6)
    assert b.cpu == Decimal("0.06")
    assert trailing_basis(activity, Month(2027, 1), 3).units == 530  # Oct, Nov, Dec


def test_contacts_per_unit_needs_units() -> None:
    assert contacts_per_unit(3, 0) is None
    assert contacts_per_unit(1, 3) == Decimal(1) / Decimal(3)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="units_in_trial"):
        monthly_fee(fee_schedule("DE"), basis(100, 0), units_shipped=3, units_in_trial=4)
    with pytest.raises(ValueError, match=">= 0"):
        MonthActivity(-1, 0)


@pytest.mark.parametrize(("text", "month"), [("2026-11", Month(2026, 11)),
                                             (" 2027-01 ", Month(2027, 1))])
def test_months_parse(text: str, month: Month) -> None:
    assert Month.parse(text) == month
    assert str(month.plus(-1)) == ("2026-10" if month.month == 11 else "2026-12")


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "11/2026", ""])
def test_bad_months_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="month"):
        Month.parse(text)
