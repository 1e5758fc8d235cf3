"""The page a seller reads before enrolling: what is covered, the fee tables with their VTR
rates, the free trial and how to opt out, then the button that confirms."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi.responses import HTMLResponse

from portal.auth import SignedIn
from portal.pages import page
from portal.strings import FALLBACK, say
from seller.enrolment_terms import EnrolmentTerms, percent, scope_texts

# The form field that proves the confirmation came from this page: the terms' version.
TERMS_FIELD = "terms_read_on"


def share_text(share: Decimal, language: str = FALLBACK) -> str:
    """A VTR table's cell: the part of the fee charged."""
    if share in (0, 1):
        return say(language, "share_free" if share == 0 else "share_full")
    return say(language, "share_part", percent=percent(share))


def trial_text(terms: EnrolmentTerms, today: date, language: str = FALLBACK) -> str:
    ends = terms.trial_ends_on
    if ends is None:
        return say(language, "trial_unused", days=terms.trial_days)
    if ends > today:
        return say(language, "trial_running", date=ends)
    return say(language, "trial_ended", date=ends)


def enrolment_page(seller: SignedIn, terms: EnrolmentTerms, *, enrolled: bool,
                   today: date) -> HTMLResponse:
    return page("enrolment.html", seller=seller.name, lang=seller.language, terms=terms,
                scope=scope_texts(seller.language), enrolled=enrolled,
                trial=trial_text(terms, today, seller.language), csrf=seller.csrf("account"),
                terms_field=TERMS_FIELD,
                share_text=lambda share: share_text(share, seller.language))
