"""Per-sender rate limiting in front of the agent.

A sender over the limit gets a short, polite reply in the channel's own format and the agent
is not called: never an HTTP 429, which would make Twilio switch to its fallback URL. Counts
live in Redis when ``CSBA_REDIS_URL`` is set, so every worker and every host shares one
budget per sender; without it (or while Redis cannot be reached) they are per server
process (``limits``' in-memory moving window). Redeliveries of a message already stored do
not count, so a provider's retries never trip the limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

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
T = TypeVar("T")


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


# A Redis that stops answering must not hold a request for long: it answers within
# milliseconds when it is up. Options in CSBA_REDIS_URL's query string take precedence.
REDIS_TIMEOUTS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
# While the shared storage is down each limiter counts in its own memory and asks Redis again
# only this often, so an outage costs one failed connection per limiter per interval rather
# than one per request.
RETRY_SHARED_SECONDS = 5.0


def limit_storage(url: str | None) -> Storage:
    """Where limit counts live: the Redis server at ``url`` (``redis://host:port/db``),
    shared by every process that names it, else this process's memory. Nothing connects
    yet: a Redis that is down at start-up does not stop the service from starting."""
    if not url:
        return MemoryStorage()
    # Wrapped, the client's connection errors arrive as limits' StorageError.
    storage = storage_from_string(url, wrap_exceptions=True, **REDIS_TIMEOUTS)
    if not isinstance(storage, Storage):
        raise ValueError(f"CSBA_REDIS_URL must name a synchronous storage, got {url!r}")
    return storage


class SharedWindows:
    """``limits``' moving windows over a shared storage, falling back to this process's
    memory while the shared one cannot be reached.

    Failing open, on purpose: a limiter that refused every message while Redis is down (fail
    closed) would lock every customer out over an outage of a counter, and one that raised
    would turn it into errors on every channel. Counting per process for a while only loosens
    the limit to what it was before Redis (N workers allow N times the budget); the outage is
    logged once, and its end once, per limiter. Counts made in memory during the outage are
    not carried over when Redis answers again.

    Keys reach the storage hashed (SHA-256): they hold contact addresses and client IPs, which
    have no business in Redis's key listing (``KEYS``, ``MONITOR``, a snapshot). The hash is
    unkeyed, so it hides them from a reader, not from one who hashes every phone number.
    """

    def __init__(self, storage: Storage | None, namespace: str) -> None:
        self.namespace = namespace
        self.shared = MovingWindowRateLimiter(storage) if storage is not None else None
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.down_since: float | None = None  # monotonic time of the failure that started it
        self.retry_at = 0.0

    def _on(self, call: Callable[[MovingWindowRateLimiter], T]) -> T:
        if self.shared is not None and time.monotonic() >= self.retry_at:
            try:
                result = call(self.shared)
            except StorageError as exc:
                self._lost(exc)
            else:
                self._back()
                return result
        return call(self.local)

    def _lost(self, exc: StorageError) -> None:
        self.retry_at = time.monotonic() + RETRY_SHARED_SECONDS
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("rate limit %s: shared storage unreachable (%s); counting in this "
                        "process until it is back", self.namespace,
                        type(exc.storage_error).__name__)

    def _back(self) -> None:
        if self.down_since is not None:
            log.warning("rate limit %s: shared storage reachable again after %.0f s",
                        self.namespace, time.monotonic() - self.down_since)
            self.down_since = None

    def _key(self, key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def test(self, item: RateLimitItem, key: str) -> bool:
        hashed = self._key(key)
        return self._on(lambda limiter: limiter.test(item, self.namespace, hashed))

    def hit(self, item: RateLimitItem, key: str) -> bool:
        hashed = self._key(key)
        return self._on(lambda limiter: limiter.hit(item, self.namespace, hashed))

    def reset_time(self, item: RateLimitItem, key: str) -> float:
        hashed = self._key(key)
        stats = self._on(lambda limiter: limiter.get_window_stats(item, self.namespace, hashed))
        return float(stats.reset_time)


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
        # Workers sharing Redis may both pass the test; each hit is atomic there (it counts
        # only under the limit), so the later of the two is refused by its hit.
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
        # Not re-checked after the test: a burst split over N workers sharing Redis can
        # let up to N - 1 requests past the limit; each of them is still counted.
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
