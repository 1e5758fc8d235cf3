"""What a seller is told before enrolling: what the service covers, the fee tables with their
VTR rates, the free trial and how to opt out. Built from the terms data, never hand-copied.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from base.money import MARKETPLACES, Marketplace
from seller.terms import FeeSchedule, FeeTableOwner, fee_schedule, load_terms

# What the service answers and what stays the seller's (domain: scope).
COVERED = (
    "Questions customers ask after ordering, about units you fulfil yourself (MFN), for "
    "orders placed while you are enrolled: order status, returns, refunds, problems with an "
    "item, and questions about the product answered from its detail page.",
    "Phone, chat and email, 24 hours a day, every day, in the marketplace's languages.",
    "The service decides refunds, replacements and returns for covered units by the "
    "marketplace's returns policy, and you are bound by its decisions; when your product "
    "page does not answer, it opens a case for you (24 hours to answer).",
)
NOT_COVERED = (
    "Questions before an order, invoices and product customisation: customers are sent to "
    "you through buyer-seller messaging.",
    "Orders fulfilled by the marketplace (FBA) and Seller Fulfilled Prime orders.",
    "Orders placed before you enrolled or after you opted out.",
)
OPT_OUT = (
    "You can opt out at any time on your account page. Orders placed from the day you opt out "
    "are yours to answer again; orders placed while you were enrolled stay covered. You can "
    "enrol again later; the free trial runs only once, from your first enrolment."
)


def percent(value: Decimal) -> str:
    return f"{(value * 100).normalize():f} %"


class FeeBand(BaseModel):
    model_config = ConfigDict(frozen=True)

    cpu_band: str  # "CPU ≤ 5 %"
    fee_per_unit: Decimal


class VtrBandRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    cpu_band: str
    shares: list[Decimal]  # of the fee charged, one per VTR band (0 free, 1 the full fee)


class FeeTableTerms(BaseModel):
    """One fee table and VTR table, and the marketplaces priced by them."""

    model_config = ConfigDict(frozen=True)

    marketplaces: list[Marketplace]
    table_of: Marketplace
    currency: str
    bands: list[FeeBand]
    unknown_cpu_fee_per_unit: Decimal
    min_units_for_cpu: int
    trailing_months: int
    vtr_bands: list[str]  # "VTR ≥ 95 %", best first
    vtr_rows: list[VtrBandRow]
    source: str


class EnrolmentTerms(BaseModel):
    model_config = ConfigDict(frozen=True)

    covered: list[str]
    not_covered: list[str]
    fee_tables: list[FeeTableTerms]
    trial_days: int
    trial_ends_on: date | None  # set when the seller's one trial has begun already
    opt_out: str
    read_on: date  # when the terms data was last read from its sources


def _bands(bounds: list[Decimal | None]) -> list[str]:
    labels, lower = [], Decimal(0)
    for bound in bounds:
        labels.append(f"CPU > {percent(lower)}" if bound is None else f"CPU ≤ {percent(bound)}")
        lower = bound if bound is not None else lower
    return labels


def _table_terms(schedule: FeeSchedule, marketplaces: list[Marketplace]) -> FeeTableTerms:
    table, rates = schedule.table, schedule.vtr_rates
    labels = _bands([t.max_cpu for t in table.tiers])
    return FeeTableTerms(
        marketplaces=marketplaces, table_of=schedule.table_of, currency=table.currency,
        bands=[FeeBand(cpu_band=label, fee_per_unit=t.fee_per_unit)
               for label, t in zip(labels, table.tiers, strict=True)],
        unknown_cpu_fee_per_unit=table.unknown_cpu_fee_per_unit,
        min_units_for_cpu=table.min_units_for_cpu, trailing_months=table.trailing_months,
        vtr_bands=[f"VTR ≥ {percent(b.min_vtr)}" for b in rates.vtr_bands] if rates else [],
        vtr_rows=[VtrBandRow(cpu_band=label, shares=list(row.shares)) for label, row in zip(
            _bands([r.max_cpu for r in rates.cpu_bands]), rates.cpu_bands, strict=True)]
        if rates else [],
        source=table.source)


def enrolment_terms(*, uk_table: FeeTableOwner = "DE",
                    trial_ends_on: date | None = None) -> EnrolmentTerms:
    """The terms every marketplace offers, marketplaces that share a fee table and VTR table
    shown once."""
    groups: list[tuple[FeeSchedule, list[Marketplace]]] = []
    for marketplace in MARKETPLACES:
        schedule = fee_schedule(marketplace, uk_table=uk_table)
        same = next((g for g in groups if g[0].table == schedule.table
                     and g[0].vtr_rates == schedule.vtr_rates), None)
        if same is None:
            groups.append((schedule, [marketplace]))
        else:
            same[1].append(marketplace)
    terms = [load_terms(m) for m in MARKETPLACES]
    return EnrolmentTerms(
        covered=list(COVERED), not_covered=list(NOT_COVERED),
        fee_tables=[_table_terms(schedule, mps) for schedule, mps in groups],
        # The trial runs once, from the first enrolment, whatever the marketplace: the
        # shortest is promised, so no marketplace gives less than the page says.
        trial_days=min(t.trial.days for t in terms), trial_ends_on=trial_ends_on,
        opt_out=OPT_OUT, read_on=max(t.read_on for t in terms))
