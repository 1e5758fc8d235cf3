"""What page or seller text may show a customer of links, email addresses and phone numbers.

A page field or a seller's answer is quoted as written, so a link or a number in it would reach
the customer with the service's authority: a phishing site, a premium-rate line, a seller's
private channel around the marketplace. Only the marketplace's own site (``own_domains`` in
``knowledge/policy/<MP>.json``) and the seller's registered email and phone (sellers.jsonl) are
kept; anything else becomes a neutral marker in the customer's language. This module only
filters text: it decides nothing else and never adds a word of its own besides the marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from agent.records import Seller
from agent.replies import render
from agent.understanding import EMAIL
from knowledge.policy import load_policy

# Bare domains ("evil-shop.ru/login") count as links only with a top-level domain seen in
# links: "Art.Nr" or "z.B." in a page must stay text.
_TLDS = ("com|net|org|info|biz|de|es|fr|it|uk|eu|at|ch|nl|be|pl|pt|se|dk|no|fi|cz|ru|cn|jp|"
         "us|ca|au|in|br|mx|io|co|me|ly|gl|to|tv|cc|xyz|top|shop|store|online|site|app|link|"
         "click|live|club|win|vip|icu|buzz|page")
_LINK = (r"(?:https?://|www\.)[^\s<>\"')\]]+"
         rf"|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})\b(?:/[^\s<>\"')\]]*)?")
# Phone numbers as written to be dialled: international (+49 ..., 0049 ...), national with
# a trunk 0 and a separator (030 1234567, 0800-123 45 67), or North American (555) 123-4567.
# Not an EAN, a model number, a range such as 1200-1800 or a date: no prefix, no trunk 0
# followed by a group of three digits or more.
_PHONE = (r"(?<![\w+])(?:\+|00)\d[\d \u00a0()./-]{5,20}\d(?!\w)"
          r"|(?<![\w+])\(?0\d{1,5}\)?[ /-]\d{3,}(?:[ \u00a0-]\d{2,})*(?!\w)"
          r"|(?<![\w+])\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\w)")
_CONTACT = re.compile(rf"(?P<email>{EMAIL.pattern})|(?P<link>{_LINK})|(?P<phone>{_PHONE})",
                      re.IGNORECASE)
_MIN_PHONE_DIGITS = 7
_TRAILING = ".,;:!?"


def _digits(number: str) -> str:
    digits = re.sub(r"\D", "", number.replace("(0)", ""))
    return digits[2:] if digits.startswith("00") else digits


def _same_number(written: str, registered: str) -> bool:
    """Whether ``written`` dials ``registered`` (international or national form)."""
    a, b = _digits(written), _digits(registered)
    if len(a) < _MIN_PHONE_DIGITS or len(b) < _MIN_PHONE_DIGITS:
        return False
    if a == b:
        return True
    # "030 1234567" is "+49 30 1234567" at home: the trunk 0 stands for the country code.
    return a.startswith("0") and b.endswith(a[1:]) and len(b) - len(a) + 1 <= 3


@dataclass(frozen=True, slots=True)
class ContactFilter:
    """The links and contact details a customer of one marketplace may see from one seller."""

    own_domains: tuple[str, ...]
    seller_email: str | None = None
    seller_phone: str | None = None

    def _link_allowed(self, link: str) -> bool:
        try:
            host = urlsplit(link if "://" in link else f"https://{link}").hostname or ""
        except ValueError:
            return False
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.own_domains)

    def allowed(self, kind: str, value: str) -> bool:
        if kind == "email":
            return bool(self.seller_email) and value.lower() == (self.seller_email or "").lower()
        if kind == "link":
            return self._link_allowed(value)
        return bool(self.seller_phone) and _same_number(value, self.seller_phone or "")

    def clean(self, text: str, language: str) -> str:
        """``text`` with every link, address and number it may not show replaced by a marker."""
        def replace(match: re.Match[str]) -> str:
            kind = match.lastgroup or "link"
            value = match.group()
            if kind == "phone" and len(_digits(value)) < _MIN_PHONE_DIGITS:
                return value
            tail = ""
            if kind == "link":  # a sentence's full stop is not part of the link
                stripped = value.rstrip(_TRAILING)
                value, tail = stripped, value[len(stripped):]
            if self.allowed(kind, value):
                return value + tail
            key = "removed_link" if kind == "link" else "removed_contact"
            return render(key, language) + tail
        return _CONTACT.sub(replace, text)


def contact_filter(marketplace: str, seller: Seller | None) -> ContactFilter:
    """The filter for text quoted to a customer of ``marketplace`` about ``seller``'s item."""
    try:
        domains = tuple(d.lower() for d in load_policy(marketplace).own_domains)
    except ValueError:  # no policy data for the marketplace: no site is known to be its own
        domains = ()
    return ContactFilter(own_domains=domains,
                         seller_email=seller.email if seller else None,
                         seller_phone=seller.phone if seller else None)
