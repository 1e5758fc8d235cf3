"""Two turns opening the same question's case at once open one: on PostgreSQL each would
otherwise find none open (neither has committed) and open its own, so the seller would be
asked twice. The second waits for the first's transaction and joins its case."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.cases import CaseRequest, open_case
from agent.db import Store
from agent.models import CaseRow, ConversationRow

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ORDER_ID = "111-0182947-4168020"


def _conversation(session: Session, thread: str) -> ConversationRow:
    conv = ConversationRow(id=uuid.uuid4().hex, channel="email", thread_key=thread,
                           contact="customer@example.com", marketplace="US", misunderstood=0,
                           state={}, created_at=NOW, updated_at=NOW)
    session.add(conv)
    session.flush()
    return conv


def _open(store: Store, session: Session, thread: str) -> CaseRow:
    order = store.order(ORDER_ID)
    assert order is not None
    seller = store.seller(order.seller_id)
    assert seller is not None
    request = CaseRequest(category="product_question", question="Is it waterproof?",
                          needs="An answer from the page's seller.",
                          asins=[order.items[0].asin])
    return open_case(session, request=request, order=order, seller=seller,
                     conversation=_conversation(session, thread), language="en", now=NOW,
                     portal_url="http://127.0.0.1:8000/seller")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_turns_opening_one_question_at_once_open_one_case(store: Store) -> None:
    first = store.sessions()
    first.begin()
    opened = _open(store, first, "thread-chat")  # not committed yet
    second: dict[str, str] = {}

    def other_turn() -> None:
        with store.sessions.begin() as session:
            second["id"] = _open(store, session, "thread-mail").id

    worker = threading.Thread(target=other_turn)
    worker.start()
    worker.join(timeout=1.0)
    assert worker.is_alive(), "the second turn must wait for the first one's transaction"
    first.commit()
    first.close()
    worker.join(timeout=30.0)
    assert second["id"] == opened.id
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == 1
