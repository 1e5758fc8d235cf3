"""Email torture: thousands of malformed and hostile mails over real SMTP to our own server.

Each mail is generated from a seeded random source (the same mails on every run): broken MIME,
wrong and unknown charsets, huge headers, deep nesting, auto-replies and loops of them,
bounces, mailing lists, header injection, missing senders and ids, and a share of plain
customer mails among them. Every one goes through ``InboundSmtpServer`` on loopback and must
end one of three ways: stored (a message row), ignored with a reason logged, or refused with
an SMTP code and text. None may crash the server (a 451 is the server saying an exception
escaped), none may be lost, and no auto-reply or bounce may be answered.
"""

from __future__ import annotations

import logging
import random
import smtplib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from agent.core import Agent
from agent.db import Store
from agent.models import MessageRow, OutboxRow
from agent.outgoing_mail import dedupe_key
from base.clock import wall_clock
from channels.app import mailboxes
from channels.email_in import EmailChannel, InboundSmtpServer
from channels.email_out import SmtpSender
from tests.contracts.channel import CountingHandler
from tests.support.mail import MailCatcher
from tests.support.mail_auth import checks_for_tests, dkim_signed
from tests.support.net import free_port

pytestmark = pytest.mark.slow

SEED = 20261125
MAILS = 2000
# A share that reaches the agent (a real turn each); the rest is refused or ignored before it.
CUSTOMER_SHARE = 0.05
CRLF = "\r\n"


@dataclass(frozen=True)
class Mail:
    index: int
    kind: str
    raw: bytes
    mail_from: str  # the envelope sender; "" is the null reverse-path of a bounce
    message_id: str | None  # the id the parser must read, None when there is none
    never_answer: bool  # auto-reply, bounce or list: no reply may ever be queued


def _id(i: int, kind: str) -> str:
    return f"<torture-{i}.{kind}@proof.example>"


def _mail(headers: list[str], body: str | bytes, *, sep: str = CRLF) -> bytes:
    data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")
    return (sep.join(headers) + sep + sep).encode("utf-8", "surrogateescape") + data


def _nested(depth: int, rnd: random.Random) -> str:
    text = "Wo ist mein Paket?"
    for level in range(depth):
        boundary = f"b{level}x{rnd.randrange(10**6)}"
        text = (f"Content-Type: multipart/mixed; boundary=\"{boundary}\"{CRLF}{CRLF}"
                f"--{boundary}{CRLF}{text}{CRLF}--{boundary}--")
    return text


def _generators() -> dict[str, Callable[[int, random.Random], Mail]]:
    """One maker per kind of hostile mail."""
    customers = ["kunde@example.de", "cliente@example.es", "buyer@example.com"]

    def base(i: int, kind: str, rnd: random.Random, extra: list[str] | None = None) -> list[str]:
        return [f"Message-ID: {_id(i, kind)}", f"From: {rnd.choice(customers)}",
                "To: service@csba.example", f"Subject: Frage {i}", *(extra or [])]

    def customer(i: int, rnd: random.Random) -> Mail:
        body = rnd.choice(["Wie schwer ist die Lampe?", "¿Dónde está mi pedido?",
                           "Hello, can I return the kettle? It is broken."])
        # Signed by the customer's domain, as their provider would: a proven sender.
        return Mail(i, "customer", dkim_signed(_mail(base(i, "customer", rnd), body)),
                    "a@example.de", _id(i, "customer"), False)

    def broken_mime(i: int, rnd: random.Random) -> Mail:
        variant = rnd.randrange(5)
        headers = base(i, "mime", rnd, ["MIME-Version: 1.0"])
        body: str | bytes
        if variant == 0:  # multipart without a boundary parameter
            headers.append("Content-Type: multipart/mixed")
            body = "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--"
        elif variant == 1:  # never terminated, parts without headers
            headers.append('Content-Type: multipart/alternative; boundary="zz"')
            body = "--zz\r\n\r\n--zz\r\nContent-Type: text/html\r\n\r\n<p>" + "x" * 50
        elif variant == 2:  # base64 that is not
            headers += ["Content-Type: text/plain", "Content-Transfer-Encoding: base64"]
            body = "!!!*** not base64 at all ***!!!" * rnd.randrange(1, 20)
        elif variant == 3:  # quoted-printable with broken escapes
            headers += ["Content-Type: text/plain", "Content-Transfer-Encoding: quoted-printable"]
            body = "=ZZ=4=\r\n=E4=" * rnd.randrange(1, 50)
        else:  # random bytes as a body of a declared image
            headers.append("Content-Type: image/png")
            body = rnd.randbytes(rnd.randrange(1, 4000))
        return Mail(i, "mime", _mail(headers, body), "a@example.de", _id(i, "mime"), False)

    def charset(i: int, rnd: random.Random) -> Mail:
        variant = rnd.randrange(4)
        headers = base(i, "charset", rnd)
        body: bytes
        if variant == 0:
            headers.append("Content-Type: text/plain; charset=x-no-such-charset")
            body = "Grüße aus Köln".encode("latin-1")
        elif variant == 1:
            headers.append("Content-Type: text/plain; charset=utf-8")
            body = b"\xff\xfe\xfd invalid utf-8 \xc3\x28"
        elif variant == 2:
            headers.append("Content-Type: text/plain; charset=utf-16")
            body = rnd.randbytes(rnd.randrange(1, 200))
        else:
            headers[3] = "Subject: =?x-unknown?B?////?= =?utf-8?Q?=FF=FE?="
            headers.append("Content-Type: text/plain; charset=iso-2022-jp")
            body = b"\x1b$B\x1b(B\x0e\x0f"
        return Mail(i, "charset", _mail(headers, body), "a@example.de", _id(i, "charset"),
                    False)

    def huge_header(i: int, rnd: random.Random) -> Mail:
        variant = rnd.randrange(3)
        headers = base(i, "huge", rnd)
        if variant == 0:  # one line far beyond SMTP's 1000 characters
            headers.append("X-Long: " + "a" * rnd.randrange(1000, 20000))
        elif variant == 1:  # thousands of folded lines
            headers.append("References: " + "\r\n ".join(
                f"<r{n}@x.example>" for n in range(rnd.randrange(500, 3000))))
        else:  # thousands of headers
            headers += [f"X-H{n}: v" for n in range(rnd.randrange(500, 5000))]
        return Mail(i, "huge", _mail(headers, "Hi"), "a@example.de", _id(i, "huge"), False)

    def nested(i: int, rnd: random.Random) -> Mail:
        headers = base(i, "nested", rnd, ["MIME-Version: 1.0"])
        text = _nested(rnd.randrange(5, 120), rnd)
        head, _, body = text.partition(CRLF + CRLF)
        return Mail(i, "nested", _mail([*headers, head], body), "a@example.de",
                    _id(i, "nested"), False)

    def auto_reply(i: int, rnd: random.Random) -> Mail:
        marker = rnd.choice(["Auto-Submitted: auto-replied", "Auto-Submitted: auto-generated",
                             "Precedence: bulk", "Precedence: auto_reply", "X-Autoreply: yes",
                             "X-Autorespond: yes", "Precedence: junk"])
        loops = rnd.randrange(1, 30)
        headers = base(i, "auto", rnd, [marker, f"In-Reply-To: <csba-{i}@csba.example>"])
        headers[3] = "Subject: " + "Re: " * loops + "Automatische Antwort: Ihre Anfrage"
        return Mail(i, "auto", _mail(headers, "Ich bin bis Montag nicht im Büro."),
                    "a@example.de", _id(i, "auto"), True)

    def bounce(i: int, rnd: random.Random) -> Mail:
        variant = rnd.randrange(3)
        headers = base(i, "bounce", rnd)
        mail_from = "mailer@example.de"
        if variant == 0:  # the null reverse-path
            mail_from = ""
        elif variant == 1:
            headers[1] = "From: MAILER-DAEMON@mx.example.de"
        else:
            headers.append('Content-Type: multipart/report; report-type=delivery-status; '
                           'boundary="rep"')
        body = ("--rep\r\nContent-Type: text/plain\r\n\r\nDelivery failed\r\n--rep--"
                if variant == 2 else "Delivery to the following recipients failed.")
        return Mail(i, "bounce", _mail(headers, body), mail_from, _id(i, "bounce"), True)

    def mailing_list(i: int, rnd: random.Random) -> Mail:
        headers = base(i, "list", rnd, [rnd.choice(["List-Id: <news.example.de>",
                                                    "List-Unsubscribe: <mailto:u@x.example>",
                                                    "Precedence: list"])])
        return Mail(i, "list", _mail(headers, "Newsletter"), "news@example.de",
                    _id(i, "list"), True)

    def injection(i: int, rnd: random.Random) -> Mail:
        # A header whose value carries a line break and a second header (Bcc, another id),
        # or an empty line that ends the header block early. The mail is an auto-reply
        # marked before the injection, so it must stay unanswered whatever the break does.
        headers = base(i, "inject", rnd)
        headers.insert(1, "Auto-Submitted: auto-replied")
        headers[3] = f"To: service@csba.example{rnd.choice(['', chr(10) + 'Cc: x@y.example'])}"
        injected = rnd.choice(["Subject: hi\r\nBcc: victim@example.com",
                               "Subject: hi\nMessage-ID: <hijack@proof.example>",
                               "Subject: hi\r\n\r\nbody in the header",
                               "Subject: hi\rX-Injected: yes"])
        headers[4] = injected
        return Mail(i, "inject", _mail(headers, "Text"), "a@example.de", _id(i, "inject"),
                    True)

    def no_sender(i: int, rnd: random.Random) -> Mail:
        headers = base(i, "nosender", rnd)
        headers[1] = rnd.choice(["From:", "From: <>", "From: no address here",
                                 "X-No-From: 1", "From: =?utf-8?q?=FF?="])
        return Mail(i, "nosender", _mail(headers, "Hallo"), "a@example.de", None, False)

    def no_id(i: int, rnd: random.Random) -> Mail:
        headers = base(i, "noid", rnd)
        headers[0] = rnd.choice(["X-No-Id: 1", "Message-ID:", "Message-ID: <>",
                                 "Message-ID: has spaces in it", "Message-ID: <" + "x" * 400 + ">"])
        return Mail(i, "noid", _mail(headers, "Hallo"), "a@example.de", None, False)

    def no_text(i: int, rnd: random.Random) -> Mail:
        headers = base(i, "notext", rnd)
        body = rnd.choice(["", "> only a quote\r\n> nothing else", "--\r\nSignature only",
                           "<html><blockquote>quoted</blockquote></html>"])
        if body.startswith("<html"):
            headers.append("Content-Type: text/html")
        return Mail(i, "notext", _mail(headers, body), "a@example.de", _id(i, "notext"),
                    False)

    def garbage(i: int, rnd: random.Random) -> Mail:
        raw = rnd.randbytes(rnd.randrange(1, 3000)).replace(b"\r\n.\r\n", b"")
        return Mail(i, "garbage", raw, "a@example.de", None, False)

    return {"mime": broken_mime, "charset": charset, "huge": huge_header, "nested": nested,
            "auto": auto_reply, "bounce": bounce, "list": mailing_list, "inject": injection,
            "nosender": no_sender, "noid": no_id, "notext": no_text, "garbage": garbage,
            "customer": customer}


def torture_mails(count: int = MAILS, seed: int = SEED) -> list[Mail]:
    rnd = random.Random(seed)
    makers = _generators()
    hostile = [k for k in makers if k != "customer"]
    return [makers["customer" if rnd.random() < CUSTOMER_SHARE else rnd.choice(hostile)](i, rnd)
            for i in range(count)]


@pytest.fixture()
def ignored_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The email channel's log, where it says which Message-IDs it did not answer."""
    caplog.set_level(logging.INFO, logger="channels.email_in")
    return caplog


def not_answered(log: pytest.LogCaptureFixture) -> dict[str, str]:
    """The reason given for each Message-ID the email channel did not answer."""
    ignored: dict[str, str] = {}
    for record in log.records:
        line = record.getMessage()
        if record.name.startswith("channels.email_in") and line.startswith("email ") \
                and " not answered: " in line:
            message_id, _, reason = line[6:].partition(" not answered: ")
            ignored[message_id] = reason
    return ignored


def deliver(port: int, mails: list[Mail]) -> dict[int, tuple[int, str]]:
    """Send every mail over SMTP; the server's answer to each (code, text)."""
    answers: dict[int, tuple[int, str]] = {}
    client: smtplib.SMTP | None = None
    for mail in mails:
        for _attempt in range(2):  # the server may close a session after a protocol error
            try:
                if client is None:
                    client = smtplib.SMTP("127.0.0.1", port, timeout=60)
                    client.ehlo("torture.example")
                client.mail(mail.mail_from)
                code, text = client.rcpt("service@csba.example")
                if code < 400:
                    code, text = client.data(mail.raw)
                else:
                    client.rset()
                answers[mail.index] = (code, text.decode("utf-8", "replace"))
                break
            except smtplib.SMTPServerDisconnected:
                if client is not None:
                    client.close()
                client = None
        else:
            raise AssertionError(f"mail {mail.index} ({mail.kind}) could not be delivered")
    if client is not None:
        client.quit()
    return answers


def test_thousands_of_hostile_mails_are_stored_ignored_or_refused(
        agent: Agent, store: Store, mail_relay: MailCatcher,
        ignored_log: pytest.LogCaptureFixture) -> None:
    mails = torture_mails()
    sender = SmtpSender(mail_relay.url)
    channel = EmailChannel(store, sender, checks=checks_for_tests(), mailboxes=mailboxes(
        store, domain=sender.domain, clock=wall_clock, answer_case=agent.answer_case))
    handler = CountingHandler(agent.handle)
    server = InboundSmtpServer(channel, handler, port=free_port())
    server.start()
    started = time.monotonic()
    try:
        answers = deliver(server.port, mails)
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as probe:
            alive = probe.noop()[0]
    finally:
        server.stop()
    seconds = time.monotonic() - started

    with store.sessions() as session:
        stored = set(session.scalars(select(MessageRow.provider_message_id)
                                     .where(MessageRow.channel == "email")))
        reply_keys = set(session.scalars(select(OutboxRow.dedupe_key)))
        recipients = set(session.scalars(select(OutboxRow.recipient)))
    ignored = not_answered(ignored_log)
    outcomes: Counter[str] = Counter()
    lost, crashed, answered_auto = [], [], []
    for mail in mails:
        code, text = answers[mail.index]
        if code == 451:
            crashed.append((mail.index, mail.kind, text))
        if 400 <= code < 600:
            assert text.strip(), f"mail {mail.index}: a refusal must say why"
            outcomes[f"refused {code}"] += 1
        elif mail.message_id in stored:
            outcomes["stored"] += 1
        elif mail.message_id in ignored:
            outcomes["ignored"] += 1
        else:
            lost.append((mail.index, mail.kind, code, text))
        if mail.never_answer and mail.message_id and \
                dedupe_key("email-reply", mail.message_id) in reply_keys:
            answered_auto.append((mail.index, mail.kind))
    kinds = Counter(m.kind for m in mails)
    print(f"{len(mails)} mails in {seconds:.1f} s: {dict(outcomes)}; kinds {dict(kinds)}; "  # noqa: T201
          f"agent calls {handler.calls}")
    assert alive == 250, "the SMTP server survives the run"
    assert not crashed, crashed[:10]
    assert not lost, lost[:10]
    assert not answered_auto, answered_auto[:10]
    # A header injected through a line break never chooses who gets mail from us.
    assert not {r for r in recipients if "victim" in r or "x@y.example" in r}, recipients
    never = [m for m in mails if m.never_answer]
    assert all(answers[m.index][0] >= 400 or m.message_id not in stored for m in never), \
        "an auto-reply, bounce or list mail reached the agent"
    # Every hostile kind was exercised, and most mails never cost an agent turn.
    assert len(kinds) == len(_generators()) and len(mails) >= 2000
    assert handler.calls == outcomes["stored"] < len(mails) / 2
