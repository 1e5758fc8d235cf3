"""One turn per message, however often and however concurrently it is delivered.

Providers redeliver (Twilio retries, an MTA after a timeout, a chat client after a reconnect),
sometimes while the first delivery is still being answered. The first delivery claims the
stored message; the others wait a little for its reply, then ask the provider to come again.
Claims use the wall clock, not the message's time: a lease is about processes, not customers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from agent.db import Store
from agent.models import MessageRow, TurnClaimRow

# Longer than any turn (a webhook must answer within 15 s); a claim this old is a dead process.
CLAIM_LEASE = timedelta(seconds=60)
WAIT_FOR_REPLY_SECONDS = 8.0
_POLL_SECONDS = 0.05


class MessageInFlight(RuntimeError):
    """Another delivery of this message is being answered; the provider should retry."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


def claim(store: Store, message_id: int, *, clock: Callable[[], datetime] = wall_clock
          ) -> bool:
    """True when this caller may run the turn of ``message_id``."""
    now = clock()
    try:
        with store.sessions.begin() as session:
            session.add(TurnClaimRow(message_id=message_id, claimed_at=now))
        return True
    except IntegrityError:
        pass
    with store.sessions.begin() as session:  # taken: only a stale claim may be taken over
        taken = session.execute(
            update(TurnClaimRow)
            .where(TurnClaimRow.message_id == message_id,
                   TurnClaimRow.claimed_at < now - CLAIM_LEASE)
            .values(claimed_at=now))
        return bool(getattr(taken, "rowcount", 0) == 1)


def release(store: Store, message_id: int) -> None:
    with store.sessions.begin() as session:
        session.execute(delete(TurnClaimRow).where(TurnClaimRow.message_id == message_id))


def wait_or_claim(store: Store, message_id: int, timeout: float | None = None
                  ) -> dict[str, Any] | bool:
    """Wait for the reply of the delivery that holds the claim; take the claim over when that
    delivery gives up (its turn failed). The reply, True once claimed, False after ``timeout``
    seconds (``WAIT_FOR_REPLY_SECONDS`` by default)."""
    deadline = time.monotonic() + (WAIT_FOR_REPLY_SECONDS if timeout is None else timeout)
    while True:
        with store.reads() as session:
            row = session.get(MessageRow, message_id)
            if row is not None and row.reply is not None:
                return row.reply
            held = session.get(TurnClaimRow, message_id) is not None
        if not held and claim(store, message_id):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
