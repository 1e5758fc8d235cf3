"""The Case Log's rules (``knowledge/case_rules.json``): when an overdue shipment becomes a case,
when a case is due and what the service does if the seller has not answered by then, per case
category. This module validates and serves the rules; it holds no deadline and no outcome itself.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OnExpiry = Literal[
    "seller_could_not_confirm",  # product questions: no answer, the option to return
    "carry_out_return_decision",  # return and item-problem cases: the refund the customer was told
    "refund_undelivered_lines",  # shipment overdue or lost: undelivered lines and their shipping
    "refund_lines_not_received",  # shown as delivered, not received: every line and its shipping
    "tell_cancellation_not_confirmed",  # cancellation: no refund, a delivered parcel goes back free
    "tell_options",  # a person, "not understood": a return or a new question, never a refund
]
SILENT = "decided where silent"


class ExpiryRule(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=r"^case\.expired\.[a-z_.]+$")
    category: str = Field(min_length=1)
    case_reason: str | None = None
    due: timedelta
    on_expiry: OnExpiry
    source: str = Field(min_length=1)  # a URL, or SILENT with the reason in ``note``
    note: str | None = None

    @model_validator(mode="after")
    def _sound(self) -> ExpiryRule:
        if self.due <= timedelta(0):
            raise ValueError(f"{self.id}: due must be positive, got {self.due}")
        if self.source != SILENT and not self.source.startswith("https://"):
            raise ValueError(f"{self.id}: source must be a URL or {SILENT!r}")
        if self.source == SILENT and not self.note:
            raise ValueError(f"{self.id}: a rule decided where silent says why in its note")
        return self

    @property
    def refunds(self) -> bool:
        return self.on_expiry in ("carry_out_return_decision", "refund_undelivered_lines",
                                  "refund_lines_not_received")


class OverdueRule(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    days_after_estimate: int = Field(ge=0)
    source: str = Field(min_length=1)
    note: str | None = None

    @property
    def after(self) -> timedelta:
        return timedelta(days=self.days_after_estimate)


class CaseRules(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    read_on: date
    shipment_overdue: OverdueRule
    expiry: tuple[ExpiryRule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_rule_each(self) -> CaseRules:
        keys = [(r.category, r.case_reason) for r in self.expiry]
        if len(set(keys)) != len(keys):
            raise ValueError("two expiry rules for the same category and case reason")
        if len({r.id for r in self.expiry}) != len(self.expiry):
            raise ValueError("two expiry rules with the same id")
        missing = {r.category for r in self.expiry} - {r.category for r in self.expiry
                                                       if r.case_reason is None}
        if missing:
            raise ValueError(f"no rule without a case reason for: {', '.join(sorted(missing))}")
        return self

    def for_case(self, category: str, case_reason: str | None = None) -> ExpiryRule:
        """The rule of a case of ``category`` opened for ``case_reason`` (else the category's)."""
        general = None
        for rule in self.expiry:
            if rule.category == category:
                if rule.case_reason is not None and rule.case_reason == case_reason:
                    return rule
                if rule.case_reason is None:
                    general = rule
        if general is None:
            raise ValueError(f"no expiry rule for case category {category!r}")
        return general

    def by_id(self, rule_id: str) -> ExpiryRule | None:
        return next((r for r in self.expiry if r.id == rule_id), None)


@cache
def load_case_rules() -> CaseRules:
    resource = resources.files("knowledge").joinpath("case_rules.json")
    return CaseRules.model_validate(json.loads(resource.read_text("utf-8")))
