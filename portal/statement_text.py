"""A statement's words in the seller's language: its tier, notes and discounts.

The statement itself (JSON API, CSV) says them in English; the page says them again from the
statement's figures in the page's language, and in English shows the statement's own words.
"""

from __future__ import annotations

from decimal import Decimal

from portal.strings import FALLBACK, say
from seller.fees import UNKNOWN_CPU
from seller.statements import Statement
from seller.terms import fee_schedule


def _percent(value: Decimal) -> str:
    return f"{(value * 100).normalize():f} %"


def tier_label(s: Statement, language: str) -> str:
    if language == FALLBACK or s.tier != UNKNOWN_CPU:
        return s.tier_label  # the bands ("CPU ≤ 5 %") read the same in every language
    table = fee_schedule(s.fee_table).table
    return say(language, "enrol_unknown_cpu", units=table.min_units_for_cpu,
               months=table.trailing_months)


def discount_reason(s: Statement, rule: str, reason: str, language: str) -> str:
    """A discount's reason; the only discount is the VTR table's cell of the month."""
    said = said_vtr_discount(s, language) if rule == s.vtr_rule else None
    return reason if language == FALLBACK or said is None else said


def said_vtr_discount(s: Statement, language: str) -> str | None:
    """The VTR discount's reason said from the statement's figures (None: no such discount);
    in English it reads as the statement's own reason."""
    if s.valid_tracking_rate is None or s.share_charged is None:
        return None
    text = say(language, "st_discount_vtr", rate=_percent(s.valid_tracking_rate),
               band=s.vtr_band, cpu_band=s.vtr_cpu_band, share=_percent(s.share_charged))
    return text + (say(language, "st_discount_free") if s.share_charged == 0 else "")


def statement_notes(s: Statement, language: str) -> list[str]:
    """A statement's notes as its page shows them; in English the statement's own."""
    return list(s.notes) if language == FALLBACK else said_notes(s, language)


def said_notes(s: Statement, language: str) -> list[str]:
    """The notes of ``build_statement`` (seller/statements.py) said from the statement's
    figures, in the same order; in English they read as the statement's own, but for the
    borrowed fee table's note, which the terms data words."""

    def t(key: str, **values: object) -> str:
        return say(language, key, **values)

    schedule = fee_schedule(s.marketplace)
    table = fee_schedule(s.fee_table).table
    notes = []
    if s.fee_table != s.marketplace:
        notes.append(t("st_note_borrowed", marketplace=s.marketplace, table=s.fee_table))
    if s.units_in_trial:
        notes.append(t("st_note_trial", units=s.units_in_trial, date=s.trial_ends_on,
                       days=schedule.trial_days))
    if s.tier == UNKNOWN_CPU:
        notes.append(t("st_note_unknown_cpu", units=table.min_units_for_cpu,
                       start=s.cpu_basis.from_month, end=s.cpu_basis.to_month))
    if s.share_charged is not None:
        notes.append(t("st_note_vtr", month=s.month, band=s.vtr_band, cpu_band=s.vtr_cpu_band,
                       share=_percent(s.share_charged)))
    elif s.valid_tracking_rate is None and schedule.vtr_rates is not None \
            and s.tier != UNKNOWN_CPU and s.subtotal > 0:
        notes.append(t("st_note_no_vtr", month=s.month))
    if not s.final:
        notes.append(t("st_note_provisional"))
    return notes
