"""Per-sender rate limiting in front of the agent.

A sender over the limit gets a short, polite reply in the channel's own format and the agent
is not called: never an HTTP 429, which would make Twilio switch to its fallback URL. Counts
are per server process (``limits``' in-memory moving window); redeliveries of a message
already stored do not count, so a provider's retries never trip the limit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from agent.db import Store
from agent.messages import InboundMessage, Reply
from agent.replies import render
from agent.understanding import detect_language
from base.money import MARKETPLACE_LANGUAGE
from channels.base import MessageHandler

log = logging.getLogger(__name__)


def parse_limits(spec: str, what: str, example: str) -> list[RateLimitItem]:
    """``limits``' notation (``'20/minute;300/day'``) read, or a ``ValueError`` naming
    ``what`` with an ``example`` of the notation."""
    try:
        items: list[RateLimitItem] = parse_many(spec)
    except ValueError as exc:
        raise ValueError(f"{what} must look like '{example}', got {spec!r}") from exc
    if not items:
        raise ValueError(f"{what} must name at least one limit, got none")
    return items


class SenderRateLimiter:
    def __init__(self, limits: str) -> None:
        self.items = parse_limits(limits, "rate limit", "20/minute;300/day")
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, msg: InboundMessage) -> bool:
        """Count one new message; False when any of the limits is exceeded. A message counts
        against its proven contact, or, unproven, against the address it gives in a budget of
        its own: mail forged with a customer's address cannot use up that customer's own."""
        sender = msg.verified_contact or f"unproven:{msg.sender}"
        key = f"{msg.channel}:{sender.lower()}"
        # Test all first so a message refused by the daily limit does not eat the minute's.
        if not all(self.limiter.test(item, key) for item in self.items):
            return False
        hits = [self.limiter.hit(item, key) for item in self.items]  # count in every window
        return all(hits)

    def wait(self, keys: Sequence[str]) -> int:
        """Count one request against every key (a client's IP, an identity) when all are
        under every limit and return 0; else count nothing and return the seconds until
        the fullest window has room again."""
        blocked = [(item, key) for key in keys for item in self.items
                   if not self.limiter.test(item, key)]
        if blocked:
            reset = max(self.limiter.get_window_stats(item, key).reset_time
                        for item, key in blocked)
            return max(1, math.ceil(reset - time.time()))
        for key in keys:
            for item in self.items:
                self.limiter.hit(item, key)
        return 0


def rate_limited(handle: MessageHandler, limiter: SenderRateLimiter, store: Store,
                 on_refused: MessageHandler | None = None) -> MessageHandler:
    """``handle`` behind the limiter; over the limit, ``polite_refusal`` answers instead."""

    def limited(msg: InboundMessage) -> Reply:
        if store.has_message(msg.channel, msg.provider_message_id) or \
                limiter.allow(msg):
            return handle(msg)
        log.warning("rate limit: %s message %s not answered by the agent", msg.channel,
                    msg.provider_message_id)
        return (on_refused or polite_refusal)(msg)

    return limited


def polite_refusal(msg: InboundMessage) -> Reply:
    language = detect_language(msg.text, MARKETPLACE_LANGUAGE.get(msg.marketplace or "", "en"))
    return Reply(conversation_id=msg.thread_key, text=render("rate_limited", language),
                 language=language, outcome="needs_info", intent="rate_limited")
