"""The outbox worker: sends queued messages (seller notifications, customer follow-ups).

Rows are written in the same transaction as the state change that causes them; this worker
sends each one after, retries with exponential back-off, and marks it sent once. A row is
claimed (its next attempt pushed out) before sending, so two workers never send it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select

from agent.db import Store
from agent.models import OutboxRow
from channels.base import Delivery

log = logging.getLogger(__name__)

BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=1)
CLAIM_FOR = timedelta(minutes=5)  # a worker that dies mid-send frees its row after this
BATCH = 50


class OutboundSender(Protocol):
    """Delivers one queued message on its channel; raises on failure so its row is retried."""

    def send(self, row: Delivery) -> None: ...


class NoSender(Exception):
    """No sender is configured for a row's channel."""


def backoff(attempts: int) -> timedelta:
    delay: timedelta = BASE_DELAY * (2 ** max(0, attempts - 1))
    return min(delay, MAX_DELAY)


class OutboxWorker:
    def __init__(self, store: Store, senders: Mapping[str, OutboundSender], *,
                 claim_for: timedelta = CLAIM_FOR) -> None:
        if claim_for <= timedelta(0):
            raise ValueError(f"claim_for must be > 0, got {claim_for}")
        self.store = store
        self.senders = dict(senders)
        self.claim_for = claim_for

    def _claim(self, now: datetime) -> list[int]:
        with self.store.sessions.begin() as session:
            rows = list(session.scalars(
                select(OutboxRow).where(OutboxRow.sent_at.is_(None), or_(
                    OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now))
                .order_by(OutboxRow.id).limit(BATCH).with_for_update(skip_locked=True)))
            for row in rows:
                row.next_attempt_at = now + self.claim_for
            return [row.id for row in rows]

    def run_once(self, now: datetime | None = None) -> int:
        """Send what is due; returns how many rows were sent."""
        now = now or datetime.now(UTC)
        sent = 0
        for row_id in self._claim(now):
            with self.store.reads() as session:
                row = session.get_one(OutboxRow, row_id)
                session.expunge(row)
            try:
                sender = self.senders.get(row.channel)
                if sender is None:
                    raise NoSender(f"no sender for channel {row.channel!r}")
                sender.send(Delivery.of(row))
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried
                with self.store.sessions.begin() as session:
                    stored = session.get_one(OutboxRow, row_id)
                    stored.attempts += 1
                    stored.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    stored.next_attempt_at = now + backoff(stored.attempts)
                log.warning("outbox row %s (%s) failed, attempt %d: %s", row_id, row.channel,
                            row.attempts + 1, type(exc).__name__)
                continue
            with self.store.sessions.begin() as session:
                stored = session.get_one(OutboxRow, row_id)
                stored.sent_at, stored.attempts = now, stored.attempts + 1
            sent += 1
            log.info("outbox row %s sent on %s", row_id, row.channel)
        return sent
