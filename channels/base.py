"""What every channel adapter is: a name, a constructor from settings, a router, a sender.

An adapter turns its wire format into ``InboundMessage`` (with the provider's own message id)
and the agent's ``Reply`` back into its wire format. It never decides anything itself.
"""

from __future__ import annotations

from typing import Protocol, Self

from fastapi import APIRouter

from agent.db import OutboxRow
from agent.messages import MessageHandler
from base.settings import Settings

# Re-exported: the channel adapters name the handler type from here, beside the adapter.
__all__ = ["ChannelAdapter", "MessageHandler"]


class ChannelAdapter(Protocol):
    name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Self: ...

    def router(self, handle: MessageHandler) -> APIRouter:
        """The HTTP routes that receive this channel's messages."""
        ...

    def send(self, row: OutboxRow) -> None:
        """Deliver a queued message (a later reply) on this channel; raise to retry."""
        ...
