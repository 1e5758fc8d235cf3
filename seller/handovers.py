"""The record of hand-overs: the customer inquiries sellers handed to the service.

The hand-over desk (``seller/handover_desk.py``) writes them; the seller's reports and
summaries read them. Kept here, below both, so the seller side reads its hand-overs without
reaching up into a channel.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, select
from sqlalchemy.orm import Mapped, mapped_column

from agent.db import Base, Store


class HandoverRow(Base):
    """One hand-over, taken over or refused, by the key of what carried it (the forward's
    Message-ID, or the seller's own reference): a redelivery is processed once.

    ``conversation_id`` links to the customer's conversation; it is never shown to a seller.
    """

    __tablename__ = "handovers"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    source_key: Mapped[str] = mapped_column(String(300), unique=True)
    source: Mapped[str] = mapped_column(String(8))
    seller_id: Mapped[str | None] = mapped_column(String(64), index=True)
    order_id: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str | None] = mapped_column(String(48))
    outcome: Mapped[str | None] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(8))  # "email" or "sms"
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def ensure_tables(store: Store) -> None:
    Base.metadata.create_all(store.engine, tables=[HandoverRow.__table__])  # type: ignore[list-item]


def handover_rows(store: Store, seller_id: str, order_id: str | None = None
                  ) -> list[HandoverRow]:
    """A seller's hand-overs, newest first; of one order when ``order_id`` is given."""
    ensure_tables(store)
    with store.reads() as session:
        query = select(HandoverRow).where(HandoverRow.seller_id == seller_id)
        if order_id is not None:
            query = query.where(HandoverRow.order_id == order_id)
        return list(session.scalars(query.order_by(HandoverRow.created_at.desc())))
