"""The order and seller contracts (orders.jsonl, sellers.jsonl) as validated models."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from base.money import Marketplace, Money

ORDER_ID_PATTERN = r"^\d{3}-\d{7}-\d{7}$"
_MONTH = re.compile(r"\d{4}-\d{2}")


class _Record(BaseModel):
    # Unknown fields are kept (other programs extend the contracts), never rejected.
    model_config = ConfigDict(extra="allow")


class OrderItem(_Record):
    asin: str = Field(pattern=r"^[A-Z0-9]{10}$")
    quantity: int = Field(ge=1)
    unit_price: Money
    customized: bool = False


class Tracking(_Record):
    carrier: str
    id: str


class Customer(_Record):
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class Order(_Record):
    order_id: str = Field(pattern=ORDER_ID_PATTERN)
    marketplace: Marketplace
    seller_id: str = Field(min_length=1)
    fulfillment_channel: Literal["MFN", "AFN"]
    seller_fulfilled_prime: bool = False
    status: Literal["pending", "shipped", "delivered", "cancelled"]
    purchase_date: date
    ship_date: date | None = None
    estimated_delivery_date: date | None = None
    delivery_date: date | None = None
    ship_to_country: str = Field(pattern=r"^[A-Z]{2}$")
    items: list[OrderItem] = Field(min_length=1)
    shipping_paid: Money | None = None
    tracking: Tracking | None = None
    customer: Customer = Field(default_factory=Customer)
    # The buyer filed a marketplace guarantee (A-to-z) claim on the order: no SAFE-T claim then.
    guarantee_claim: bool = False

    @model_validator(mode="after")
    def _delivered_has_a_date(self) -> Order:
        if self.status == "delivered" and self.delivery_date is None \
                and self.estimated_delivery_date is None:
            raise ValueError("a delivered order needs delivery_date or estimated_delivery_date")
        return self


class Address(_Record):
    name: str | None = None
    street: str
    postal_code: str
    city: str
    country: str = Field(pattern=r"^[A-Z]{2}$")


class SellerReturns(_Record):
    prepaid_label: bool = False
    returnless_refund_max: Money | None = None


class Enrolment(_Record):
    status: Literal["active", "opted_out"]
    enrolled_on: date
    opted_out_on: date | None = None
    valid_tracking_rate: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _opt_out_has_a_date(self) -> Enrolment:
        if self.status == "opted_out" and self.opted_out_on is None:
            raise ValueError("csba.opted_out_on is required when csba.status is 'opted_out'")
        return self

    @model_validator(mode="after")
    def _rate_history_is_by_month(self) -> Enrolment:
        # An optional extension: {"YYYY-MM": rate} of earlier months, so a month is billed at
        # its own rate. Checked here so a bad line is refused before anything is written.
        history = (self.model_extra or {}).get("valid_tracking_rates")
        if history is None:
            return self
        if not isinstance(history, dict):
            raise ValueError("csba.valid_tracking_rates maps YYYY-MM to a rate")
        for month, rate in history.items():
            if not _MONTH.fullmatch(str(month)) or not 1 <= int(str(month)[5:]) <= 12:
                raise ValueError(f"csba.valid_tracking_rates: a month is YYYY-MM, got {month!r}")
            if isinstance(rate, bool) or not isinstance(rate, int | float | str):
                raise ValueError(f"csba.valid_tracking_rates[{month}] must be a number")
            try:
                value = float(rate)
            except ValueError:
                raise ValueError(f"csba.valid_tracking_rates[{month}] must be a number") from None
            if not 0 <= value <= 1:
                raise ValueError(f"csba.valid_tracking_rates[{month}] must be within 0..1")
        return self

    def covers(self, purchase_date: date) -> bool:
        """An order is covered when it was placed while the seller was enrolled."""
        if purchase_date < self.enrolled_on:
            return False
        return self.opted_out_on is None or purchase_date < self.opted_out_on


class Seller(_Record):
    seller_id: str = Field(min_length=1)
    name: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    # The seller's registered phone number (an extension of sellers.jsonl): with ``email``,
    # the only contact detail of a page or an answer quoted to customers.
    phone: str | None = None
    languages: list[str] = Field(default_factory=list)
    # A string address is accepted as well as a structured one; None means "no address there".
    return_addresses: dict[str, Address | str | None] = Field(default_factory=dict)
    returns: SellerReturns = Field(default_factory=SellerReturns)
    csba: Enrolment

    def return_address(self, country: str) -> Address | str | None:
        return self.return_addresses.get(country)
