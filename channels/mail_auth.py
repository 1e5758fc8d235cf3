"""Who really sent a mail: DKIM, SPF and DMARC alignment, as the large mail providers check.

A mail's From address is proven only when its domain is aligned (DMARC, RFC 7489) with a
domain that passed a check: the ``d=`` of a valid DKIM signature, or the envelope sender's
domain when SPF passed for the connecting IP. "Aligned" is the same organisational domain
(from the public suffix list the ``publicsuffixlist`` package ships), or the very same domain
where the From domain's DMARC record asks for strict alignment (``adkim=s``/``aspf=s``).

Two ways to know:
- ``SmtpMailChecker``: our own SMTP server checks the signatures and SPF itself, with the
  DNS of ``channels.mail_dns``. Any ``Authentication-Results`` in the mail is ignored there.
- ``AuthResultsReader``: behind an inbound provider (the webhook), the provider's verdict is
  read from the ``Authentication-Results`` header of its own authserv-id, the topmost one
  (the provider adds its header on top and removes lookalikes, RFC 8601 section 5). Headers
  of any other authserv-id are anyone's writing and are ignored; with no authserv-id
  configured, the webhook's mail is unverified.

Fail closed: anything not proven (no signature, a DNS failure, an unreadable header, two
From addresses) leaves the sender unverified. Nothing here logs addresses or text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import AddressHeader
from email.message import EmailMessage
from email.parser import BytesParser
from functools import cache
from typing import Literal, Protocol

import authres
import dkim
import spf
from publicsuffixlist import PublicSuffixList

from channels.mail_dns import DnsFailure, MailDns, spf_resolver

log = logging.getLogger(__name__)

# What a failed check was for: the label of csba_mail_auth_failed_total.
CheckKind = Literal["customer", "seller_answer", "handover"]
Method = Literal["smtp", "authentication-results", "unchecked"]
MAX_SIGNATURES = 5  # a mail with more DKIM signatures gets only these checked (each costs DNS)
_HEADER_ERRORS = (ValueError, LookupError, TypeError, AttributeError, IndexError)


@dataclass(frozen=True, slots=True)
class SenderAuth:
    """What the checks proved about one mail's From address."""

    from_address: str | None  # the mail's one From address; None when it has not exactly one
    aligned: bool  # DMARC pass: From's domain is aligned with a passing DKIM or SPF domain
    method: Method
    dkim_domains: tuple[str, ...] = ()  # d= of each valid signature
    spf: str = "none"
    spf_domain: str | None = None

    @property
    def verified_address(self) -> str | None:
        """The From address when it is proven, else None."""
        return self.from_address if self.aligned else None

    def proves(self, address: str) -> bool:
        """Whether the mail provably comes from ``address`` (compared case-insensitively)."""
        proven = self.verified_address
        return proven is not None and proven.strip().lower() == address.strip().lower()

    def describe(self) -> str:
        """For a log line: how it was checked and what passed, never an address."""
        return (f"method={self.method} aligned={self.aligned} dkim_pass={len(self.dkim_domains)}"
                f" spf={self.spf}")


UNCHECKED = SenderAuth(None, False, "unchecked")


class SenderChecks(Protocol):
    """How a channel learns who sent a mail: on our SMTP server, and behind the webhook."""

    def check_smtp(self, raw: bytes, *, ip: str | None, helo: str | None,
                   mail_from: str) -> SenderAuth: ...

    def from_headers(self, raw: bytes) -> SenderAuth: ...


# --- domains ------------------------------------------------------------------------------

@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships; nothing is downloaded


def organisational_domain(domain: str) -> str:
    """The registrable domain ("shop.co.uk" for "mail.shop.co.uk"), RFC 7489 section 3.2."""
    name = domain.strip().rstrip(".").lower()
    return _suffixes().privatesuffix(name) or name


def aligned(domain: str | None, from_domain: str, *, strict: bool = False) -> bool:
    if not domain:
        return False
    a, b = domain.strip().rstrip(".").lower(), from_domain.strip().rstrip(".").lower()
    return a == b if strict else organisational_domain(a) == organisational_domain(b)


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().rstrip(".").lower()


def headers_of(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    assert isinstance(message, EmailMessage)
    return message


def single_from(message: EmailMessage) -> str | None:
    """The mail's From address when it has exactly one From header holding exactly one
    address (DMARC leaves any other mail without a verdict, so do we)."""
    try:
        headers = message.get_all("From") or []
        if len(headers) != 1 or not isinstance(headers[0], AddressHeader):
            return None
        addresses = headers[0].addresses
    except _HEADER_ERRORS:
        return None
    if len(addresses) != 1:
        return None
    address = addresses[0]
    if not address.username or not address.domain:
        return None
    return address.addr_spec.strip()


# --- on our own SMTP server ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DmarcModes:
    strict_dkim: bool = False
    strict_spf: bool = False


_TAG = re.compile(r"^\s*([a-z]+)\s*=\s*(.*?)\s*$", re.IGNORECASE)


def parse_dmarc(record: bytes) -> dict[str, str] | None:
    """The tags of a DMARC record, or None when it is not one (no leading v=DMARC1)."""
    parts = [m for part in record.decode("ascii", "replace").split(";")
             if (m := _TAG.match(part))]
    if not parts or parts[0].group(1).lower() != "v" or parts[0].group(2).upper() != "DMARC1":
        return None
    tags: dict[str, str] = {}
    for match in parts:
        tags.setdefault(match.group(1).lower(), match.group(2))
    return tags


@dataclass
class SmtpMailChecker:
    """DKIM, SPF and DMARC alignment of a mail that came to our SMTP server."""

    dns: MailDns = field(default_factory=MailDns)

    def check_smtp(self, raw: bytes, *, ip: str | None, helo: str | None,
                   mail_from: str) -> SenderAuth:
        from_address = single_from(headers_of(raw))
        dkim_domains = self._dkim(raw)
        spf_result, spf_domain = self._spf(ip, helo, mail_from)
        if from_address is None:
            return SenderAuth(None, False, "smtp", dkim_domains, spf_result, spf_domain)
        from_domain = _domain_of(from_address)
        modes = self._modes(from_domain)
        ok = any(aligned(d, from_domain, strict=modes.strict_dkim) for d in dkim_domains) or (
            spf_result == "pass" and aligned(spf_domain, from_domain, strict=modes.strict_spf))
        return SenderAuth(from_address, ok, "smtp", dkim_domains, spf_result, spf_domain)

    def _dkim(self, raw: bytes) -> tuple[str, ...]:
        try:
            signer = dkim.DKIM(raw, logger=log)
        except (dkim.DKIMException, *_HEADER_ERRORS):
            return ()
        count = sum(1 for name, _ in signer.headers if name.lower() == b"dkim-signature")
        passed: list[str] = []
        for idx in range(min(count, MAX_SIGNATURES)):
            try:
                valid = signer.verify(idx=idx, dnsfunc=self.dns.dkim_txt)
            except (dkim.DKIMException, DnsFailure, *_HEADER_ERRORS):
                continue
            fields = signer.signature_fields
            signed = [h.strip().lower() for h in fields.get(b"h", b"").split(b":")]
            # l= signs only the start of the body: anything could follow the signed part.
            if valid and b"l" not in fields and b"from" in signed:
                passed.append(fields[b"d"].decode("ascii", "replace").lower())
        return tuple(dict.fromkeys(passed))

    def _spf(self, ip: str | None, helo: str | None, mail_from: str) -> tuple[str, str | None]:
        """SPF of the envelope sender (or, for a bounce's empty one, of the HELO name)."""
        sender = mail_from.strip() or (f"postmaster@{helo}" if helo else "")
        domain = _domain_of(sender) if "@" in sender else None
        if not ip or not domain:
            return "none", domain
        try:
            with spf_resolver(self.dns):
                result, _, _ = spf.query(i=ip, s=sender, h=helo or domain, querytime=20).check()
        except (spf.SPFError, DnsFailure, *_HEADER_ERRORS):
            return "temperror", domain
        return str(result).lower(), domain

    def _modes(self, from_domain: str) -> DmarcModes:
        """adkim/aspf of the From domain's DMARC record (or its organisational domain's)."""
        org = organisational_domain(from_domain)
        for name in dict.fromkeys((from_domain, org)):
            try:
                records = [t for r in self.dns.txt(f"_dmarc.{name}")
                           if (t := parse_dmarc(r)) is not None]
            except DnsFailure:
                return DmarcModes(strict_dkim=True, strict_spf=True)  # unknown: the stricter
            if len(records) == 1:
                tags = records[0]
                return DmarcModes(strict_dkim=tags.get("adkim", "r").lower() == "s",
                                  strict_spf=tags.get("aspf", "r").lower() == "s")
        return DmarcModes()


# --- behind an inbound provider -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AuthResultsReader:
    """The provider's own verdict, from its ``Authentication-Results`` header."""

    authserv_id: str | None

    def read(self, raw: bytes) -> SenderAuth:
        message = headers_of(raw)
        from_address = single_from(message)
        if not self.authserv_id:
            return SenderAuth(from_address, False, "unchecked")
        header = self._own_header(message)
        if header is None or from_address is None:
            return SenderAuth(from_address, False, "authentication-results")
        from_domain = _domain_of(from_address)
        dkim_domains: list[str] = []
        spf_result, spf_domain, dmarc = "none", None, None
        for result in header.results:
            props = {f"{p.type}.{p.name}".lower(): str(p.value) for p in result.properties}
            outcome = str(result.result).lower()
            if result.method == "dkim" and outcome == "pass":
                dkim_domains.append(props.get("header.d", "").lower())
            elif result.method == "spf" and spf_domain is None:
                spf_result = outcome
                mailfrom = props.get("smtp.mailfrom", "")
                spf_domain = _domain_of(mailfrom) if mailfrom else None
            elif result.method == "dmarc" and dmarc is None:
                dmarc = (outcome == "pass"
                         and _domain_of(props.get("header.from", "")) == from_domain)
        if dmarc is None:  # no DMARC verdict: aligned as DMARC would judge it (relaxed)
            dmarc = any(aligned(d, from_domain) for d in dkim_domains) or (
                spf_result == "pass" and aligned(spf_domain, from_domain))
        return SenderAuth(from_address, dmarc, "authentication-results",
                          tuple(d for d in dkim_domains if d), spf_result, spf_domain)

    def _own_header(self, message: EmailMessage) -> authres.AuthenticationResultsHeader | None:
        wanted = (self.authserv_id or "").strip().lower()
        for value in message.get_all("Authentication-Results") or []:
            text = " ".join(str(value).split())
            if (text.split(";")[0].split("(")[0].split() or [""])[0].lower() != wanted:
                continue  # another authserv-id: anyone can write that
            try:  # the topmost of ours is the provider's own: no header below it counts
                return authres.parse_value(text)
            except (authres.AuthResError, *_HEADER_ERRORS):
                return None
        return None


@dataclass
class MailSenderChecks:
    """The service's checks: our SMTP server's own, and the provider's verdict on the
    webhook."""

    smtp: SmtpMailChecker
    provider: AuthResultsReader

    def check_smtp(self, raw: bytes, *, ip: str | None, helo: str | None,
                   mail_from: str) -> SenderAuth:
        return self.smtp.check_smtp(raw, ip=ip, helo=helo, mail_from=mail_from)

    def from_headers(self, raw: bytes) -> SenderAuth:
        return self.provider.read(raw)


def sender_checks(nameserver: str | None = None,
                  authserv_id: str | None = None) -> MailSenderChecks:
    return MailSenderChecks(SmtpMailChecker(MailDns(nameserver)), AuthResultsReader(authserv_id))


def addresses_in(values: Sequence[str]) -> frozenset[str]:
    """Bare lower-case addresses of envelope recipients (``<a@b>`` or ``a@b``)."""
    return frozenset(v.strip().strip("<>").strip().lower() for v in values if v.strip())
