"""What a seller is never shown of a customer: their name, email address or phone number.

Cases are meant to hold none of them; ``redact_customer`` is the seller side's own guard, so
a text that quotes the customer's words (a case, a question the page could not answer) still
shows the seller nothing that identifies them.
"""

from __future__ import annotations

import re

from agent.records import Customer

REDACTED = "[customer]"
_PHONE_LIKE = re.compile(r"\+?\d[\d\s().\-/]{5,}\d")
_MIN_PHONE_DIGITS = 7


def redact_customer(text: str, customer: Customer | None) -> str:
    """The text without the customer's name, email address or phone number.

    Cases are meant to hold none of them; this is the portal's own guard, so a case text
    that quotes the customer's words still shows the seller nothing that identifies them.
    """
    if customer is None or not text:
        return text
    if customer.email:
        text = re.sub(re.escape(customer.email), REDACTED, text, flags=re.IGNORECASE)
    for part in re.findall(r"\w{2,}", customer.name or ""):
        text = re.sub(rf"\b{re.escape(part)}\b", REDACTED, text, flags=re.IGNORECASE)
    phone = re.sub(r"\D", "", customer.phone or "")
    if len(phone) >= _MIN_PHONE_DIGITS:
        def scrub(match: re.Match[str]) -> str:
            digits = re.sub(r"\D", "", match.group())
            same = len(digits) >= _MIN_PHONE_DIGITS and (phone.endswith(digits)
                                                         or digits.endswith(phone))
            return REDACTED if same else match.group()
        text = _PHONE_LIKE.sub(scrub, text)
    return text
