"""What PostgreSQL refuses and SQLite takes: text with NUL characters, long values, times
without a zone. A customer's message must be stored and answered on either database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from agent.core import Agent
from agent.db import Store
from agent.messages import InboundMessage
from agent.models import ConversationRow, MessageRow
from knowledge.index import KnowledgeIndex
from tests.support.scenarios import DELIVERED_HEADLAMP_US

pytestmark = pytest.mark.slow

ORDER, EMAIL = DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.customer_email


def message(text: str, provider_id: str = "m-1") -> InboundMessage:
    return InboundMessage(channel="email", sender=EMAIL, text=text, thread_key="t-nul",
                          verified_contact=EMAIL,
                          received_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
                          provider_message_id=provider_id)


@pytest.mark.on_every_database
def test_a_message_with_nul_characters_is_stored_and_answered(
        store: Store, demo_index: KnowledgeIndex) -> None:
    agent = Agent(store, demo_index, portal_url="http://127.0.0.1:8000/seller")
    said = f"Where is my\x00 order {ORDER}?\x00"
    reply = agent.handle(message(said))
    assert reply.outcome == "answered"
    with store.sessions() as session:
        [stored] = session.scalars(select(MessageRow.text))
    # Kept as said; only where the database cannot hold a NUL is it the replacement mark.
    assert stored.replace("\ufffd", "\x00") == said
    # A redelivery of it is the same message, answered once with the stored reply.
    assert agent.handle(message(said)) == reply


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_times_come_back_in_utc_whatever_the_session_zone(store: Store) -> None:
    # A server configured for another zone must not shift what the service stored.
    with store.engine.connect() as connection:
        zone = connection.execute(text("SHOW TIME ZONE")).scalar_one()
    assert zone.upper() == "UTC"
    at = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    with store.sessions.begin() as session:
        session.add(ConversationRow(id="c-zone", channel="chat", thread_key="k", contact="x",
                                    state={}, created_at=at, updated_at=at))
    with store.sessions() as session:
        row = session.get_one(ConversationRow, "c-zone")
        assert row.created_at == at and row.created_at.utcoffset() is not None


@pytest.mark.on_every_database
def test_a_failed_statement_does_not_carry_the_customers_words(store: Store) -> None:
    # Errors are logged (a failed turn's traceback): they must name the SQL, not the values.
    at = datetime(2026, 11, 25, 10, tzinfo=UTC)
    secret = "my address is 12 Secret Lane"
    with store.sessions.begin() as session:
        session.add(ConversationRow(id="c-log", channel="email", thread_key="k",
                                    contact="private@example.com", state={}, created_at=at,
                                    updated_at=at))
    with pytest.raises(IntegrityError) as failed, store.sessions.begin() as session:
        for _ in range(2):  # the same provider id twice: the unique key refuses the second
            session.add(MessageRow(conversation_id="c-log", channel="email", text=secret,
                                   provider_message_id="dup", received_at=at))
            session.flush()
    assert "INSERT INTO messages" in str(failed.value)
    assert secret not in str(failed.value) and "private@" not in str(failed.value)
