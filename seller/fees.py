"""The fee engine: contacts per unit, the tier, the trial and the VTR rates, as pure functions.

Fees are charged per shipped MFN unit at the tier the trailing months' contacts per unit set
on the 1st of the month. Everything is ``Decimal``; nothing here reads a database or a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from base.money import round_money as money
from seller.months import Month
from seller.terms import FeeSchedule, VtrRates

PERCENT = Decimal(100)
UNKNOWN_CPU = "cpu_unknown"


@dataclass(frozen=True, slots=True)
class MonthActivity:
    """What one seller did in one marketplace in one month."""

    units: int = 0  # MFN units of covered orders shipped in the month
    contacts: int = 0  # contacts the service handled about them

    def __post_init__(self) -> None:
        if self.units < 0 or self.contacts < 0:
            raise ValueError(f"units and contacts must be >= 0, got {self.units}, "
                             f"{self.contacts}")


@dataclass(frozen=True, slots=True)
class CpuBasis:
    """The months a tier is fixed from, and what happened in them."""

    first_month: Month
    last_month: Month
    units: int
    contacts: int

    @property
    def cpu(self) -> Decimal | None:
        return contacts_per_unit(self.contacts, self.units)


@dataclass(frozen=True, slots=True)
class FeeTier:
    id: str  # "cpu_le_5", ..., "cpu_gt_30", "cpu_unknown"
    label: str  # as the statement shows it
    fee_per_unit: Decimal
    max_cpu: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AppliedDiscount:
    rule: str
    reason: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class VtrCell:
    """The cell of the VTR table a month fell in: its bands and the share of the fee charged."""

    rule: str  # "vtr.cpu_le_5.vtr_ge_95"
    cpu_band: str  # "CPU ≤ 5 %"
    vtr_band: str  # "VTR ≥ 95 %"
    share: Decimal  # of the fee charged: 0 free, 1 the full fee


@dataclass(frozen=True, slots=True)
class MonthlyFee:
    tier: FeeTier
    units_shipped: int
    units_in_trial: int
    subtotal: Decimal
    discounts: tuple[AppliedDiscount, ...]
    total: Decimal
    vtr: VtrCell | None = None  # None: no VTR for the month, below every band, or unknown CPU

    @property
    def units_charged(self) -> int:
        return self.units_shipped - self.units_in_trial


def contacts_per_unit(contacts: int, units: int) -> Decimal | None:
    """Contacts divided by units; None when no unit was shipped (the ratio does not exist)."""
    if units <= 0:
        return None
    return Decimal(contacts) / Decimal(units)


def trailing_basis(activity: Mapping[Month, MonthActivity], month: Month,
                   trailing_months: int) -> CpuBasis:
    """The ``trailing_months`` full months before ``month``: the tier is fixed on its 1st."""
    months = [month.plus(-n) for n in range(trailing_months, 0, -1)]
    units = sum(activity.get(m, MonthActivity()).units for m in months)
    contacts = sum(activity.get(m, MonthActivity()).contacts for m in months)
    return CpuBasis(months[0], months[-1], units, contacts)


def _points(value: Decimal) -> str:
    return f"{(value * PERCENT).normalize():f}"


def _percent(value: Decimal) -> str:
    return f"{_points(value)} %"


def fee_tier(schedule: FeeSchedule, basis: CpuBasis) -> FeeTier:
    """The band the basis falls in; too few units make the CPU unknown (its own fee)."""
    table = schedule.table
    if basis.units < table.min_units_for_cpu:
        return FeeTier(UNKNOWN_CPU,
                       f"unknown CPU (fewer than {table.min_units_for_cpu} units in "
                       f"{table.trailing_months} months)", table.unknown_cpu_fee_per_unit)
    lower = Decimal(0)
    for row in table.tiers:
        if row.max_cpu is None:
            return FeeTier(f"cpu_gt_{_points(lower)}", f"CPU > {_percent(lower)}",
                           row.fee_per_unit)
        # contacts / units <= bound, compared exactly as contacts <= bound * units
        if basis.contacts <= row.max_cpu * basis.units:
            return FeeTier(f"cpu_le_{_points(row.max_cpu)}", f"CPU ≤ {_percent(row.max_cpu)}",
                           row.fee_per_unit, row.max_cpu)
        lower = row.max_cpu
    raise AssertionError("a fee table ends with an open band")


def trial_ends_on(first_enrolled_on: date | None, trial_days: int) -> date | None:
    """The first day that is no longer free (the trial runs once, from the first enrolment)."""
    return first_enrolled_on + timedelta(days=trial_days) if first_enrolled_on else None


def units_in_trial(shipments: Mapping[date, int], trial_end: date | None) -> int:
    """Units shipped before the trial ended (ship day -> units)."""
    if trial_end is None:
        return 0
    return sum(units for day, units in shipments.items() if day < trial_end)


def vtr_cell(rates: VtrRates | None, basis: CpuBasis,
             valid_tracking_rate: Decimal | None) -> VtrCell | None:
    """The cell of the VTR table for a known CPU and the billed month's valid tracking rate;
    None without a table, a CPU or a rate, or with a rate below every band (the full fee)."""
    if rates is None or valid_tracking_rate is None or basis.cpu is None:
        return None
    column = next((i for i, band in enumerate(rates.vtr_bands)
                   if valid_tracking_rate >= band.min_vtr), None)
    if column is None:
        return None
    vtr_id, vtr_label = (f"vtr_ge_{_points(rates.vtr_bands[column].min_vtr)}",
                         f"VTR ≥ {_percent(rates.vtr_bands[column].min_vtr)}")
    lower = Decimal(0)
    for row in rates.cpu_bands:
        # contacts / units <= bound, compared exactly as contacts <= bound * units
        if row.max_cpu is None or basis.contacts <= row.max_cpu * basis.units:
            cpu_id, cpu_label = ((f"cpu_gt_{_points(lower)}", f"CPU > {_percent(lower)}")
                                 if row.max_cpu is None else
                                 (f"cpu_le_{_points(row.max_cpu)}",
                                  f"CPU ≤ {_percent(row.max_cpu)}"))
            return VtrCell(f"vtr.{cpu_id}.{vtr_id}", cpu_label, vtr_label, row.shares[column])
        lower = row.max_cpu
    raise AssertionError("a VTR table ends with an open CPU band")


def monthly_fee(schedule: FeeSchedule, basis: CpuBasis, *, units_shipped: int,
                units_in_trial: int = 0,
                valid_tracking_rate: Decimal | None = None) -> MonthlyFee:
    """The month's fee: the tier's fee for every unit shipped after the trial, times the share
    the VTR table charges for the billed month's valid tracking rate, rounded half up to the
    currency's smallest unit."""
    if not 0 <= units_in_trial <= units_shipped:
        raise ValueError(f"units_in_trial must be within 0..{units_shipped}, "
                         f"got {units_in_trial}")
    decimals = schedule.table.money_decimals
    tier = fee_tier(schedule, basis)
    subtotal = money(tier.fee_per_unit * (units_shipped - units_in_trial), decimals)
    applied: list[AppliedDiscount] = []
    cell = (None if tier.id == UNKNOWN_CPU  # a discount needs a CPU it can trust
            else vtr_cell(schedule.vtr_rates, basis, valid_tracking_rate))
    if cell is not None and cell.share < 1 and subtotal > 0:
        assert valid_tracking_rate is not None
        charged = money(subtotal * cell.share, decimals)
        applied.append(AppliedDiscount(
            cell.rule,
            f"valid tracking rate {_percent(valid_tracking_rate)} ({cell.vtr_band}) and "
            f"{cell.cpu_band}: {_percent(cell.share)} of the fee charged"
            + (" (free)" if cell.share == 0 else ""), subtotal - charged))
    total = subtotal - sum((d.amount for d in applied), Decimal(0))
    return MonthlyFee(tier, units_shipped, units_in_trial, subtotal, tuple(applied),
                      money(total, decimals), cell)
