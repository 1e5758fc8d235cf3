"""A message stored but never answered (the turn failed, the provider will not retry) is
answered later on the customer's own channel, once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from agent.core import Agent
from agent.db import Store
from agent.messages import Channel, InboundMessage
from agent.models import OutboxRow
from channels.recovery import STRANDED_AFTER, answer_stranded, mark_delivered
from tests.conftest import NOW, Say
from tests.support.scenarios import DELIVERED_HEADLAMP_US

pytestmark = [pytest.mark.slow, pytest.mark.on_every_database]

CLOCK = datetime.fromisoformat(NOW)
ORDER, EMAIL, PHONE = (DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.customer_email,
                      DELIVERED_HEADLAMP_US.phone)
QUESTION = f"Where is my order {ORDER}?"


def fail_once(agent: Agent, say: Say, monkeypatch: pytest.MonkeyPatch, *, channel: Channel,
              sender: str, message_id: str) -> None:
    """A delivery whose turn fails after the message was stored."""
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the knowledge index is unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(agent, "_turn", broken)
        with pytest.raises(RuntimeError):
            say(QUESTION, channel=channel, sender=sender, thread=sender,
                message_id=message_id)


def outbox(store: Store) -> list[OutboxRow]:
    with store.sessions() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def test_a_stranded_text_message_is_answered_by_sms_once(
        agent: Agent, say: Say, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_once(agent, say, monkeypatch, channel="sms", sender=PHONE, message_id="SM-stranded")
    assert answer_stranded(store, agent.handle, CLOCK + timedelta(seconds=30)) == 0  # too soon
    assert outbox(store) == []
    later = CLOCK + STRANDED_AFTER + timedelta(seconds=1)
    assert answer_stranded(store, agent.handle, later) == 1
    # Answered on the proof the number had when it arrived: no code to prove it again.
    [row] = outbox(store)
    assert (row.channel, row.recipient, row.dedupe_key) == ("sms", PHONE, "late-reply:1")
    assert ORDER in row.body and row.meta["kind"] == "customer_follow_up"
    assert answer_stranded(store, agent.handle, later + timedelta(minutes=5)) == 0
    # A late redelivery by the provider gets the same stored reply; nothing new is queued.
    assert say(QUESTION, channel="sms", sender=PHONE, thread=PHONE,
               message_id="SM-stranded").text == row.body
    assert len(outbox(store)) == 1


def test_a_stranded_email_is_answered_in_its_thread_and_a_redelivery_adds_nothing(
        agent: Agent, say: Say, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    mail_id = "<stranded.1@example.com>"
    fail_once(agent, say, monkeypatch, channel="email", sender=EMAIL, message_id=mail_id)
    assert answer_stranded(store, agent.handle, CLOCK + timedelta(minutes=3)) == 1
    [row] = outbox(store)
    assert row.channel == "email" and row.recipient == EMAIL
    assert row.dedupe_key == f"email-reply:{mail_id}"  # the key the email channel uses
    assert row.meta["in_reply_to"] == mail_id


def test_a_message_that_still_fails_stays_for_the_next_round(
        agent: Agent, say: Say, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_once(agent, say, monkeypatch, channel="sms", sender=PHONE, message_id="SM-still")

    def still_broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("still unreachable")

    monkeypatch.setattr(agent, "_turn", still_broken)
    assert answer_stranded(store, agent.handle, CLOCK + timedelta(minutes=3)) == 0
    monkeypatch.undo()
    assert answer_stranded(store, agent.handle, CLOCK + timedelta(minutes=4)) == 1


def test_a_reply_whose_webhook_answer_never_left_is_sent_by_sms_once(
        agent: Agent, store: Store) -> None:
    # The turn committed its reply for the TwiML answer; the process died before answering.
    reply = agent.handle(InboundMessage(
        channel="sms", sender=PHONE, text=QUESTION, thread_key=PHONE, received_at=CLOCK,
        provider_message_id="SM-unsent", reply_in_response=True, verified_contact=PHONE))
    assert answer_stranded(store, agent.handle, CLOCK + timedelta(seconds=30)) == 0  # too soon
    later = CLOCK + STRANDED_AFTER + timedelta(seconds=1)
    assert answer_stranded(store, agent.handle, later) == 1
    [row] = outbox(store)
    assert (row.channel, row.recipient, row.body) == ("sms", PHONE, reply.text)
    assert row.dedupe_key == "late-reply:1"
    assert answer_stranded(store, agent.handle, later + timedelta(minutes=5)) == 0


def test_a_reply_that_left_in_its_webhook_answer_is_not_sent_again(
        agent: Agent, store: Store) -> None:
    agent.handle(InboundMessage(
        channel="sms", sender=PHONE, text=QUESTION, thread_key=PHONE, received_at=CLOCK,
        provider_message_id="SM-sent", reply_in_response=True, verified_contact=PHONE))
    mark_delivered(store, "sms", "SM-sent")
    assert answer_stranded(store, agent.handle, CLOCK + timedelta(minutes=5)) == 0
    assert outbox(store) == []
