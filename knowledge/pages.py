"""The product detail page contract (catalog.jsonl) and the named fields a citation points at.

Only what a page says may ever be quoted to a customer, so a page is split into named fields
(``title``, ``bullet_points[2]``, ``description[1]``, ``attributes.item_weight``) that chunks and
citations refer to.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from base.money import Marketplace, Money

ASIN_PATTERN = r"^[A-Z0-9]{10}$"
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class ProductPage(BaseModel):
    # Unknown fields are kept (other programs extend the contract), never rejected.
    model_config = ConfigDict(extra="allow")

    asin: str = Field(pattern=ASIN_PATTERN)
    marketplace: Marketplace
    language: str = Field(pattern=r"^[a-z]{2}$")
    seller_id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    brand: str | None = None
    category: str = "other"
    bullet_points: list[str] = Field(default_factory=list)
    description: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    price: Money
    customizable: bool = False
    hazmat: bool = False
    return_category: str = "standard"

    @field_validator("attributes", mode="before")
    @classmethod
    def _scalar_attributes_as_text(cls, value: Any) -> Any:
        # Pages often carry numbers ("wattage": 65); they are quoted as text all the same.
        if isinstance(value, dict):
            return {
                k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for k, v in value.items()
            }
        return value

    @property
    def key(self) -> tuple[str, str]:
        return (self.asin, self.marketplace)

    def description_paragraphs(self) -> list[str]:
        return [p.strip() for p in _PARAGRAPH_BREAK.split(self.description) if p.strip()]

    def fields(self) -> list[tuple[str, str]]:
        """Every citable field as (name, text), in page order."""
        out: list[tuple[str, str]] = [("title", self.title)]
        if self.brand:
            out.append(("brand", self.brand))
        out += [(f"bullet_points[{i}]", b) for i, b in enumerate(self.bullet_points) if b.strip()]
        out += [(f"description[{i}]", p) for i, p in enumerate(self.description_paragraphs())]
        out += [(f"attributes.{k}", v) for k, v in self.attributes.items() if v.strip()]
        # Answers the seller gave to earlier questions and agreed to publish (an extension).
        extra = (self.model_extra or {}).get("seller_answers") or []
        out += [(f"seller_answers[{i}]", a) for i, a in enumerate(extra)
                if isinstance(a, str) and a.strip()]
        return out

    def field_text(self, name: str) -> str | None:
        return dict(self.fields()).get(name)

    def content_hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
