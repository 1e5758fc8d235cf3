"""Monthly fee statements per seller and marketplace, as JSON, CSV and the CPU history.

``build_statement`` is pure (activity, terms and today in, statement out); ``statements_for``
gathers the activity from the database. Amounts are decimal strings in JSON and CSV, exact.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from agent.db import Store
from agent.enrolment import first_enrolled_on, seller_periods
from agent.records import Seller
from base.money import Marketplace
from seller.activity import MarketplaceActivity, seller_activity
from seller.fees import (
    UNKNOWN_CPU,
    MonthActivity,
    contacts_per_unit,
    monthly_fee,
    trailing_basis,
    trial_ends_on,
    units_in_trial,
)
from seller.months import Month
from seller.terms import FeeSchedule, FeeTableOwner, fee_schedule
from seller.tracking import rate_for

CPU_PLACES = Decimal("0.0001")


class StatementError(ValueError):
    """A statement that cannot be made; ``rule`` names the rule that refused it."""

    def __init__(self, rule: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.rule, self.status = rule, status


class DiscountLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    reason: str
    amount: Decimal


class CpuBasisOut(BaseModel):
    """The trailing months the tier was fixed from on the 1st of the month."""

    model_config = ConfigDict(frozen=True)

    from_month: str
    to_month: str
    units: int
    contacts: int
    cpu: Decimal | None  # contacts / units, 4 places; None without units


class Statement(BaseModel):
    model_config = ConfigDict(frozen=True)

    seller_id: str
    marketplace: Marketplace
    month: str
    final: bool  # False while the month is not over
    currency: str
    fee_table: Marketplace  # whose published table priced it
    units_shipped: int
    units_in_trial: int
    units_charged: int
    contacts: int  # handled in this month (they count towards later months' tiers)
    cpu_basis: CpuBasisOut
    tier: str
    tier_label: str
    fee_per_unit: Decimal
    subtotal: Decimal
    discounts: list[DiscountLine]
    total: Decimal
    trial_ends_on: date | None
    valid_tracking_rate: Decimal | None  # the billed month's, from the history
    # The cell of the VTR table the month fell in, and the share of the fee it charges
    # (0 free, 1 the full fee); None without a rate for the month or a known CPU.
    vtr_rule: str | None = None
    vtr_cpu_band: str | None = None
    vtr_band: str | None = None
    share_charged: Decimal | None = None
    notes: list[str]


@dataclass(frozen=True, slots=True)
class CpuPoint:
    """One month of the CPU chart: the CPU its tier was fixed from (None when unknown)."""

    month: Month
    cpu: Decimal | None
    units: int


def _cpu(contacts: int, units: int) -> Decimal | None:
    cpu = contacts_per_unit(contacts, units)
    return cpu.quantize(CPU_PLACES) if cpu is not None else None


def build_statement(*, seller_id: str, marketplace: Marketplace, month: Month,
                    activity: MarketplaceActivity, schedule: FeeSchedule,
                    first_enrolled: date | None, valid_tracking_rate: Decimal | None,
                    today: date) -> Statement:
    if month > Month.of(today):
        raise StatementError("statement.month_in_future",
                             f"{month} has not begun (today is {today})")
    table = schedule.table
    monthly = activity.by_month()
    basis = trailing_basis(monthly, month, table.trailing_months)
    shipped = activity.shipments_in(month)
    trial_end = trial_ends_on(first_enrolled, schedule.trial_days)
    free = units_in_trial(shipped, trial_end)
    fee = monthly_fee(schedule, basis, units_shipped=sum(shipped.values()),
                      units_in_trial=free, valid_tracking_rate=valid_tracking_rate)
    notes = list(schedule.notes)
    if free:
        notes.append(f"{free} units shipped before the free trial ended on {trial_end} "
                     f"are free ({schedule.trial_days} days from the first enrolment).")
    if fee.tier.id == UNKNOWN_CPU:
        notes.append(f"Fewer than {table.min_units_for_cpu} units were shipped in "
                     f"{basis.first_month}..{basis.last_month}: the CPU is unknown and the "
                     f"unknown-CPU fee applies.")
    if fee.vtr is not None:
        notes.append(f"Valid tracking rate of {month}: {fee.vtr.vtr_band}, {fee.vtr.cpu_band}: "
                     f"{_share(fee.vtr.share)} of the fee charged.")
    elif valid_tracking_rate is None and schedule.vtr_rates is not None \
            and fee.tier.id != UNKNOWN_CPU and fee.subtotal > 0:
        notes.append(f"No valid tracking rate is recorded for {month}: the full fee applies.")
    final = month < Month.of(today)
    if not final:
        notes.append("The month is not over: this statement is provisional.")
    return Statement(
        seller_id=seller_id, marketplace=marketplace, month=str(month), final=final,
        currency=table.currency, fee_table=schedule.table_of,
        units_shipped=fee.units_shipped, units_in_trial=fee.units_in_trial,
        units_charged=fee.units_charged,
        contacts=monthly.get(month, MonthActivity()).contacts,
        cpu_basis=CpuBasisOut(from_month=str(basis.first_month),
                              to_month=str(basis.last_month), units=basis.units,
                              contacts=basis.contacts, cpu=_cpu(basis.contacts, basis.units)),
        tier=fee.tier.id, tier_label=fee.tier.label, fee_per_unit=fee.tier.fee_per_unit,
        subtotal=fee.subtotal,
        discounts=[DiscountLine(rule=d.rule, reason=d.reason, amount=d.amount)
                   for d in fee.discounts],
        total=fee.total, trial_ends_on=trial_end, valid_tracking_rate=valid_tracking_rate,
        vtr_rule=fee.vtr.rule if fee.vtr else None,
        vtr_cpu_band=fee.vtr.cpu_band if fee.vtr else None,
        vtr_band=fee.vtr.vtr_band if fee.vtr else None,
        share_charged=fee.vtr.share if fee.vtr else None, notes=notes)


def _share(share: Decimal) -> str:
    return f"{(share * 100).normalize():f} %"


def cpu_history(activity: MarketplaceActivity, month: Month, schedule: FeeSchedule,
                count: int = 12) -> list[CpuPoint]:
    """The tier-setting CPU of each of the ``count`` months up to ``month``, oldest first."""
    monthly = activity.by_month()
    points = []
    for m in (month.plus(-n) for n in range(count - 1, -1, -1)):
        basis = trailing_basis(monthly, m, schedule.table.trailing_months)
        known = basis.units >= schedule.table.min_units_for_cpu
        points.append(CpuPoint(m, _cpu(basis.contacts, basis.units) if known else None,
                               basis.units))
    return points


@dataclass(frozen=True, slots=True)
class SellerStatements:
    """A seller's statements for a month, and what the CPU chart is drawn from."""

    seller: Seller
    statements: list[Statement]
    activity: Mapping[str, MarketplaceActivity]


def statements_for(store: Store, seller_id: str, month: Month, *, today: date,
                   marketplace: str | None = None,
                   uk_table: FeeTableOwner = "DE") -> SellerStatements:
    """Every marketplace the seller was active in over the month and its trailing months,
    or the one asked for (a statement of zeros when idle)."""
    seller = store.seller(seller_id)
    if seller is None:
        raise StatementError("statement.unknown_seller", f"no seller {seller_id!r}", 404)
    if month > Month.of(today):
        raise StatementError("statement.month_in_future",
                             f"{month} has not begun (today is {today})")
    with store.reads() as session:
        periods = seller_periods(session, seller)
        activity = seller_activity(session, seller_id, periods)
        # The billed month's rate, never the seller record's current one.
        rate = rate_for(session, seller_id, month)
    schedules = {mp: fee_schedule(mp, uk_table=uk_table)
                 for mp in ([marketplace] if marketplace else activity)}
    if marketplace is None:  # the marketplaces active in the month or its trailing months
        schedules = {mp: sch for mp, sch in schedules.items()
                     if _active(activity[mp], month, sch.table.trailing_months)}
    statements = [
        build_statement(seller_id=seller_id, marketplace=schedule.marketplace, month=month,
                        activity=activity.get(mp, MarketplaceActivity()), schedule=schedule,
                        first_enrolled=first_enrolled_on(periods),
                        valid_tracking_rate=rate, today=today)
        for mp, schedule in sorted(schedules.items())]
    return SellerStatements(seller, statements, activity)


def _active(activity: MarketplaceActivity, month: Month, trailing_months: int) -> bool:
    window = {month.plus(-n) for n in range(trailing_months + 1)}
    return any(m in window for m in activity.by_month())


CSV_COLUMNS = ("seller_id", "marketplace", "month", "final", "currency", "fee_table",
               "units_shipped", "units_in_trial", "units_charged", "contacts",
               "cpu_basis_months", "cpu_basis_units", "cpu_basis_contacts", "cpu", "tier",
               "fee_per_unit", "subtotal", "discounts", "total", "notes", "valid_tracking_rate",
               "vtr_band", "vtr_cpu_band", "share_charged")


def _text(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def statements_csv(statements: Sequence[Statement]) -> str:
    """One row per statement; discounts as ``rule amount (reason)``, joined by ``; ``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for s in statements:
        b = s.cpu_basis
        writer.writerow([
            s.seller_id, s.marketplace, s.month, str(s.final).lower(), s.currency, s.fee_table,
            s.units_shipped, s.units_in_trial, s.units_charged, s.contacts,
            f"{b.from_month}..{b.to_month}", b.units, b.contacts,
            "" if b.cpu is None else str(b.cpu), s.tier, s.fee_per_unit, s.subtotal,
            "; ".join(f"{d.rule} {d.amount} ({d.reason})" for d in s.discounts), s.total,
            " ".join(s.notes), _text(s.valid_tracking_rate), s.vtr_band or "",
            s.vtr_cpu_band or "", _text(s.share_charged)])
    return buffer.getvalue()
