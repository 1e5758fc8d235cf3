"""What versions before migrations changed at each start, done once by the baseline revision on
a database one of them made: the columns added since, refund amounts as exact text, one refund
per order line and cause, one claim per refund, and the indexes of tables that existed.

Each step looks before it changes, so a database already in that shape is left alone, and a
new (empty) database passes through untouched.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, MetaData, String, Table, inspect, text

from base.money import as_decimal, round_money
from knowledge.policy import currency_decimals

log = logging.getLogger(__name__)


def bring_up(connection: Connection, snapshot: MetaData) -> None:
    """Bring the tables an earlier version made to ``snapshot``'s shape, keeping every row."""
    existing = set(inspect(connection).get_table_names())
    if not existing:
        return
    add_missing_columns(connection, snapshot, existing)
    if "refunds" in existing:
        amounts_as_decimal_text(connection)
        refunds_unique_per_cause(connection, snapshot.tables["refunds"])
    if "claims" in existing:
        claims_per_refund(connection, snapshot.tables["claims"])
    for table in snapshot.sorted_tables:
        if table.name in existing:
            for index in table.indexes:
                index.create(connection, checkfirst=True)


def add_missing_columns(connection: Connection, snapshot: MetaData, existing: set[str]) -> None:
    """Earlier versions made missing tables but never missing columns: the optional columns
    added since (nullable or with a default) are added."""
    inspector = inspect(connection)
    for table in snapshot.sorted_tables:
        if table.name not in existing:
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            ddl = f"{column.name} {column.type.compile(dialect=connection.dialect)}"
            default = getattr(column.server_default, "arg", None)
            if isinstance(default, str):
                ddl += " DEFAULT '{}'".format(default.replace("'", "''"))
            connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")


def amounts_as_decimal_text(connection: Connection) -> None:
    """Refund amounts stored as floats by the first versions become exact decimal text,
    rounded to their currency's smallest unit."""
    columns = inspect(connection).get_columns("refunds")
    amount = next(c for c in columns if c["name"] == "amount")
    if isinstance(amount["type"], String):
        return
    connection.exec_driver_sql("ALTER TABLE refunds ADD COLUMN amount_text VARCHAR(32)")
    rows = connection.exec_driver_sql("SELECT id, amount, currency FROM refunds").all()
    for row_id, value, currency in rows:
        exact = as_decimal(value)
        try:
            exact = round_money(exact, currency_decimals(currency))
        except ValueError:  # a currency no marketplace pays in: kept as it was
            pass
        connection.execute(text("UPDATE refunds SET amount_text = :amount WHERE id = :id"),
                           {"amount": format(exact, "f"), "id": row_id})
    connection.exec_driver_sql("ALTER TABLE refunds DROP COLUMN amount")
    connection.exec_driver_sql("ALTER TABLE refunds RENAME COLUMN amount_text TO amount")


def _unique_on(connection: Connection, table: str, columns: list[str]
               ) -> tuple[list[str], list[str]]:
    """The names of the unique constraints and unique indexes on exactly ``columns``."""
    inspector = inspect(connection)
    constraints = [u["name"] or "" for u in inspector.get_unique_constraints(table)
                   if sorted(u["column_names"]) == sorted(columns)]
    # PostgreSQL lists a UNIQUE constraint's own index too: dropped with the constraint.
    indexes = [i["name"] or "" for i in inspector.get_indexes(table)
               if i["unique"] and sorted(c or "" for c in i["column_names"]) == sorted(columns)
               and not i.get("duplicates_constraint")]
    return constraints, indexes


def _drop_unique(connection: Connection, table: Table, columns: list[str],
                 old_name: str) -> bool:
    """Drop the uniqueness on ``columns``; whether there was one. SQLite cannot drop a
    UNIQUE: there the table is made again as ``table`` declares it and every row copied."""
    constraints, indexes = _unique_on(connection, table.name, columns)
    if not constraints and not indexes:
        return False
    if connection.dialect.name == "sqlite":
        rebuild_sqlite_table(connection, table, old_name)
        return True
    for name in constraints:
        connection.exec_driver_sql(f'ALTER TABLE {table.name} DROP CONSTRAINT "{name}"')
    for name in indexes:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    return True


def refunds_unique_per_cause(connection: Connection, refunds: Table) -> None:
    """A ledger made when a line had one refund at most becomes one refund per line and
    cause: every row kept (their cause the legacy one, their units empty: the whole line)."""
    if not _drop_unique(connection, refunds, ["order_id", "asin"], "refunds_one_per_line"):
        return
    if connection.dialect.name != "sqlite":  # the rebuilt SQLite table has it already
        connection.exec_driver_sql("ALTER TABLE refunds ADD CONSTRAINT "
                                   "uq_refunds_order_asin_cause UNIQUE (order_id, asin, cause)")
    log.info("refund ledger moved to one refund per order line and cause")


def claims_per_refund(connection: Connection, claims: Table) -> None:
    """A claims table made when a claim covered a whole order becomes one claim per refund:
    its claims kept, its uniqueness moved from the order to the refund."""
    if _drop_unique(connection, claims, ["order_id"], "claims_one_per_order"):
        log.info("claims table moved to one claim per refund")


def rebuild_sqlite_table(connection: Connection, table: Table, old_name: str) -> None:
    """Make ``table`` again as it is declared and copy every row over, unchanged, ids
    included (claims name refunds by id). The rows' columns the table still has are kept;
    the old table is renamed to ``old_name`` while they are copied, then dropped."""
    name = table.name
    columns = {c["name"] for c in inspect(connection).get_columns(name)}
    kept = ", ".join(sorted(columns & {c.name for c in table.columns}))
    old_indexes = inspect(connection).get_indexes(name)
    connection.exec_driver_sql(f"ALTER TABLE {name} RENAME TO {old_name}")
    for index in old_indexes:  # their names are the new table's
        connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{index["name"]}"')
    table.create(connection)
    connection.exec_driver_sql(f"INSERT INTO {name} ({kept}) SELECT {kept} FROM {old_name}")
    connection.exec_driver_sql(f"DROP TABLE {old_name}")
