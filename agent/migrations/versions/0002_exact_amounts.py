"""Amounts of money as ``NUMERIC`` on PostgreSQL: refunds, and the amounts claimed and granted
on them (decimal text until now, on every database).

SQLite keeps the decimal text: its ``NUMERIC`` would go through a float
(``agent.models.ExactAmount`` reads and writes both).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Numeric, String

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

AMOUNTS = (("refunds", "amount"), ("claims", "amount_claimed"), ("claims", "amount_granted"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in AMOUNTS:
        # Unconstrained NUMERIC keeps each amount's own digits: 28.98 stays 28.98, 1499 stays 1499.
        op.alter_column(table, column, type_=Numeric(), postgresql_using=f"{column}::numeric")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in AMOUNTS:
        length = 32 if table == "refunds" else 24
        op.alter_column(table, column, type_=String(length),
                        postgresql_using=f"{column}::text")

