"""The portal's HTML: Jinja2 templates in ``portal/templates``, autoescaped, on one layout.

Every value a template shows is escaped by Jinja2 itself; only a chart the portal draws
(``portal/charts.py``) is passed in as markup.
"""

from __future__ import annotations

from datetime import datetime

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from base.clock import as_utc
from portal.strings import FALLBACK, say, strings_for

# What a case's status badge says to its seller, in English; the pages say it in the
# seller's language (``status_*`` in portal/strings.json).
CASE_STATUS_LABELS = {"awaiting_seller": "awaiting your answer", "answered": "answered",
                      "resolved": "resolved", "expired": "expired: decided by the service"}


def when(value: datetime | None) -> str:
    """A moment as the portal shows it, in UTC; nothing known is a dash."""
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def hours_until(due: datetime, now: datetime) -> float:
    return (as_utc(due) - as_utc(now)).total_seconds() / 3600


_templates = Environment(
    loader=PackageLoader("portal"), autoescape=select_autoescape(),
    # A missing value is a bug to see, not an empty cell; block tags leave no blank lines.
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_templates.filters["when"] = when
_templates.globals.update(hours_until=hours_until, CASE_STATUS_LABELS=CASE_STATUS_LABELS)


def render(template: str, *, lang: str = FALLBACK, **context: object) -> str:
    """A template in ``lang``: ``<html lang>`` and every string it says through ``t``."""
    def t(key: str, **values: object) -> str:
        return say(lang, key, **values)

    def named(group: str, code: str) -> str:
        """A code's name (``{group}_{code}``: a case category, a refund kind); a code the
        table lacks shows as itself. The JSON API keeps the codes."""
        key = f"{group}_{code}"
        return say(lang, key) if key in strings_for(lang) else code

    return _templates.get_template(template).render(
        {**context, "lang": lang, "t": t, "named": named})


def page(template: str, *, status: int = 200, lang: str = FALLBACK,
         **context: object) -> HTMLResponse:
    """A portal page in ``lang``; ``seller`` (the signed-in seller's name) shows the
    portal's menu."""
    return HTMLResponse(render(template, lang=lang, **context), status_code=status)
