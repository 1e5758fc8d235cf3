"""``csba serve --workers 2``: two worker processes on one port and one SQLite data dir.

Both workers answer customers on the one port (seen as an operator sees it: the worker
processes under the server in /proc, and the pid on each JSON access log line), a mail to the
SMTP port is answered once though both run the background round, and a SIGKILLed worker
leaves the server answering while the supervisor starts its replacement and the survivor
takes over the SMTP port.
"""

from __future__ import annotations

import os
import signal
import smtplib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from agent.db import Store, make_engine
from agent.models import MessageRow
from tests.conftest import chat_token
from tests.scale.serving import ServerProcess, prepare_data_dir, server_env
from tests.support.mail import MailCatcher, running_relay
from tests.support.mail_auth import dkim_signed
from tests.support.scenarios import DELIVERED_HEADLAMP_US
from tests.support.twilio import running_recorder

pytestmark = pytest.mark.slow

ORDER, EMAIL = DELIVERED_HEADLAMP_US.order_id, DELIVERED_HEADLAMP_US.customer_email
SERVICE_ADDRESS = "service@csba.example"
WORKERS = 2
CHATS = 12  # at once: enough that one busy worker leaves connections to the other


Served = tuple[ServerProcess, Store, MailCatcher]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve-workers")
    data_dir = root / "data"
    prepare_data_dir(data_dir)
    database_url = f"sqlite:///{data_dir / 'csba.sqlite3'}"
    with running_relay() as relay, running_recorder() as recorder:
        server = ServerProcess(data_dir, root / "server.log", server_env(
            database_url=database_url, smtp_url=relay.url, twilio_api_base=recorder.url),
            workers=WORKERS)
        store = Store(make_engine(database_url))
        try:
            server.start()
            wait_for(lambda: len(ready_workers(server)) == WORKERS, 180, server.log_path)
            yield server, store, relay
        finally:
            server.stop()
            store.engine.dispose()


def wait_for(condition: Callable[[], bool], seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s; see {log}")
        time.sleep(0.5)


def ready_workers(server: ServerProcess) -> set[int]:
    """Worker processes alive under the server that said they are ready."""
    ready = {line["pid"] for line in server.log_lines()
             if line["message"].startswith("worker ") and line["message"].endswith(" ready")}
    return ready & server.worker_pids()


def ask_where_my_order_is(server: ServerProcess, n: int) -> dict[str, object]:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        made = http.post("/v1/conversations", json={
            "marketplace": "US", "email": EMAIL, "identity_token": chat_token(EMAIL)})
        assert made.status_code == 201, made.text
        answer = http.post(
            f"/v1/conversations/{made.json()['conversation_id']}/messages",
            json={"text": f"Where is my order {ORDER}?", "client_message_id": f"where-{n}"},
            headers={"X-Conversation-Secret": made.json()["conversation_secret"]})
        assert answer.status_code == 200, answer.text
        reply: dict[str, object] = answer.json()
        return reply


def chats_at_once(server: ServerProcess, first: int) -> None:
    with ThreadPoolExecutor(max_workers=CHATS) as pool:
        replies = list(pool.map(lambda n: ask_where_my_order_is(server, n),
                                range(first, first + CHATS)))
    for reply in replies:
        assert reply["outcome"] == "answered", reply
        assert ORDER in str(reply["citations"]) or ORDER in str(reply["text"]), reply


def message_pids(server: ServerProcess) -> list[int]:
    """The pid of each chat message's access log line: the worker that answered it."""
    return [line["pid"] for line in server.log_lines()
            if line["logger"] == "uvicorn.access" and "/messages HTTP" in line["message"]
            and '"POST ' in line["message"]]


def mail_about_the_order(server: ServerProcess, n: int) -> str:
    mail = EmailMessage()
    mail["From"], mail["To"] = EMAIL, SERVICE_ADDRESS
    mail["Subject"] = f"Order {ORDER}"
    mail["Message-ID"] = make_msgid(idstring=f"workers{n}", domain="example.com")
    mail.set_content(f"Hello, where is my order {ORDER}?")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as smtp:
        smtp.sendmail(EMAIL, [SERVICE_ADDRESS], dkim_signed(mail))
    return str(mail["Message-ID"])


def replies_to(relay: MailCatcher, message_id: str) -> int:
    return sum(1 for m in relay.messages if m["In-Reply-To"] == message_id)


def answered_once(served: Served, message_id: str) -> None:
    server, store, relay = served
    wait_for(lambda: replies_to(relay, message_id) >= 1, 60, server.log_path)
    # Both workers run the outbox every 5 s: two more rounds, and still one reply.
    time.sleep(11)
    assert replies_to(relay, message_id) == 1
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MessageRow).where(
            MessageRow.provider_message_id == message_id)) == 1


def test_two_worker_processes_answer_on_the_one_port(served: Served) -> None:
    server, _, _ = served
    workers = server.worker_pids()
    assert len(workers) == WORKERS
    assert server.proc is not None and server.proc.pid not in workers
    # Which worker accepts a connection is the kernel's choice: a few rounds of chats at once
    # until both have answered some (one round does, in practice).
    for round_ in range(3):
        chats_at_once(server, round_ * CHATS)
        if len(set(message_pids(server))) >= WORKERS:
            break
    answering = set(message_pids(server))
    assert answering == workers, (answering, workers)


def test_a_mail_to_the_smtp_port_is_answered_once(served: Served) -> None:
    server, _, _ = served
    listening = [line["pid"] for line in server.log_lines()
                 if line["message"].startswith("inbound SMTP server on ")]
    assert len(listening) == 1 and listening[0] in server.worker_pids()
    answered_once(served, mail_about_the_order(server, 1))


def test_a_killed_worker_is_replaced_and_the_server_answers_meanwhile(served: Served) -> None:
    server, _, _ = served
    # The worker holding the SMTP port, so that the port has to move too.
    [smtp_worker] = [line["pid"] for line in server.log_lines()
                     if line["message"].startswith("inbound SMTP server on ")]
    survivor = (server.worker_pids() - {smtp_worker}).pop()
    os.kill(smtp_worker, signal.SIGKILL)
    wait_for(lambda: smtp_worker not in server.worker_pids(), 30, server.log_path)
    # Answered right away, by the survivor, while the replacement loads its models.
    chats_at_once(server, 100)
    # The supervisor starts a new worker; the survivor takes the SMTP port meanwhile.
    wait_for(lambda: len(ready_workers(server)) == WORKERS, 180, server.log_path)
    replacement = (server.worker_pids() - {survivor}).pop()
    assert replacement != smtp_worker
    assert any(line["pid"] == survivor and line["message"].startswith("inbound SMTP server on")
               for line in server.log_lines())
    answered_once(served, mail_about_the_order(server, 2))
    assert server.proc is not None and server.proc.poll() is None
