"""Customer contacts: the count a seller's fee tier is priced by (contacts per unit).

A contact is an inquiry the service handled about one of a seller's covered MFN orders; a
conversation about one order on one day counts once, whatever the channel and the number of
messages. Recorded in the turn's own transaction, so a replayed message counts nothing again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.messages import Outcome
from agent.models import ContactRow
from agent.records import Order

# A turn that sent the customer elsewhere was not handled by the service.
HANDLED_OUTCOMES: frozenset[str] = frozenset({"answered", "needs_info", "escalated"})


def record_contact(session: Session, *, order: Order | None, conversation_id: str,
                   channel: str, outcome: Outcome, now: datetime) -> ContactRow | None:
    """Count this turn as the order's contact of the day (UTC), or add it to that contact.

    A turn about an order outside the service (not enrolled at purchase, fulfilled by the
    marketplace) ends ``redirected`` and counts nothing.
    """
    if order is None or outcome not in HANDLED_OUTCOMES:
        return None
    day = now.date()
    row = session.scalar(select(ContactRow).where(ContactRow.order_id == order.order_id,
                                                  ContactRow.day == day))
    if row is None:
        row = ContactRow(seller_id=order.seller_id, marketplace=order.marketplace,
                         order_id=order.order_id, day=day, channel=channel, outcome=outcome,
                         turns=1, conversation_id=conversation_id)
        try:
            with session.begin_nested():  # another worker may count the same order and day
                session.add(row)
            return row
        except IntegrityError:
            row = session.scalar(select(ContactRow).where(ContactRow.order_id == order.order_id,
                                                          ContactRow.day == day))
            if row is None:
                raise
    row.turns += 1
    row.outcome = outcome
    return row
