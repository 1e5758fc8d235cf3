"""A few turns at a time: no more run at once, and every one is answered."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from agent.messages import InboundMessage, Reply
from channels.concurrency import bounded


def message(n: int) -> InboundMessage:
    return InboundMessage(channel="chat", sender="c@example.com", text=f"turn {n}",
                          verified_contact="c@example.com",
                          thread_key=f"t{n}", received_at=datetime.now(UTC),
                          provider_message_id=f"m{n}")


@pytest.mark.parametrize("turns", [1, 2, 4])
def test_no_more_than_the_bound_run_at_once_and_all_are_answered(turns: int) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def slow(msg: InboundMessage) -> Reply:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return Reply(conversation_id=msg.thread_key, text=msg.text, language="en",
                     outcome="answered", intent="other")

    handle = bounded(slow, turns)
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(handle, [message(n) for n in range(32)]))
    assert [r.text for r in replies] == [f"turn {n}" for n in range(32)]
    assert most == turns


def test_a_failing_turn_gives_its_slot_back() -> None:
    def fails(msg: InboundMessage) -> Reply:
        raise RuntimeError("index unreachable")

    handle = bounded(fails, 1)
    for n in range(3):  # a slot kept by a failure would block the second call for ever
        with pytest.raises(RuntimeError):
            handle(message(n))


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="turns must be > 0"):
        bounded(lambda msg: None, 0)  # type: ignore[arg-type, return-value]
