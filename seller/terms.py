"""The service's terms per marketplace (``seller/data/<MP>.json``): fee table, free trial,
valid-tracking-rate table and claim windows, each with its source and the date it was read.

A change of terms is a data change. This module validates and serves the files; it must not
hold any fee, percentage or number of days itself.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from base.money import MARKETPLACES, Marketplace

# Its home is the policy data; kept importable from here for the fee and claim code.
from knowledge.policy import currency_decimals as currency_decimals

DATA_DIR = Path(__file__).resolve().parent / "data"
FeeTableOwner = Literal["DE", "US", "JP"]


class _Terms(BaseModel):
    # Files may carry notes beside the numbers; a loaded file is shared, so it is frozen.
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class TierRow(_Terms):
    max_cpu: Decimal | None = Field(ge=0)  # None: the open top band
    fee_per_unit: Decimal = Field(ge=0)


class FeeTable(_Terms):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    money_decimals: int = Field(ge=0, le=3)
    source: str = Field(min_length=1)
    tiers: tuple[TierRow, ...] = Field(min_length=1)
    unknown_cpu_fee_per_unit: Decimal = Field(ge=0)
    min_units_for_cpu: int = Field(ge=1)
    trailing_months: int = Field(ge=1, le=12)

    @model_validator(mode="after")
    def _bands_rise_to_an_open_top(self) -> FeeTable:
        bounds = [t.max_cpu for t in self.tiers]
        if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
            raise ValueError("only the last tier is open (max_cpu null)")
        closed = [b for b in bounds if b is not None]
        if closed != sorted(set(closed)):
            raise ValueError("tier bounds must rise")
        return self


class BorrowedFeeTable(_Terms):
    """A marketplace without a public table names whose table it uses."""

    table_of: Literal["DE", "US", "JP", "operator"]
    note: str = Field(min_length=1)


class Trial(_Terms):
    days: int = Field(ge=0)
    source: str | None = None
    note: str | None = None


class VtrBand(_Terms):
    min_vtr: Decimal = Field(ge=0, le=1)  # the band holds rates at or above this


class VtrCpuRow(_Terms):
    """One contacts-per-unit band of the VTR table: the share of the fee charged in each VTR
    band, in the order of ``VtrRates.vtr_bands``."""

    max_cpu: Decimal | None = Field(ge=0)  # None: the open top band
    shares: tuple[Decimal, ...] = Field(min_length=1)


class VtrRates(_Terms):
    """Free or discounted rates for a good valid tracking rate: contacts-per-unit band x VTR
    band -> the share of the fee charged (0 free, 1 the full fee).

    Below the lowest VTR band, or without a rate for the billed month, the full fee applies.
    ``source`` is the page that promises the rates; what it leaves open is written in
    ``decided_where_silent``.
    """

    source: str = Field(min_length=1)
    source_says: str = Field(min_length=1)
    decided_where_silent: str = Field(min_length=1)
    vtr_bands: tuple[VtrBand, ...] = Field(min_length=1)  # best (highest) first
    cpu_bands: tuple[VtrCpuRow, ...] = Field(min_length=1)  # lowest CPU first

    @model_validator(mode="after")
    def _a_better_seller_never_pays_more(self) -> VtrRates:
        floors = [b.min_vtr for b in self.vtr_bands]
        if floors != sorted(set(floors), reverse=True):
            raise ValueError("VTR bands must fall strictly, best first")
        bounds = [r.max_cpu for r in self.cpu_bands]
        if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
            raise ValueError("only the last CPU band is open (max_cpu null)")
        closed = [b for b in bounds if b is not None]
        if closed != sorted(set(closed)):
            raise ValueError("CPU band bounds must rise")
        for row in self.cpu_bands:
            if len(row.shares) != len(floors):
                raise ValueError(f"every CPU band needs {len(floors)} shares, one per VTR band")
            if any(not 0 <= share <= 1 for share in row.shares):
                raise ValueError("a share of the fee is within 0..1")
            if list(row.shares) != sorted(row.shares):
                raise ValueError("a lower VTR band never charges a smaller share")
        for upper, lower in zip(self.cpu_bands, self.cpu_bands[1:], strict=False):
            if any(a > b for a, b in zip(upper.shares, lower.shares, strict=True)):
                raise ValueError("a higher CPU band never charges a smaller share")
        if self.cpu_bands[0].shares[0] != 0:
            raise ValueError("the best cell (lowest CPU, highest VTR) is free: share 0")
        return self


class ClaimWindow(_Terms):
    from_: date | None = Field(default=None, alias="from")  # applies from this day on
    days: int = Field(ge=1)
    note: str | None = None


class ClaimTerms(_Terms):
    windows: tuple[ClaimWindow, ...] = Field(min_length=1)
    eligible_reasons: tuple[str, ...] = Field(min_length=1)

    def window_days(self, start: date) -> int:
        """Days to claim when the window starts on ``start``: the latest rule in force then."""
        in_force = [w for w in self.windows if w.from_ is None or w.from_ <= start]
        if not in_force:
            raise ValueError(f"no claim window is in force on {start}")
        return max(in_force, key=lambda w: w.from_ or date.min).days


class MarketplaceTerms(_Terms):
    marketplace: Marketplace
    read_on: date
    fees: FeeTable | BorrowedFeeTable
    trial: Trial
    vtr_rates: VtrRates | None = None
    claims: ClaimTerms


class FeeSchedule(BaseModel):
    """What a marketplace's statement is priced by, with the borrowed table resolved."""

    model_config = ConfigDict(frozen=True)

    marketplace: Marketplace
    table_of: Marketplace
    table: FeeTable
    trial_days: int
    vtr_rates: VtrRates | None  # the marketplace's own, also under a borrowed fee table
    notes: tuple[str, ...] = ()


@cache
def load_terms(marketplace: str) -> MarketplaceTerms:
    if marketplace not in MARKETPLACES:
        raise ValueError(f"unknown marketplace {marketplace!r}")
    path = DATA_DIR / f"{marketplace}.json"
    return MarketplaceTerms.model_validate(json.loads(path.read_text(encoding="utf-8")))


def fee_schedule(marketplace: str, *, uk_table: FeeTableOwner = "DE") -> FeeSchedule:
    """The fee schedule of a marketplace; ``uk_table`` is the operator's choice for UK."""
    terms = load_terms(marketplace)
    notes: list[str] = []
    owner: Marketplace = terms.marketplace
    fees = terms.fees
    if isinstance(fees, BorrowedFeeTable):
        owner = uk_table if fees.table_of == "operator" else fees.table_of
        notes.append(fees.note if fees.table_of != "operator" or uk_table == "DE" else
                     f"No public fee table for UK: the operator set the {owner} table.")
        borrowed = load_terms(owner).fees
        if not isinstance(borrowed, FeeTable):
            raise ValueError(f"{owner}'s terms borrow a fee table themselves")
        fees = borrowed
    return FeeSchedule(marketplace=terms.marketplace, table_of=owner, table=fees,
                       trial_days=terms.trial.days, vtr_rates=terms.vtr_rates,
                       notes=tuple(notes))

