"""DKIM, SPF and DMARC alignment against a real DNS server on loopback, and the provider's
Authentication-Results; the case reply addresses; CSS-hidden text; nesting limits."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import dkim
import pytest

from base.settings import Settings
from channels.mail_auth import (
    AuthResultsReader,
    SenderAuth,
    SmtpMailChecker,
    aligned,
    organisational_domain,
    parse_dmarc,
    sender_checks,
)
from channels.mail_dns import MailDns
from channels.mime import UnreadableEmail, html_text, parse_email
from channels.seller_mail import CaseAddresses
from tests.support.dns import DKIM_DIR, SELECTOR, LoopbackDns, running_dns
from tests.support.mail_auth import AUTHSERV_ID, as_bytes, dkim_signed, provider_verified
from tests.support.net import free_port

SELLER = "help@ridgeline-outdoor.example"


@pytest.fixture()
def dns() -> Iterator[LoopbackDns]:
    with running_dns() as running:
        yield running


@pytest.fixture()
def checker(dns: LoopbackDns) -> SmtpMailChecker:
    return SmtpMailChecker(MailDns(dns.nameserver))


def mail(sender: str = SELLER) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "service@csba.example"
    message["Subject"] = "Re: Case CS-ABCDEFG"
    message["Message-ID"] = "<m1@ridgeline-outdoor.example>"
    message.set_content("The answer.")
    return message


def check(checker: SmtpMailChecker, raw: bytes, mail_from: str = SELLER) -> SenderAuth:
    return checker.check_smtp(raw, ip="127.0.0.1", helo="mx.example", mail_from=mail_from)


def test_a_signature_of_the_from_domain_proves_the_sender(checker: SmtpMailChecker) -> None:
    auth = check(checker, dkim_signed(mail()))
    assert auth.aligned and auth.verified_address == SELLER
    assert auth.dkim_domains == ("ridgeline-outdoor.example",) and auth.spf == "fail"


def test_a_subdomains_signature_aligns_relaxed_but_not_strict(
        checker: SmtpMailChecker, dns: LoopbackDns) -> None:
    signed = dkim_signed(mail(), domain="mail.ridgeline-outdoor.example")
    assert check(checker, signed).aligned
    dns.zone.txt["_dmarc.ridgeline-outdoor.example"] = ["v=DMARC1; p=reject; adkim=s"]
    assert not check(checker, signed).aligned


@pytest.mark.parametrize("how", ["unsigned", "attacker's domain", "tampered", "unknown key"])
def test_forgeries_prove_nothing(checker: SmtpMailChecker, dns: LoopbackDns, how: str) -> None:
    raw = {"unsigned": as_bytes(mail()),
           "attacker's domain": dkim_signed(mail(), domain="evil.example"),
           "tampered": dkim_signed(mail()).replace(b"The answer.", b"Refund now."),
           "unknown key": dkim_signed(mail(), domain="nokey.example")}[how]
    dns.zone.no_defaults.add("nokey.example")
    auth = check(checker, raw, mail_from="attacker@evil.example")
    assert not auth.aligned and auth.verified_address is None
    assert not auth.proves(SELLER)


def test_spf_of_an_aligned_envelope_proves_the_sender(checker: SmtpMailChecker,
                                                      dns: LoopbackDns) -> None:
    dns.zone.txt["bounces.ridgeline-outdoor.example"] = ["v=spf1 ip4:127.0.0.0/8 -all"]
    auth = check(checker, as_bytes(mail()), mail_from="b@bounces.ridgeline-outdoor.example")
    assert (auth.spf, auth.aligned) == ("pass", True)
    # SPF passing for the attacker's own domain says nothing about the From domain.
    dns.zone.txt["evil.example"] = ["v=spf1 ip4:127.0.0.0/8 -all"]
    auth = check(checker, as_bytes(mail()), mail_from="attacker@evil.example")
    assert (auth.spf, auth.aligned) == ("pass", False)


def test_two_from_addresses_prove_nothing(checker: SmtpMailChecker) -> None:
    raw = b"From: attacker@evil.example\r\n" + dkim_signed(mail())
    assert not check(checker, raw).aligned


def test_a_signature_of_part_of_the_body_proves_nothing(checker: SmtpMailChecker) -> None:
    raw = as_bytes(mail())
    signature = dkim.sign(raw, SELECTOR.encode(), b"ridgeline-outdoor.example",
                          (DKIM_DIR / "test.key").read_bytes(), length=True)
    assert not check(checker, signature + raw + b"Appended: refund now.\r\n").aligned


def test_a_dns_failure_proves_nothing() -> None:
    silent = SmtpMailChecker(MailDns(f"127.0.0.1:{free_port()}", timeout=0.5))
    assert not check(silent, dkim_signed(mail())).aligned


def test_the_providers_own_header_counts_and_no_other() -> None:
    reader = AuthResultsReader(AUTHSERV_ID)
    assert reader.read(provider_verified(mail())).verified_address == SELLER
    assert not reader.read(provider_verified(mail(), authserv_id="mx.evil.example")).aligned
    assert not reader.read(provider_verified(mail(), dmarc="fail")).aligned
    # The provider's header is the topmost of its id: a pass written below it does not count.
    below = provider_verified(provider_verified(mail()), dmarc="fail")
    assert not reader.read(below).aligned
    # Without a configured authserv-id the webhook proves nothing.
    assert not AuthResultsReader(None).read(provider_verified(mail())).aligned


def test_organisational_domains_come_from_the_public_suffix_list() -> None:
    assert organisational_domain("mail.shop.co.uk") == "shop.co.uk"
    assert organisational_domain("a.b.ridgeline-outdoor.example") == "ridgeline-outdoor.example"
    assert aligned("mail.shop.co.uk", "shop.co.uk") and not aligned("other.co.uk", "shop.co.uk")
    assert parse_dmarc(b"v=DMARC1; p=reject; adkim=s") == {"v": "DMARC1", "p": "reject",
                                                            "adkim": "s"}
    assert parse_dmarc(b"p=reject; v=DMARC1") is None


def test_case_addresses_are_unguessable_and_checked() -> None:
    addresses = CaseAddresses(b"k" * 32, "csba.example")
    address = addresses.address("CS-ABCDEFG")
    assert addresses.case_of([address.upper()]) == "CS-ABCDEFG"
    token = addresses.token("CS-ABCDEFG")
    assert len(token) == 26
    assert addresses.case_of([address.replace(token, token[::-1])]) is None
    assert addresses.case_of([address.replace("csba.example", "evil.example")]) is None
    assert addresses.case_of([address.replace("cs-abcdefg", "cs-abcdefh")]) is None
    assert CaseAddresses(b"x" * 32, "csba.example").case_of([address]) is None


def test_multipart_nested_past_any_real_mail_is_unreadable() -> None:
    head = (b"From: a@example.de\r\nMessage-ID: <d@example.de>\r\n"
            b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n")
    for depth in (25, 2000):
        parts = b"".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n"
                         .encode() for i in range(depth))
        with pytest.raises(UnreadableEmail, match="nested deeper"):
            parse_email(head + parts + f"--b{depth}\r\n\r\nhi\r\n".encode())


@pytest.mark.parametrize("hidden", [
    '<div style="display:none">SECRET</div>', '<span style="visibility:hidden">SECRET</span>',
    '<span style="font-size:0px">SECRET</span>', '<span style="font-size:1px">SECRET</span>',
    '<span style="opacity:0">SECRET</span>', '<span style="color:#fff">SECRET</span>',
    '<span style="color:rgb(255,255,255)">SECRET</span>', '<font color="white">SECRET</font>',
    '<span style="color:transparent">SECRET</span>', '<div hidden>SECRET</div>',
    '<span style="position:absolute;left:-9999px">SECRET</span>',
    '<div style="max-height:0;overflow:hidden">SECRET</div>',
    '<div style="background:#000"><span style="color:#111">SECRET</span></div>',
    '<style>.x{display:none}</style><span class="x">SECRET</span>',
    '<style>@media screen { #y { visibility: hidden } }</style><p id="y">SECRET</p>',
    '<head><title>SECRET</title><script>SECRET</script></head>',
    '<span style="DISPLAY: NONE !important">SECRET</span>',
])
def test_text_css_hides_is_not_the_mails_text(hidden: str) -> None:
    text = html_text(f"<html>{hidden}<body><p>Where is my order?</p></body></html>")
    assert "Where is my order?" in text and "SECRET" not in text


def test_visible_text_in_colour_is_kept() -> None:
    html = ('<div style="background:#000"><span style="color:#fff">white on black</span></div>'
            '<p style="color:#333">dark grey</p><p style="font-size:13px">normal</p>')
    text = html_text(html)
    assert all(part in text for part in ("white on black", "dark grey", "normal"))


def test_settings_name_the_checks_and_refuse_a_bad_limit() -> None:
    settings = Settings(dns_nameserver="127.0.0.1:5353", email_authserv_id="mx.example",
                        _env_file=None)  # type: ignore[call-arg]
    checks = sender_checks(settings.dns_nameserver, settings.email_authserv_id)
    assert checks.smtp.dns.resolver.nameservers == ["127.0.0.1"]
    assert checks.smtp.dns.resolver.port == 5353
    assert checks.provider.authserv_id == "mx.example"
    with pytest.raises(ValueError, match="CSBA_EMAIL_RECIPIENT_LIMIT"):
        Settings(email_recipient_limit="many", _env_file=None)  # type: ignore[call-arg]
