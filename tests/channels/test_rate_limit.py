"""The per-sender limit counts proven senders apart from addresses anyone can write."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.messages import InboundMessage
from channels.rate_limit import SenderRateLimiter
from tests.support.scenarios import DELIVERED_BEDDING_DE

CUSTOMER = DELIVERED_BEDDING_DE.customer_email


def mail(n: int, *, proven: bool, sender: str = CUSTOMER) -> InboundMessage:
    return InboundMessage(channel="email", sender=sender, text="Wo ist meine Bestellung?",
                          thread_key=f"t{n}", received_at=datetime(2026, 11, 25, tzinfo=UTC),
                          provider_message_id=f"m{n}",
                          verified_contact=sender if proven else None)


def test_forged_mail_in_a_customers_name_does_not_use_up_their_own_limit() -> None:
    limiter = SenderRateLimiter("2/minute")
    assert [limiter.allow(mail(n, proven=False)) for n in range(3)] == [True, True, False]
    assert [limiter.allow(mail(n, proven=True)) for n in range(3, 6)] == [True, True, False]


def test_a_proven_sender_is_counted_whatever_case_the_address_is_written_in() -> None:
    limiter = SenderRateLimiter("1/minute")
    assert limiter.allow(mail(1, proven=True))
    assert not limiter.allow(mail(2, proven=True, sender=CUSTOMER.upper()))
