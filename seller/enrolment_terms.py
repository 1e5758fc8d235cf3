"""What a seller is told before enrolling: what the service covers, the fee tables with their
VTR rates, the free trial and how to opt out. Built from the terms data, never hand-copied.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from base.money import MARKETPLACES, Marketplace
from seller.terms import FeeSchedule, FeeTableOwner, fee_schedule, load_terms

# What the service answers and what stays the seller's (domain: scope), per language: the
# English is the API's, the others the enrolment page's in the seller's language.
TEXTS_FILE = Path(__file__).parent / "data" / "enrolment_texts.json"
TEXTS_FALLBACK = "en"


class ScopeTexts(BaseModel):
    model_config = ConfigDict(frozen=True)

    covered: list[str]
    not_covered: list[str]
    opt_out: str


@cache
def _scope_table() -> dict[str, ScopeTexts]:
    data = json.loads(TEXTS_FILE.read_text("utf-8"))
    return {language: ScopeTexts.model_validate(texts) for language, texts in data.items()
            if not language.startswith("_")}


def scope_texts(language: str = TEXTS_FALLBACK) -> ScopeTexts:
    """What is covered, what is not and how to opt out, in ``language`` (else English)."""
    table = _scope_table()
    return table.get(language, table[TEXTS_FALLBACK])


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
    scope = scope_texts()
    return EnrolmentTerms(
        covered=list(scope.covered), not_covered=list(scope.not_covered),
        fee_tables=[_table_terms(schedule, mps) for schedule, mps in groups],
        # The trial runs once, from the first enrolment, whatever the marketplace: the
        # shortest is promised, so no marketplace gives less than the page says.
        trial_days=min(t.trial.days for t in terms), trial_ends_on=trial_ends_on,
        opt_out=scope.opt_out, read_on=max(t.read_on for t in terms))
