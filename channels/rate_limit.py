"""Per-sender rate limiting in front of the agent.

A sender over the limit gets a short, polite reply in the channel's own format and the agent
is not called: never an HTTP 429, which would make Twilio switch to its fallback URL. Counts
live in Redis when ``CSBA_REDIS_URL`` is set, so every worker and every host shares one
budget per sender; without it (or while Redis cannot be reached) they are per server
process (``limits``' in-memory moving window). Redeliveries of a message already stored do
not count, so a provider's retries never trip the limit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
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


def limit_storage(url: str | None) -> Storage:
    """Where limit counts live: the Redis server at ``url`` (``redis://host:port/db``),
    shared by every process that names it, else this process's memory."""
    if not url:
        return MemoryStorage()
    # Wrapped, the client's connection errors arrive as limits' StorageError.
    storage = storage_from_string(url, wrap_exceptions=True)
    if not isinstance(storage, Storage):
        raise ValueError(f"CSBA_REDIS_URL must name a synchronous storage, got {url!r}")
    return storage


class SharedWindows:
    """``limits``' moving windows over a shared storage, falling back to this process's
    memory while the shared one cannot be reached: a limit that refused every customer
    because its counter is down would be worse than one counted per process for a while."""

    def __init__(self, storage: Storage | None, namespace: str) -> None:
        self.namespace = namespace
        self.shared = MovingWindowRateLimiter(storage) if storage is not None else None
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.warned = False

    def _call(self, method: str, item: RateLimitItem, key: str) -> object:
        if self.shared is not None:
            try:
                return getattr(self.shared, method)(item, self.namespace, key)
            except StorageError as exc:
                if not self.warned:
                    log.warning("rate limit: shared storage unreachable (%s); counting in "
                                "this process until it is back", type(exc.storage_error).__name__)
                    self.warned = True
        return getattr(self.local, method)(item, self.namespace, key)

    def test(self, item: RateLimitItem, key: str) -> bool:
        return bool(self._call("test", item, key))

    def hit(self, item: RateLimitItem, key: str) -> bool:
        return bool(self._call("hit", item, key))

    def reset_time(self, item: RateLimitItem, key: str) -> float:
        stats = self._call("get_window_stats", item, key)
        return float(stats.reset_time)  # type: ignore[attr-defined]


class SenderRateLimiter:
    def __init__(self, limits: str, storage: Storage | None = None,
                 namespace: str = "sender") -> None:
        """``storage``: where the counts live (``limit_storage``), this process's memory by
        default; ``namespace`` keeps limiters that share a storage apart."""
        self.items = parse_limits(limits, "rate limit", "20/minute;300/day")
        self.limiter = SharedWindows(storage, namespace)

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
            reset = max(self.limiter.reset_time(item, key) for item, key in blocked)
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
