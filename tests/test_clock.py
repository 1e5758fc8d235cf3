"""The service's clock: `CSBA_CLOCK_START` or the wall clock; the demo data moves with it."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.core import Agent
from agent.db import Store, make_engine
from agent.messages import InboundMessage
from base.clock import StartedClock, clock_from, start_of_day, wall_clock
from base.settings import Settings
from channels.email_in import EmailChannel
from channels.messaging import MessagingChannel
from channels.web_chat import WebChatChannel
from knowledge.index import KnowledgeIndex
from seller.ingest import DEMO_DATA_DAY, demo_data
from tests.support.scenarios import LATE_HEADLAMP_US

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
LATE_ORDER = LATE_HEADLAMP_US.order_id  # shipped, estimated for two days before the demo's day


def test_a_started_clock_begins_at_its_start_and_runs_on() -> None:
    clock = StartedClock(START)
    first = clock()
    assert START <= first < START + timedelta(seconds=5)
    time.sleep(0.02)
    assert clock() > first


def test_a_clock_start_needs_a_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSBA_CLOCK_START", "2026-11-25T10:00:00")
    with pytest.raises(ValidationError, match="CSBA_CLOCK_START needs a time zone"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="time zone"):
        StartedClock(datetime(2026, 11, 25))


def test_without_a_start_the_service_runs_on_the_wall_clock(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSBA_CLOCK_START")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.clock is wall_clock and clock_from(None) is wall_clock


def test_a_day_starts_the_clock_at_its_first_instant_in_utc(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # What `--today 2027-03-01` gives the settings: it wins over CSBA_CLOCK_START.
    monkeypatch.setenv("CSBA_CLOCK_START", "2026-11-25T10:00:00+00:00")
    assert start_of_day(date(2027, 3, 1)) == datetime(2027, 3, 1, tzinfo=UTC)
    settings = Settings(clock_start=start_of_day(date(2027, 3, 1)),
                        _env_file=None)  # type: ignore[call-arg]
    assert settings.clock().date() == date(2027, 3, 1)
    assert settings.clock() - datetime(2027, 3, 1, tzinfo=UTC) < timedelta(seconds=5)


def test_every_channel_reads_the_one_clock_of_its_settings(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CSBA_CLOCK_START", "2027-03-01T08:00:00+01:00")
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert settings.clock is settings.clock  # made once
    assert settings.clock().date() == date(2027, 3, 1)
    sms = MessagingChannel.from_settings(settings)
    try:
        for channel in (EmailChannel.from_settings(settings), sms,
                        WebChatChannel.from_settings(settings)):
            assert channel.clock is settings.clock
    finally:
        sms.close()


def test_demo_data_moves_every_date_by_the_days_since_it_was_written() -> None:
    written, later = demo_data(), demo_data(DEMO_DATA_DAY + timedelta(days=365))
    assert [o.order_id for o in written.orders] == [o.order_id for o in later.orders]
    year = timedelta(days=365)
    for before, after in zip(written.orders, later.orders, strict=True):
        assert after.purchase_date == before.purchase_date + year
        for field in ("ship_date", "estimated_delivery_date", "delivery_date"):
            moved = getattr(before, field)
            assert getattr(after, field) == (moved + year if moved else None)
    for before_seller, after_seller in zip(written.sellers, later.sellers, strict=True):
        assert after_seller.csba.enrolled_on == before_seller.csba.enrolled_on + year
    assert written.pages == later.pages


@pytest.mark.slow
def test_the_demo_means_the_same_on_any_day_it_is_loaded(
        tmp_path: Path, demo_index: KnowledgeIndex) -> None:
    # Loaded on its own day and a year later, with the message received that day: the late
    # shipment is late by the same two days, not overdue by a year (a case for the seller).
    replies = []
    for days_later in (0, 365):
        data = demo_data(DEMO_DATA_DAY + timedelta(days=days_later))
        store = Store(make_engine(f"sqlite:///{tmp_path / f'demo-{days_later}.sqlite3'}"))
        store.save(sellers=data.sellers, orders=data.orders, pages=data.pages)
        agent = Agent(store, demo_index, portal_url="http://127.0.0.1:8000/seller")
        order = next(o for o in data.orders if o.order_id == LATE_ORDER)
        replies.append(agent.handle(InboundMessage(
            channel="email", sender=order.customer.email, text=f"Where is my order {LATE_ORDER}?",
            verified_contact=order.customer.email,
            thread_key="t", provider_message_id="m1", order_id=LATE_ORDER,
            received_at=START + timedelta(days=days_later))))
    for reply in replies:
        assert (reply.intent, reply.outcome, reply.case_id) == ("order_status", "answered", None)
        rules = [c.rule for c in reply.citations if c.kind == "policy"]
        assert rules == ["status.investigate_after_3_days"], reply.text
