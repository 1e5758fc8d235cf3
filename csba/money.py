"""Money and marketplaces: the value types every contract shares."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Marketplace = Literal["DE", "ES", "FR", "IT", "UK", "US", "JP"]
MARKETPLACES: tuple[Marketplace, ...] = ("DE", "ES", "FR", "IT", "UK", "US", "JP")

# The language a marketplace's pages and customers use by default.
MARKETPLACE_LANGUAGE: dict[str, str] = {
    "DE": "de", "ES": "es", "FR": "fr", "IT": "it", "UK": "en", "US": "en", "JP": "ja",
}


class Money(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    amount: float = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
