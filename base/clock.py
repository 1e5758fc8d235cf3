"""The service's clock: what "now" and "today" are for every decision it makes.

Return windows, overdue shipments, case expiry and WhatsApp's 24-hour window are all about the
customer's calendar, so every part reads one clock. In production it is the wall clock; a
deployment that replays data, a demo, or a test sets ``CSBA_CLOCK_START`` and the service's clock
starts at that instant and then runs at the wall clock's pace (timeouts, leases and expiry still
see time pass). Leases between processes (``agent/inflight.py``) stay on the wall clock: they are
about processes, not customers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class StartedClock:
    """A clock that reads ``start`` when made and advances with the monotonic clock after."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock start needs a time zone (e.g. 2026-11-25T10:00:00Z)")
        self.start = start.astimezone(UTC)
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._origin)

    def __repr__(self) -> str:
        return f"StartedClock({self.start.isoformat()})"


def clock_from(start: datetime | None) -> Clock:
    """The wall clock, or one started at ``start``."""
    return wall_clock if start is None else StartedClock(start)


def start_of_day(day: date) -> datetime:
    """The clock start that makes ``day`` today for as long as possible: its first instant in
    UTC, the zone the service's "today" is read in (``csba serve --today``)."""
    return datetime.combine(day, time_of_day(0), UTC)


def today(clock: Clock) -> date:
    return clock().date()


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
