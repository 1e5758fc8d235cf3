"""The record of hand-overs: the customer inquiries sellers handed to the service.

The hand-over desk (``seller/handover_desk.py``) writes them; the seller's reports and
summaries read them. Kept here, below both, so the seller side reads its hand-overs without
reaching up into a channel.
"""

from __future__ import annotations

from sqlalchemy import select

from agent.db import Store
from agent.models import HandoverRow


def handover_rows(store: Store, seller_id: str, order_id: str | None = None
                  ) -> list[HandoverRow]:
    """A seller's hand-overs, newest first; of one order when ``order_id`` is given."""
    with store.reads() as session:
        query = select(HandoverRow).where(HandoverRow.seller_id == seller_id)
        if order_id is not None:
            query = query.where(HandoverRow.order_id == order_id)
        return list(session.scalars(query.order_by(HandoverRow.created_at.desc())))
