"""The marketplaces' standard returns policies, one data file per marketplace (knowledge/policy/).

Every number of the returns rules lives in those files with its source URL and the date it was
read; this module only validates and serves them. It must not hold any policy number itself.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from base.money import MARKETPLACES, Marketplace, Money

# The data folder sits beside this module inside the `knowledge` package.
_POLICY_FOLDER = "policy"


class _PolicyPart(BaseModel):
    # Unknown fields are kept (an operator may annotate a file), and a loaded policy is shared
    # through the cache, so nobody may change it in place.
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class ReturnWindow(_PolicyPart):
    days: int = Field(ge=1)
    # "from" is a Python keyword, hence the alias.
    from_: Literal["delivery"] = Field(default="delivery", alias="from")
    fallback_from: Literal["estimated_delivery"] | None = None
    source: str = Field(min_length=1)


class HolidayExtension(_PolicyPart):
    id: str = Field(min_length=1)
    purchased_from: date
    purchased_to: date
    return_until: date
    or_days_after_delivery: int | None = Field(default=None, ge=0)
    source: str | None = None
    # What no source says (the year's dates, the day counted from) and the default we chose.
    decided_where_silent: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _sourced_or_decided(self) -> HolidayExtension:
        if not (self.source or "").strip() and not (self.decided_where_silent or "").strip():
            raise ValueError(f"holiday extension {self.id}: give its source, or say in "
                             "decided_where_silent that the dates are our decision")
        return self

    def covers(self, purchase_date: date) -> bool:
        return self.purchased_from <= purchase_date <= self.purchased_to


class CustomizedRule(_PolicyPart):
    returnable_reasons: list[str] = Field(default_factory=list)
    source: str | None = None


class HazmatRule(_PolicyPart):
    prepaid_label: bool = False
    source: str | None = None


class CrossBorderRule(_PolicyPart):
    # None: the marketplace has no public low-value returnless rule (JP).
    low_value_max: Money | None = None
    seller_method_days: int = Field(ge=1)
    source: str = Field(min_length=1)


class WithdrawalRight(_PolicyPart):
    """The legal right of withdrawal (EU): ``days`` from delivery, inside the returns window,
    so a withdrawal is decided as a return."""

    days: int = Field(ge=1)
    source: str = Field(min_length=1)


class MarketplacePolicy(_PolicyPart):
    marketplace: Marketplace
    # ISO country of the marketplace ("GB" for UK); sellers' countries are compared with it.
    country: str = Field(pattern=r"^[A-Z]{2}$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    # Digits after the decimal point of the currency (JPY has none).
    money_decimals: int = Field(default=2, ge=0, le=3)
    read_on: date
    # The marketplace's own web site(s), subdomains included: the only links of a page or a
    # seller's answer that are quoted to a customer (agent/contact_filter.py).
    own_domains: list[str] = Field(default_factory=list)
    window: ReturnWindow
    holiday_extensions: list[HolidayExtension] = Field(default_factory=list)
    non_returnable_categories: list[str] = Field(default_factory=list)
    unopened_only_categories: list[str] = Field(default_factory=list)
    buyer_fault_reasons: list[str] = Field(default_factory=list)
    seller_fault_reasons: list[str] = Field(default_factory=list)
    customized: CustomizedRule = Field(default_factory=CustomizedRule)
    hazmat: HazmatRule = Field(default_factory=HazmatRule)
    cross_border: CrossBorderRule
    refund_within_business_days: int = Field(ge=0)
    # None where the marketplace's law has no such right the returns policy covers.
    withdrawal: WithdrawalRight | None = None
    sources: dict[str, str | None] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    def source(self, key: str) -> str | None:
        return self.sources.get(key)


def policy_marketplaces() -> list[str]:
    """The marketplaces that have a policy file."""
    folder = resources.files("knowledge").joinpath(_POLICY_FOLDER)
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir()
                  if p.name.endswith(".json"))


@cache
def load_policy(marketplace: str) -> MarketplacePolicy:
    """The returns policy of one marketplace ("DE", "UK", ...; "GB" means UK), read once."""
    code = marketplace.strip().upper()
    code = "UK" if code == "GB" else code
    # Checked against the known codes before touching the file system: the argument may come
    # from a request, and must never name another file.
    if code not in MARKETPLACES:
        raise ValueError(f"no returns policy for marketplace {marketplace!r}; "
                         f"known marketplaces: {', '.join(MARKETPLACES)}")
    resource = resources.files("knowledge").joinpath(f"{_POLICY_FOLDER}/{code}.json")
    if not resource.is_file():
        raise ValueError(f"no returns policy file for marketplace {code!r}; "
                         f"files exist for: {', '.join(policy_marketplaces())}")
    policy = MarketplacePolicy.model_validate(json.loads(resource.read_text("utf-8")))
    if policy.marketplace != code:
        raise ValueError(f"policy file {code}.json is for marketplace {policy.marketplace!r}")
    return policy


def currency_decimals(currency: str) -> int:
    """Digits after the decimal point of a marketplace currency (JPY none), from the
    marketplaces' policy data."""
    for marketplace in MARKETPLACES:
        policy = load_policy(marketplace)
        if policy.currency == currency:
            return policy.money_decimals
    raise ValueError(f"no marketplace pays in {currency!r}")
