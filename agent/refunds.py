"""The refund ledger: every refund the service issues, with its kind, reason, rule and date.

One refund per order line, so a replayed turn or an expired case cannot pay twice. Sellers
claim refunds back from this ledger (SAFE-T); it only records, it decides no refund itself.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import RefundRow
from csba.money import as_decimal

log = logging.getLogger(__name__)

RefundKind = Literal["returnless_refund", "refund_after_return", "goodwill"]
REFUND_KINDS: tuple[RefundKind, ...] = ("returnless_refund", "refund_after_return", "goodwill")
IssuedBy = Literal["service", "seller"]


def record_refund(session: Session, *, order_id: str, asin: str, seller_id: str,
                  amount: Decimal | float, currency: str, kind: RefundKind, reason: str | None,
                  rule: str, issued_at: datetime, case_id: str | None = None,
                  issued_by: IssuedBy = "service",
                  return_delivered_on: date | None = None) -> tuple[RefundRow, bool]:
    """The ledger row for this order line, and whether this call wrote it."""
    existing = session.scalar(select(RefundRow).where(RefundRow.order_id == order_id,
                                                      RefundRow.asin == asin))
    if existing is not None:  # one refund per order line, however often the customer asks
        return existing, False
    row = RefundRow(order_id=order_id, asin=asin, seller_id=seller_id, amount=as_decimal(amount),
                    currency=currency, rule=rule, case_id=case_id, issued_at=issued_at,
                    kind=kind, reason=reason, issued_by=issued_by,
                    return_delivered_on=return_delivered_on)
    session.add(row)
    session.flush()
    log.info("refund %s recorded: order=%s kind=%s by=%s", row.id, order_id, kind, issued_by)
    return row, True
