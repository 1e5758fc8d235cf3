"""The page a seller reads before enrolling: what is covered, the fee tables with their VTR
rates, the free trial and how to opt out, then the button that confirms."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi.responses import HTMLResponse

from portal.auth import SignedIn
from portal.pages import page
from seller.enrolment_terms import EnrolmentTerms, percent

# The form field that proves the confirmation came from this page: the terms' version.
TERMS_FIELD = "terms_read_on"


def share_text(share: Decimal) -> str:
    """A VTR table's cell: the part of the fee charged."""
    return "free" if share == 0 else "full fee" if share == 1 else f"{percent(share)} of the fee"


def trial_text(terms: EnrolmentTerms, today: date) -> str:
    ends = terms.trial_ends_on
    if ends is None:
        return (f"The first {terms.trial_days} days from your enrolment are free: units "
                f"shipped in them cost nothing. The trial runs only once.")
    if ends > today:
        return (f"Your free trial began with your first enrolment and runs until {ends} "
                f"(units shipped before then cost nothing); it runs only once.")
    return (f"Your free trial began with your first enrolment and ended on {ends}; it runs "
            f"only once, so units you ship from now on are charged.")


def enrolment_page(seller: SignedIn, terms: EnrolmentTerms, *, enrolled: bool,
                   today: date) -> HTMLResponse:
    return page("enrolment.html", seller=seller.name, lang=seller.language, terms=terms,
                enrolled=enrolled,
                trial=trial_text(terms, today), csrf=seller.csrf("account"),
                terms_field=TERMS_FIELD, share_text=share_text)
