"""Money and marketplaces: the value types every contract shares, and the one rounding rule.

Every amount the service computes, stores or shows is a ``Decimal`` rounded half up to the
currency's smallest unit (cents, whole yen) by ``round_money``; the fee engine's rounding is
the same rule. Nothing here knows a marketplace's policy (the decimals come from the caller).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

Marketplace = Literal["DE", "ES", "FR", "IT", "UK", "US", "JP"]
MARKETPLACES: tuple[Marketplace, ...] = ("DE", "ES", "FR", "IT", "UK", "US", "JP")

# The language a marketplace's pages and customers use by default.
MARKETPLACE_LANGUAGE: dict[str, str] = {
    "DE": "de", "ES": "es", "FR": "fr", "IT": "it", "UK": "en", "US": "en", "JP": "ja",
}

# The contracts write money as a JSON number (``{"amount": 24.99, ...}``): a Decimal of a
# currency's smallest unit prints as the same digits through a float, so the wire format stays.
Amount = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


def as_decimal(value: Decimal | float | int | str) -> Decimal:
    """An amount as a Decimal; a float through its shortest text, so 24.99 stays 24.99 and
    not its binary neighbour."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def round_money(value: Decimal, decimals: int) -> Decimal:
    """``value`` rounded half up to ``decimals`` places (the currency's smallest unit)."""
    if not 0 <= decimals <= 3:
        raise ValueError(f"decimals must be within 0..3, got {decimals}")
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


class Money(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    amount: Amount = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
