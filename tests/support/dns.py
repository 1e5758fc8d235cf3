"""A real DNS server on loopback (dnslib) serving the test domains' mail records.

Every domain a test writes from publishes, by default, the test DKIM key under selector
``csba-test``, an SPF record that no loopback sender passes, and a DMARC record with
``p=reject``: a mail is proven by its DKIM signature only, as a test makes it with
``tests.support.mail_auth``. A test adds or overrides records per name (``zone.txt[...]``).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from tests.support.net import free_port

DKIM_DIR = Path(__file__).parent.parent / "fixtures" / "dkim"
SELECTOR = "csba-test"
# Test senders are on loopback: no default record lets 127.0.0.1 pass SPF, so a forged From
# cannot pass by the test's own connection.
DEFAULT_SPF = "v=spf1 ip4:192.0.2.0/24 -all"
DEFAULT_DMARC = "v=DMARC1; p=reject"


def public_key_record() -> str:
    pem = (DKIM_DIR / "test.pub").read_text()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    base64.b64decode(body)  # a broken fixture fails here, not in a mail check
    return f"v=DKIM1; k=rsa; p={body}"


@dataclass
class Zone:
    """TXT records by name; names not listed get the defaults above (or nothing)."""

    txt: dict[str, list[str]] = field(default_factory=dict)
    no_defaults: set[str] = field(default_factory=set)  # domains publishing nothing at all
    queries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lookup(self, name: str) -> list[str]:
        name = name.rstrip(".").lower()
        with self._lock:
            self.queries += 1
        if name in self.txt:
            return self.txt[name]
        labels = name.split(".")
        if len(labels) >= 3 and labels[0] == SELECTOR and labels[1] == "_domainkey":
            domain = ".".join(labels[2:])
            return [] if domain in self.no_defaults else [public_key_record()]
        if labels[0] == "_dmarc" and len(labels) >= 3:
            domain = ".".join(labels[1:])
            return [] if domain in self.no_defaults else [DEFAULT_DMARC]
        if not name.startswith("_") and len(labels) >= 2 and name not in self.no_defaults:
            return [DEFAULT_SPF]
        return []


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname = request.q.qname
        if QTYPE[request.q.qtype] in {"TXT", "ANY"}:
            for value in self.zone.lookup(str(qname)):
                data = value.encode()
                chunks = [data[i:i + 255] for i in range(0, len(data), 255)]
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        if not reply.rr and not self.zone.lookup(str(qname)):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@dataclass
class LoopbackDns:
    zone: Zone
    port: int

    @property
    def nameserver(self) -> str:
        """The value of ``CSBA_DNS_NAMESERVER`` that points a service here."""
        return f"127.0.0.1:{self.port}"


@contextmanager
def running_dns(zone: Zone | None = None) -> Iterator[LoopbackDns]:
    zone = zone or Zone()
    port = free_port()
    server = DNSServer(_ZoneResolver(zone), address="127.0.0.1", port=port,
                       logger=DNSLogger(logf=lambda _: None))
    server.start_thread()
    try:
        yield LoopbackDns(zone, port)
    finally:
        server.stop()
        server.server.server_close()


_SHARED: LoopbackDns | None = None
_SHARED_LOCK = threading.Lock()


def shared_test_dns() -> LoopbackDns:
    """One server with the default zone for the whole test process: what every service a
    test builds from ``Settings`` asks (a test changing records starts its own)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            port = free_port()
            server = DNSServer(_ZoneResolver(Zone()), address="127.0.0.1", port=port,
                               logger=DNSLogger(logf=lambda _: None))
            server.start_thread()  # a daemon thread: it ends with the process
            _SHARED = LoopbackDns(server.server.resolver.zone, port)
        return _SHARED
