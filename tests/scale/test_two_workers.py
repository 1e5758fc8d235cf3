"""Two ``csba serve`` workers on one PostgreSQL database (records and lexical index), one Chroma
server (vectors) and one Redis, each with a data dir of its own and no file copied between
them, answering alternate turns of the same conversations: what one worker learnt in a turn,
the other knows in the next; and a sender's rate limit is one budget over both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from agent.db import Store, make_engine
from agent.models import CaseRow, ConversationRow, MessageRow, OutboxRow
from agent.replies import render
from portal.auth import issue_token
from tests.conftest import chat_token
from tests.scale.serving import (
    TWILIO_TOKEN,
    ServerProcess,
    prepare_data_dir,
    server_env,
)
from tests.support.chroma import running_chroma
from tests.support.mail import MailCatcher, running_relay
from tests.support.postgres import drop_database, fresh_database
from tests.support.redis import RedisServer
from tests.support.scenarios import DELIVERED_HEADLAMP_US, PRE_ENROLMENT_CHARGER_US
from tests.support.twilio import ACCOUNT, RecorderServer, running_recorder

pytestmark = pytest.mark.slow

ORDER, EMAIL, PHONE = (DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.customer_email,
                      DELIVERED_HEADLAMP_US.phone)
OTHER_ORDER, OTHER_PHONE = PRE_ENROLMENT_CHARGER_US.order_id, PRE_ENROLMENT_CHARGER_US.phone
SELLER = "A5RIDGELINE"
US_LINE = "+12025550100"
# More than any other test here sends from one sender in a channel (four SMS turns), few
# enough for the rate-limit test to reach quickly.
SENDER_LIMIT = 6
EAGER_PHONE = "+12025550187"  # a sender of its own, for the rate-limit test
# Names no product, so a customer with two orders is asked which one.
QUESTION = "Does it fit on a Petzl bicycle helmet mount?"
ANSWER = "Yes: it fits the Petzl helmet mount with the included adapter plate."


Workers = tuple[ServerProcess, ServerProcess, Store, MailCatcher, RecorderServer]


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory, postgres_server: str,
            redis_server: RedisServer) -> Iterator[Workers]:
    """Both workers, started once for the module's tests (each test its own conversations)."""
    root = tmp_path_factory.mktemp("workers")
    redis_server.flush()
    database_url = fresh_database(postgres_server)
    first_dir, second_dir = root / "host-a", root / "host-b"
    with running_chroma(root / "chroma") as chroma_url, running_relay() as relay, \
            running_recorder() as recorder:
        prepare_data_dir(first_dir, database_url=database_url, chroma_url=chroma_url)
        assert not (first_dir / "chroma").exists()  # the vectors live in the Chroma server
        # The lexical index lives in the database: the second host starts on an empty dir.
        assert not (first_dir / "lexical.sqlite3").exists()
        second_dir.mkdir()
        env = server_env(database_url=database_url, smtp_url=relay.url,
                         twilio_api_base=recorder.url, chroma_url=chroma_url,
                         redis_url=redis_server.url, fast_recovery=False)
        env["CSBA_RATE_LIMIT"] = f"{SENDER_LIMIT}/minute"
        a = ServerProcess(first_dir, root / "a.log", env)
        b = ServerProcess(second_dir, root / "b.log", env)
        store = Store(make_engine(database_url))
        try:
            a.start()
            b.start()
            yield a, b, store, relay, recorder
        finally:
            a.stop()
            b.stop()
            store.engine.dispose()
            drop_database(postgres_server, database_url)


SECRETS: dict[str, str] = {}  # conversation id -> its secret, as the client keeps it

def chat(server: ServerProcess, conversation: str, text: str, client_id: str) -> Any:
    answer = httpx.post(f"{server.url}/v1/conversations/{conversation}/messages",
                        json={"text": text, "client_message_id": client_id}, timeout=60,
                        headers={"X-Conversation-Secret": SECRETS[conversation]})
    assert answer.status_code == 200, answer.text
    return answer.json()


def sms(server: ServerProcess, sid: str, sender: str, text: str) -> httpx.Response:
    # Twilio signs the URL it posts to; both workers sit behind one public URL in production,
    # here each signs its own.
    url = f"{server.url}/twilio/messaging"
    params = {"MessageSid": sid, "AccountSid": ACCOUNT, "From": sender, "To": US_LINE,
              "Body": text, "NumMedia": "0"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=60)


def test_alternate_turns_on_two_workers_keep_the_conversation(
        workers: Workers) -> None:
    a, b, store, relay, _ = workers
    started = httpx.post(f"{a.url}/v1/conversations", json={
        "marketplace": "US", "email": EMAIL, "identity_token": chat_token(EMAIL)}, timeout=60)
    assert started.status_code == 201
    conversation = started.json()["conversation_id"]
    SECRETS[conversation] = started.json()["conversation_secret"]

    # Turn 1 on A: the question names no order, and this customer has two.
    first = chat(a, conversation, QUESTION, "t1")
    assert first["outcome"] == "needs_info", first
    # Turn 2 on B: only the order number. B continues A's request from the database.
    second = chat(b, conversation, f"It is order {ORDER}.", "t2")
    assert second["outcome"] == "escalated", (first, second)
    case_id = second["case_id"]
    # Turn 3 on A: the order is now the conversation's; A answers about it without asking.
    third = chat(a, conversation, "Where is my order?", "t3")
    assert third["outcome"] == "answered", third
    assert ORDER in str(third["citations"]) or ORDER in third["text"]
    # A redelivery of turn 2 to the other worker is answered from the stored reply.
    again = chat(a, conversation, f"It is order {ORDER}.", "t2")
    assert again == second

    with store.sessions() as session:
        [row] = session.scalars(select(ConversationRow).where(
            ConversationRow.thread_key == conversation))  # one conversation, whoever answered
        assert row.order_id == ORDER
        assert session.scalar(select(func.count()).select_from(MessageRow)
                              .where(MessageRow.conversation_id == row.id)) == 3
        assert session.scalars(select(CaseRow.id).where(
            CaseRow.conversation_id == row.id)).all() == [case_id]

    # The seller answers on B; both workers run the outbox: each mail goes out once.
    auth = {"Authorization": f"Bearer {issue_token(store, SELLER)}"}
    answered = httpx.post(f"{b.url}/v1/seller/cases/{case_id}/answer", headers=auth,
                          json={"answer": ANSWER, "add_to_knowledge": False}, timeout=60)
    assert answered.status_code == 200, answered.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with store.sessions() as session:
            unsent = session.scalar(select(func.count()).select_from(OutboxRow)
                                    .where(OutboxRow.sent_at.is_(None)))
            total = session.scalar(select(func.count()).select_from(OutboxRow))
        if total and not unsent:
            break
        time.sleep(0.5)
    assert total and not unsent
    time.sleep(6)  # one more round of both workers' outboxes: nothing may go out again
    assert len(relay.received) == total, [m["Subject"] for m in relay.messages]


def test_alternate_sms_on_two_workers_share_one_conversation(
        workers: Workers) -> None:
    a, b, store, _, _ = workers
    turns = [(a, f"Where is my order {OTHER_ORDER}?"), (b, "When did it ship?"),
             (a, "Thanks, and when will it arrive?"), (b, "Where is my order?")]
    for n, (server, text) in enumerate(turns):
        answer = sms(server, f"SM{n:034d}", OTHER_PHONE, text)
        assert answer.status_code == 200 and "<Message>" in answer.text
    # The same MessageSid to the other worker: stored once, answered with the same TwiML.
    first = sms(a, f"SM{1:034d}", OTHER_PHONE, turns[1][1])
    replayed = sms(b, f"SM{1:034d}", OTHER_PHONE, turns[1][1])
    assert first.text == replayed.text
    with store.sessions() as session:
        conversations = list(session.scalars(select(ConversationRow).where(
            ConversationRow.channel == "sms")))
        assert len(conversations) == 1
        assert conversations[0].order_id == OTHER_ORDER  # learnt in turn 1 on A
        replies = list(session.scalars(select(MessageRow.reply).where(
            MessageRow.conversation_id == conversations[0].id)))
        assert len(replies) == len(turns) and all(r is not None for r in replies)


def test_both_workers_retrieve_the_same_evidence(
        workers: Workers) -> None:
    a, b, _, _, _ = workers
    params: dict[str, str | int] = {"q": "How bright is the headlamp?", "marketplace": "US",
                                    "k": 5}
    found_a = httpx.get(f"{a.url}/v1/knowledge/search", params=params, timeout=60).json()
    found_b = httpx.get(f"{b.url}/v1/knowledge/search", params=params, timeout=60).json()
    assert found_a and [(e["asin"], e["field"], e["score"]) for e in found_a] == \
        [(e["asin"], e["field"], e["score"]) for e in found_b]
    # Both legs are shared through servers: neither host holds a lexical index file.
    assert not any((w.data_dir / "lexical.sqlite3").exists() for w in (a, b))


def test_a_sender_over_the_limit_on_one_worker_is_over_it_on_the_other(
        workers: Workers) -> None:
    a, b, _, _, _ = workers
    polite = render("rate_limited", "en")
    # Alternating, the sender spends one budget over both workers: per process, each worker
    # would still allow half of it.
    for n in range(SENDER_LIMIT):
        answer = sms((a, b)[n % 2], f"SM{900 + n:034d}", EAGER_PHONE, "Where is my order?")
        assert answer.status_code == 200 and polite not in answer.text, (n, answer.text)
    for n, server in enumerate((a, b)):
        refused = sms(server, f"SM{950 + n:034d}", EAGER_PHONE, "Where is my order?")
        assert refused.status_code == 200 and polite in refused.text, refused.text
