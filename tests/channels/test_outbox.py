"""Seller notifications and customer follow-ups leave through the outbox, over real SMTP."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from agent.core import Agent
from agent.db import Store
from agent.models import OutboxRow
from channels.email_out import SmtpSender
from channels.outbox import OutboxWorker, backoff
from tests.conftest import NOW, Say
from tests.support.mail import MailCatcher
from tests.support.net import free_port
from tests.support.scenarios import DELIVERED_HEADLAMP_US

pytestmark = [pytest.mark.slow, pytest.mark.on_every_database]
ORDER, CUSTOMER = DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.customer_email
UNANSWERED = "Does the headlamp fit on a Petzl bicycle helmet mount?"  # the page does not say


def test_a_case_notifies_the_seller_once_by_email(mail_relay: MailCatcher, say: Say,
                                                  store: Store) -> None:
    text = UNANSWERED
    reply = say(f"{text} ({ORDER})", sender=CUSTOMER)
    assert reply.case_id
    worker = OutboxWorker(store, {"email": SmtpSender(mail_relay.url)})
    now = datetime.fromisoformat(NOW)
    assert worker.run_once(now) == 1
    assert worker.run_once(now + timedelta(hours=1)) == 0  # sent exactly once
    [(envelope, mail)] = mail_relay.received
    assert envelope.rcpt_tos == ["help@ridgeline-outdoor.example"]
    assert reply.case_id in str(mail["Subject"])
    assert mail["Auto-Submitted"] == "auto-replied" and mail["Message-ID"]
    body = mail.get_payload(decode=True).decode()
    for secret in (CUSTOMER, "Michael", "Rodriguez", DELIVERED_HEADLAMP_US.phone, text):
        assert secret not in body


def test_the_sellers_answer_reaches_the_customer(mail_relay: MailCatcher, say: Say,
                                                 agent: Agent, store: Store) -> None:
    reply = say(f"{UNANSWERED} ({ORDER})", sender=CUSTOMER)
    assert reply.case_id
    agent.answer_case(reply.case_id, "A5RIDGELINE", "Yes, with the Petzl adapter.",
                      add_to_knowledge=False, now=datetime.fromisoformat(NOW))
    OutboxWorker(store, {"email": SmtpSender(mail_relay.url)}).run_once(
        datetime.fromisoformat(NOW))
    recipients = sorted(e.rcpt_tos[0] for e, _ in mail_relay.received)
    assert recipients == sorted(["help@ridgeline-outdoor.example", CUSTOMER])
    customer = next(m for e, m in mail_relay.received if e.rcpt_tos == [CUSTOMER])
    assert "Petzl adapter" in customer.get_payload(decode=True).decode()


def test_a_failed_send_is_retried_with_back_off_and_not_lost(say: Say, store: Store,
                                                             mail_relay: MailCatcher) -> None:
    say(f"{UNANSWERED} ({ORDER})", sender=CUSTOMER)
    now = datetime.fromisoformat(NOW)
    broken = OutboxWorker(store, {"email": SmtpSender(f"smtp://127.0.0.1:{free_port()}",
                                                      timeout=2)})
    assert broken.run_once(now) == 0
    with store.sessions() as s:
        row = s.scalars(select(OutboxRow)).one()
        assert row.attempts == 1 and row.sent_at is None and row.last_error
    working = OutboxWorker(store, {"email": SmtpSender(mail_relay.url)})
    assert working.run_once(now + timedelta(seconds=5)) == 0  # backing off
    assert working.run_once(now + backoff(1) + timedelta(seconds=1)) == 1
    assert len(mail_relay.received) == 1


def test_bad_smtp_url_is_refused() -> None:
    with pytest.raises(ValueError, match="smtp://host:port"):
        SmtpSender("http://relay")
