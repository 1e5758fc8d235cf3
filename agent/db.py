"""The relational state: sellers, orders and product pages (SQLite by default, any SQLAlchemy URL).

Each record keeps its whole contract JSON, so fields other programs add survive a round
trip; the columns beside it exist only to look records up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Engine, String, create_engine, event, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from agent.records import Order, Seller
from knowledge.pages import ProductPage


class Base(DeclarativeBase):
    pass


class SellerRow(Base):
    __tablename__ = "sellers"
    seller_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class OrderRow(Base):
    __tablename__ = "orders"
    order_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    marketplace: Mapped[str] = mapped_column(String(2))
    customer_email: Mapped[str | None] = mapped_column(String(320), index=True)
    customer_phone: Mapped[str | None] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class PageRow(Base):
    __tablename__ = "product_pages"
    asin: Mapped[str] = mapped_column(String(10), primary_key=True)
    marketplace: Mapped[str] = mapped_column(String(2), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            # WAL lets the server read while an ingest writes; a busy timeout instead of errors.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=5000")
            connection.execute("PRAGMA foreign_keys=ON")
    Base.metadata.create_all(engine)
    return engine


def _json(record: Order | Seller | ProductPage) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude_none=False)


class Store:
    """Reads and writes the records; every write is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    def save(self, *, sellers: Iterable[Seller] = (), orders: Iterable[Order] = (),
             pages: Iterable[ProductPage] = ()) -> None:
        with self.sessions.begin() as session:
            for s in sellers:
                session.merge(SellerRow(seller_id=s.seller_id, data=_json(s)))
            for o in orders:
                session.merge(OrderRow(
                    order_id=o.order_id, seller_id=o.seller_id, marketplace=o.marketplace,
                    customer_email=(o.customer.email or "").lower() or None,
                    customer_phone=o.customer.phone, data=_json(o)))
            for p in pages:
                session.merge(PageRow(asin=p.asin, marketplace=p.marketplace,
                                      seller_id=p.seller_id, content_hash=p.content_hash(),
                                      data=_json(p)))

    def delete_pages(self, keys: Sequence[tuple[str, str]]) -> None:
        with self.sessions.begin() as session:
            for asin, marketplace in keys:
                row = session.get(PageRow, (asin, marketplace))
                if row is not None:
                    session.delete(row)

    def seller(self, seller_id: str) -> Seller | None:
        with Session(self.engine) as session:
            row = session.get(SellerRow, seller_id)
            return Seller.model_validate(row.data) if row else None

    def order(self, order_id: str) -> Order | None:
        with Session(self.engine) as session:
            row = session.get(OrderRow, order_id)
            return Order.model_validate(row.data) if row else None

    def page(self, asin: str, marketplace: str) -> ProductPage | None:
        with Session(self.engine) as session:
            row = session.get(PageRow, (asin, marketplace))
            return ProductPage.model_validate(row.data) if row else None

    def page_keys(self) -> set[tuple[str, str]]:
        with Session(self.engine) as session:
            return {(a, m) for a, m in session.execute(
                select(PageRow.asin, PageRow.marketplace))}

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as session:
            return {name: session.scalar(select(func.count()).select_from(table)) or 0
                    for name, table in (("sellers", SellerRow), ("orders", OrderRow),
                                        ("pages", PageRow))}
