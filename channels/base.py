"""What every channel adapter is: a name, a constructor from settings, a router, a sender.

An adapter turns its wire format into ``InboundMessage`` (with the provider's own message id)
and the agent's ``Reply`` back into its wire format. It never decides anything itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, Self

from fastapi import APIRouter

from agent.messages import MessageHandler
from agent.models import OutboxRow
from base.settings import Settings

# Re-exported: the channel adapters name the handler type from here, beside the adapter.
__all__ = ["ChannelAdapter", "Delivery", "MessageHandler"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One queued message as a channel delivers it: a plain value. The outbox keeps the row
    and its bookkeeping (attempts, back-off, sent); a channel neither sees nor changes them."""

    id: int  # the outbox row's, for logs
    channel: str
    recipient: str
    body: str
    subject: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, row: OutboxRow) -> Delivery:
        return cls(row.id, row.channel, row.recipient, row.body, row.subject,
                   MappingProxyType(dict(row.meta or {})))


class ChannelAdapter(Protocol):
    name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Self: ...

    def router(self, handle: MessageHandler) -> APIRouter:
        """The HTTP routes that receive this channel's messages."""
        ...

    def send(self, row: Delivery) -> None:
        """Deliver a queued message (a later reply) on this channel; raise to retry."""
        ...
