"""The portal page a seller reads before enrolling: what is covered, the fee tables with their
VTR rates, the free trial and how to opt out, then the button that confirms.

Server-rendered; every value passes through html.escape.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from html import escape

from channels.seller_portal import _layout
from seller.enrolment_terms import EnrolmentTerms, FeeTableTerms, percent

# The form field that proves the confirmation came from this page: the terms' version.
TERMS_FIELD = "terms_read_on"


def _share(share: Decimal) -> str:
    return "free" if share == 0 else "full fee" if share == 1 else f"{percent(share)} of the fee"


def _fee_table(table: FeeTableTerms) -> str:
    fees = "".join(f"<tr><td>{escape(b.cpu_band)}</td><td class=\"num\">"
                   f"{escape(str(b.fee_per_unit))} {escape(table.currency)}</td></tr>"
                   for b in table.bands)
    fees += (f"<tr><td>Unknown CPU (fewer than {table.min_units_for_cpu} units in "
             f"{table.trailing_months} months)</td><td class=\"num\">"
             f"{escape(str(table.unknown_cpu_fee_per_unit))} {escape(table.currency)}</td></tr>")
    heads = "".join(f"<th>{escape(b)}</th>" for b in table.vtr_bands)
    vtr = "".join(f"<tr><td>{escape(r.cpu_band)}</td>"
                  + "".join(f"<td>{escape(_share(s))}</td>" for s in r.shares) + "</tr>"
                  for r in table.vtr_rows)
    vtr_table = (f"<p>With a good valid tracking rate (VTR) in the billed month the fee is free "
                 f"or discounted (below the lowest band: the full fee):</p><table><thead><tr>"
                 f"<th>Contacts per unit</th>{heads}</tr></thead><tbody>{vtr}</tbody></table>"
                 if table.vtr_rows else "")
    return (f"<h3>{escape(', '.join(table.marketplaces))} ({escape(table.currency)}, the "
            f"{escape(table.table_of)} table)</h3><table><thead><tr><th>Contacts per unit "
            f"(CPU)</th><th>Fee per shipped unit</th></tr></thead><tbody>{fees}</tbody></table>"
            f'{vtr_table}<p class="muted">Source: {escape(table.source)}</p>')


def render_enrolment(seller: str, terms: EnrolmentTerms, csrf: str, *, enrolled: bool,
                     today: date) -> str:
    covered = "".join(f"<li>{escape(line)}</li>" for line in terms.covered)
    not_covered = "".join(f"<li>{escape(line)}</li>" for line in terms.not_covered)
    ends = terms.trial_ends_on
    trial = (f"The first {terms.trial_days} days from your enrolment are free: units shipped "
             f"in them cost nothing. The trial runs only once." if ends is None else
             f"Your free trial began with your first enrolment and runs until {ends} (units "
             f"shipped before then cost nothing); it runs only once." if ends > today else
             f"Your free trial began with your first enrolment and ended on {ends}; it runs "
             f"only once, so units you ship from now on are charged.")
    parts = [
        "<h1>Customer service by the marketplace: before you enrol</h1>",
        f"<h2>What is covered</h2><ul>{covered}</ul>",
        f"<h2>What is not covered</h2><ul>{not_covered}</ul>",
        "<h2>Fees</h2><p>You pay per shipped unit of covered orders. The fee depends on the "
        "contacts per unit (CPU): customer contacts the service handled for you divided by the "
        "units you shipped, over the three full months before the month billed; the band is "
        "fixed on the 1st of each month.</p>",
        *(_fee_table(t) for t in terms.fee_tables),
        f"<h2>Free trial</h2><p>{trial}</p>",
        f"<h2>How to opt out</h2><p>{escape(terms.opt_out)}</p>",
    ]
    if enrolled:
        parts.append('<p class="notice">You are enrolled.</p>')
    else:
        parts.append(
            '<form method="post" action="/seller/account/enrolment">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            '<input type="hidden" name="action" value="enrol">'
            f'<input type="hidden" name="{TERMS_FIELD}" value="{terms.read_on}">'
            '<p><button class="primary">I have read this: enrol from today</button> '
            '<a href="/seller/account">Not now</a></p></form>')
    return _layout("Before you enrol", "".join(parts), seller)
