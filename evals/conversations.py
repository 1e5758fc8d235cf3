"""The conversation eval's contract: one whole conversation per JSON line, turn by turn.

A conversation names its language, channel, marketplace, clock (``now``), the customer (as a
dev case does, ``{"from_order": true}`` for the order's own customer) and its turns; each turn
is what the customer says (or, on voice, types on the keypad) and what the reply to it must
show. Unknown fields are kept, as in ``evals/dataset.py``; a missing required field or a wrong
type is a ``DataFileError`` naming the file, the line and the field, before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agent.records import Order
from base.jsonl import DataFileError
from base.money import Marketplace
from evals.dataset import Customer, Expect, read_all_unique, read_unique

Language = Literal["de", "es", "en"]
ConversationChannel = Literal["chat", "sms", "whatsapp", "email", "voice"]


class _Open(BaseModel):
    # Extra fields are kept, never rejected: the contract grows by new optional fields.
    model_config = ConfigDict(extra="allow")


class TurnExpect(Expect):
    """What one reply must show: every check of a dev case's ``expect`` (outcome, intent,
    facts, forbidden, case, ...), and the conversation's own."""

    # Whether a seller case of this conversation must be awaiting the seller after the turn.
    case_open: bool | None = None
    # The reply must not say the previous reply again whole (a follow-up answered by a repeat).
    not_repeating: bool = False


class Turn(_Open):
    """One customer turn: a message, or on voice the digits typed on the keypad."""

    message: str | None = Field(default=None, min_length=1)
    digits: str | None = Field(default=None, pattern=r"^[0-9*#]+$")
    expect: TurnExpect = Field(default_factory=TurnExpect)

    @model_validator(mode="after")
    def _one_input(self) -> Turn:
        if (self.message is None) == (self.digits is None):
            raise ValueError("a turn has either message or digits (digits only on voice)")
        return self


class Conversation(_Open):
    id: str = Field(min_length=1)
    language: Language
    channel: ConversationChannel
    marketplace: Marketplace
    now: AwareDatetime
    order_id: str | None = Field(default=None, pattern=r"^\d{3}-\d{7}-\d{7}$")
    customer: Customer = Field(default_factory=Customer)
    # On chat, whether the page the chat was opened from names the order (an order page does;
    # the help page does not). Other channels carry no order: only the words do.
    order_given: bool = False
    # On email, the subject of the first mail (replies carry "Re: " before it).
    subject: str | None = None
    turns: list[Turn] = Field(min_length=1)
    # How many seller cases the whole conversation may open; None: not checked.
    max_cases: int | None = Field(default=None, ge=0)
    tags: list[str] = Field(default_factory=list)

    @field_validator("turns")
    @classmethod
    def _digits_only_on_voice(cls, turns: list[Turn], info: ValidationInfo) -> list[Turn]:
        channel = info.data.get("channel")  # absent when the channel itself was invalid
        if channel not in {None, "voice"} and any(t.digits is not None for t in turns):
            raise ValueError(f"digits are typed on a phone's keypad: channel {channel} has "
                             "none")
        return turns


def read_conversations(path: Path) -> list[Conversation]:
    """Every conversation of ``path``; ``DataFileError`` (file:line: field) on any bad line."""
    return read_unique(path, Conversation, "conversations")


def read_all_conversations(paths: Sequence[Path]) -> list[Conversation]:
    """The conversations of every file in order; an id in two files is an error."""
    return read_all_unique(paths, read_conversations)


def fill_conversation_customers(conversations: Sequence[Conversation], orders: Iterable[Order],
                                *, source: Path = Path("conversations")) -> list[Conversation]:
    """Every ``{"from_order": true}`` customer given its order's email and phone;
    ``DataFileError`` names each conversation whose order is not among ``orders``."""
    by_id = {order.order_id: order for order in orders}
    filled: list[Conversation] = []
    problems: list[str] = []
    for conv in conversations:
        order = by_id.get(conv.order_id or "")
        if conv.order_id is not None and order is None:
            problems.append(f"conversation {conv.id!r}: field 'order_id': {conv.order_id} is "
                            "not in the orders")
            continue
        if not conv.customer.from_order:
            filled.append(conv)
            continue
        if order is None:
            problems.append(f"conversation {conv.id!r}: field 'customer': from_order needs "
                            "an order_id")
            continue
        customer = conv.customer.model_copy(update={"email": order.customer.email,
                                                    "phone": order.customer.phone})
        filled.append(conv.model_copy(update={"customer": customer}))
    if problems:
        raise DataFileError(source, problems)
    return filled
