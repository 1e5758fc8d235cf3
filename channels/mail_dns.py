"""The DNS the mail checks read: DKIM keys, SPF and DMARC records.

One resolver object per service: the system's resolver by default, or the nameserver a
setting names (``CSBA_DNS_NAMESERVER``, ``host`` or ``host:port``), which is how the tests
point the checks at a DNS server of their own on loopback.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dns.exception
import dns.name
import dns.resolver
import spf

LOOKUP_SECONDS = 5.0  # one query; SPF's own budget of 20 s caps a whole check


class DnsFailure(Exception):
    """The DNS could not answer (timeout, no server): a temporary failure, not a "no"."""


class MailDns:
    def __init__(self, nameserver: str | None = None, *, timeout: float = LOOKUP_SECONDS) -> None:
        if nameserver:
            host, port = nameserver, "53"
            if nameserver.count(":") == 1:  # host:port (an IPv6 address alone has several)
                host, _, port = nameserver.partition(":")
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [host]
            self.resolver.port = int(port)
        else:
            try:
                self.resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                # No resolver here: every lookup fails, so every sender stays unproven.
                self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.lifetime = timeout
        self.nameserver = nameserver

    def records(self, name: str, qtype: str) -> list[Any]:
        """The answer's records; [] for a name or type that does not exist."""
        try:
            return list(self.resolver.resolve(name, qtype, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.name.EmptyLabel,
                dns.name.LabelTooLong, dns.name.NameTooLong):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DnsFailure(f"DNS lookup failed: {type(exc).__name__}") from exc

    def txt(self, name: str) -> list[bytes]:
        """Each TXT record of ``name``, its strings joined (a DKIM key spans several)."""
        return [b"".join(r.strings) for r in self.records(name, "TXT")]

    def dkim_txt(self, name: bytes | str, timeout: float = LOOKUP_SECONDS) -> bytes | None:
        """dkimpy's ``dnsfunc``: the first TXT record of a key's name, or None."""
        found = self.txt(name.decode() if isinstance(name, bytes) else name)
        return found[0] if found else None

    def spf_lookup(self, name: str, qtype: str, strict: bool = True,
                   timeout: float = LOOKUP_SECONDS) -> list[tuple[tuple[str, str], Any]]:
        """pyspf's ``DNSLookup``, answered by this resolver."""
        out: list[tuple[tuple[str, str], Any]] = []
        try:
            records = self.records(name, qtype)
        except DnsFailure as exc:
            raise spf.TempError(str(exc)) from exc
        for r in records:
            if qtype in {"A", "AAAA"}:
                out.append(((name, qtype), r.address))
            elif qtype == "MX":
                out.append(((name, qtype), (r.preference, r.exchange)))
            elif qtype == "PTR":
                out.append(((name, qtype), r.target.to_text(True)))
            elif qtype in {"TXT", "SPF"}:
                out.append(((name, qtype), r.strings))
        return out


# pyspf looks names up through one module-level function (and its dnspython one calls an API
# that dnspython has deprecated): each check names its resolver in a context variable instead.
_SPF_DNS: contextvars.ContextVar[MailDns] = contextvars.ContextVar("spf_dns")


def _spf_dns_lookup(name: str, qtype: str, strict: bool = True,
                    timeout: float = LOOKUP_SECONDS) -> list[tuple[tuple[str, str], Any]]:
    resolver = _SPF_DNS.get(None)
    if resolver is None:
        raise spf.TempError("no resolver named for this SPF check")
    return resolver.spf_lookup(name, qtype, strict, timeout)


spf.DNSLookup = _spf_dns_lookup


@contextmanager
def spf_resolver(resolver: MailDns) -> Iterator[None]:
    token = _SPF_DNS.set(resolver)
    try:
        yield
    finally:
        _SPF_DNS.reset(token)
