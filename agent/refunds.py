"""The refund ledger: every refund the service issues, with its kind, reason, rule and date.

A refund is recorded once per order line and cause (the turn's message, the expired case, the
operator's request), so a replayed turn or an expired case cannot pay twice; a later cause may
refund the line's other units ("the other lamp broke too"), never more units than were
ordered. Sellers claim refunds back from this ledger (SAFE-T); it only records, it decides no
refund itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.models import OrderRow, RefundRow
from base.money import as_decimal

log = logging.getLogger(__name__)

RefundKind = Literal["returnless_refund", "refund_after_return", "goodwill"]
REFUND_KINDS: tuple[RefundKind, ...] = ("returnless_refund", "refund_after_return", "goodwill")
IssuedBy = Literal["service", "seller"]
# "recorded": this call wrote the row; "replayed": the cause was recorded before and its row
# is returned (no second payment); "line_refunded": the line has too few units left
# unrefunded, nothing was recorded and no refund may be promised.
RecordOutcome = Literal["recorded", "replayed", "line_refunded"]


@dataclass(frozen=True, slots=True)
class RecordedRefund:
    outcome: RecordOutcome
    row: RefundRow | None  # empty when the line was refunded already
    refunded_units: int  # the line's units refunded before this call

    @property
    def issued(self) -> bool:
        """A refund stands for this cause: the customer may be told it is issued."""
        return self.row is not None


def message_cause(message_id: int) -> str:
    return f"message:{message_id}"


def case_cause(case_id: str) -> str:
    return f"case:{case_id}"


def operator_cause(request_id: str) -> str:
    return f"operator:{request_id}"


def refunded_units(session: Session, *, order_id: str, asin: str, ordered: int) -> int:
    """The units of an order line refunded so far; a row from before units were recorded
    refunded the whole line."""
    rows = session.scalars(select(RefundRow.units).where(RefundRow.order_id == order_id,
                                                         RefundRow.asin == asin))
    return min(ordered, sum(ordered if units is None else units for units in rows))


def record_refund(session: Session, *, order_id: str, asin: str, seller_id: str,
                  amount: Decimal | float, currency: str, kind: RefundKind, reason: str | None,
                  rule: str, issued_at: datetime, units: int, ordered: int, cause: str,
                  case_id: str | None = None, issued_by: IssuedBy = "service",
                  return_delivered_on: date | None = None) -> RecordedRefund:
    """Record a refund of ``units`` of a line of ``ordered`` units, caused by ``cause``."""
    if not 1 <= units <= ordered:
        raise ValueError(f"{units} units of a line of {ordered}")
    # Two causes on one line at once (two workers, PostgreSQL) must not both see the units
    # free: the order's row is locked until the transaction ends. (SQLite writers hold the
    # database's one write lock already; FOR UPDATE does nothing there.)
    session.execute(select(OrderRow.order_id).where(OrderRow.order_id == order_id)
                    .with_for_update())
    before = refunded_units(session, order_id=order_id, asin=asin, ordered=ordered)
    existing = session.scalar(select(RefundRow).where(
        RefundRow.order_id == order_id, RefundRow.asin == asin, RefundRow.cause == cause))
    if existing is not None:  # the same turn, case or request again: paid once
        return RecordedRefund("replayed", existing, before)
    if before + units > ordered:
        log.info("refund refused: order=%s line refunded for %d of %d units", order_id,
                 before, ordered)
        return RecordedRefund("line_refunded", None, before)
    row = RefundRow(order_id=order_id, asin=asin, seller_id=seller_id, amount=as_decimal(amount),
                    currency=currency, rule=rule, case_id=case_id, issued_at=issued_at,
                    kind=kind, reason=reason, issued_by=issued_by,
                    return_delivered_on=return_delivered_on, units=units, cause=cause)
    session.add(row)
    session.flush()
    log.info("refund %s recorded: order=%s kind=%s by=%s units=%d", row.id, order_id, kind,
             issued_by, units)
    return RecordedRefund("recorded", row, before)
