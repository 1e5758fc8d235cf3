"""The eval dataset contract: one case per JSON line, validated whole before any case runs.

A case names its clock (``now``), its channel and identity, the customer's turns and what the
replies must show. Unknown fields are kept (evaluators extend the format); a missing required
field or a wrong type is a ``DataFileError`` naming the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from agent.messages import Channel, Outcome, Redirect
from agent.records import Order
from base.jsonl import DataFileError, iter_json_lines, read_jsonl
from base.money import Marketplace, Money

ReturnMethod = Literal["prepaid_label", "local_return_address", "seller_return_address",
                       "returnless_refund"]
Payer = Literal["buyer", "seller"]


class _Open(BaseModel):
    # Extra fields are kept, never rejected: the contract grows by new optional fields.
    model_config = ConfigDict(extra="allow")


class Customer(_Open):
    """The channel identity the messages arrive with."""

    email: str | None = None
    phone: str | None = None
    # Extension: the order's own customer, its email and phone filled in from the orders the
    # dataset runs on (``fill_customers``): a case names its order and never copies a contact,
    # which could silently stop matching the order.
    from_order: bool = False


class ExpectedDecision(_Open):
    """The fields of ``return_decision`` a case states; each one is scored on its own."""

    eligible: bool | None = None
    method: ReturnMethod | None = None
    return_shipping_paid_by: Payer | None = None
    refund: Money | None = None


class Expect(_Open):
    """What one reply must show. Every key is optional: a case is scored on what it states."""

    outcome: Outcome | None = None
    language: str | None = None
    intent: str | None = None
    facts: list[str] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)
    # ASINs (product pages), order ids (order records), policy rule ids, or ``ASIN:field``.
    citations: list[str] | None = None
    # Extension: at least one of these references must be cited (any relevant page field).
    citations_any: list[str] | None = None
    return_decision: ExpectedDecision | None = None
    # Extensions: the redirect target, and whether a seller case must (not) be opened.
    redirect: Redirect | None = None
    case: bool | None = None

    @property
    def escalation(self) -> bool | None:
        """Whether a seller case is expected; None when the case does not say."""
        if self.case is not None:
            return self.case
        if self.outcome is not None:
            return self.outcome == "escalated"
        return None


class EvalCase(_Open):
    id: str = Field(min_length=1)
    now: AwareDatetime
    channel: Channel
    marketplace: Marketplace | None = None
    order_id: str | None = Field(default=None, pattern=r"^\d{3}-\d{7}-\d{7}$")
    customer: Customer = Field(default_factory=Customer)
    turns: list[str] = Field(min_length=1)
    expect: Expect | None = None
    expect_per_turn: list[Expect | None] | None = None
    # Extension: labels for the report (the rule or scenario a case exercises).
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _per_turn_matches_turns(self) -> EvalCase:
        if self.expect_per_turn is not None and len(self.expect_per_turn) != len(self.turns):
            raise ValueError(f"expect_per_turn has {len(self.expect_per_turn)} entries for "
                             f"{len(self.turns)} turns")
        return self

    def expectations(self) -> list[tuple[int, Expect]]:
        """(turn index, expectation) for every scored turn."""
        if self.expect_per_turn is not None:
            return [(i, e) for i, e in enumerate(self.expect_per_turn) if e is not None]
        return [(len(self.turns) - 1, self.expect)] if self.expect is not None else []


def fill_customers(cases: Sequence[EvalCase], orders: Iterable[Order], *,
                   source: Path = Path("dataset")) -> list[EvalCase]:
    """The cases with every ``{"from_order": true}`` customer given its order's email and
    phone; ``DataFileError`` names each case whose order is not among ``orders``."""
    by_id = {order.order_id: order for order in orders}
    filled: list[EvalCase] = []
    problems: list[str] = []
    for case in cases:
        if not case.customer.from_order:
            filled.append(case)
            continue
        order = by_id.get(case.order_id or "")
        if order is None:
            problems.append(f"case {case.id!r}: field 'customer': from_order needs the order, "
                            f"and {case.order_id or 'no order_id'} is not in the orders")
            continue
        customer = case.customer.model_copy(update={"email": order.customer.email,
                                                    "phone": order.customer.phone})
        filled.append(case.model_copy(update={"customer": customer}))
    if problems:
        raise DataFileError(source, problems)
    return filled


M = TypeVar("M", bound=BaseModel)


class Identified(Protocol):
    """A record named by its id (a case, a conversation)."""

    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=Identified)


def read_unique(path: Path, model: type[M], noun: str) -> list[M]:
    """Every record of ``path`` as ``model``; ``DataFileError`` (file:line: field) on any bad
    line, on an id used twice (ids name results) and on a file with no ``noun``."""
    records = read_jsonl(path, model)
    seen: dict[str, int] = {}
    problems: list[str] = []
    # Valid lines are objects with a string id (read_jsonl checked them); ids name results.
    for number, raw in iter_json_lines(path):
        key = str(raw["id"]) if isinstance(raw, dict) else ""
        if key in seen:
            problems.append(f"{path}:{number}: field 'id': {key!r} is already used on "
                            f"line {seen[key]}")
        seen.setdefault(key, number)
    if not records:
        problems.append(f"{path}: no {noun}")
    if problems:
        raise DataFileError(path, problems)
    return records


def read_dataset(path: Path) -> list[EvalCase]:
    """Every case of ``path``; raises ``DataFileError`` (file:line: field) on any bad line."""
    return read_unique(path, EvalCase, "cases")


def read_all_unique(paths: Sequence[Path], read: Callable[[Path], list[R]]) -> list[R]:
    """The records ``read`` gives of every file in order; an id used in two files is an
    error, since ids name results."""
    records: list[R] = []
    where: dict[str, Path] = {}
    for path in paths:
        found = read(path)
        clashes = [f"{path}: field 'id': {r.id!r} is already used in {where[r.id]}"
                   for r in found if r.id in where]
        if clashes:
            raise DataFileError(path, clashes)
        where.update((r.id, path) for r in found)
        records += found
    return records


def read_datasets(paths: Sequence[Path]) -> list[EvalCase]:
    """The cases of every file in order; an id used in two files is an error."""
    return read_all_unique(paths, read_dataset)
