"""The schema's migrations (Alembic revisions in ``versions/``), run by the service at start.

``migrate`` brings any database to the newest revision: an empty one is made, one made by an
earlier version is changed in place, keeping every row. Several processes starting at once on
one database meet in a lock: one migrates, the others find it done.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine
from sqlalchemy.types import TypeEngine

from agent.models import ExactAmount

HERE = Path(__file__).parent
# Any constant: the PostgreSQL advisory lock the starting processes queue on.
_MIGRATION_LOCK = 0x63736261


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration of these revisions, run on ``connection`` when given."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def head() -> str:
    """The newest revision (read once: the revisions do not change while the process runs)."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None, "no revision in agent/migrations/versions"
    return revision


def current(connection: Connection) -> str | None:
    """The revision a database is at; None for an empty one or one made before migrations."""
    return MigrationContext.configure(connection).get_current_revision()


def compare_type(context: MigrationContext, inspected: Column[Any], declared: Column[Any],
                 inspected_type: TypeEngine[Any], declared_type: TypeEngine[Any]) -> bool | None:
    """Whether a column's type changed (for ``alembic revision --autogenerate``); None leaves
    it to Alembic. An amount on SQLite is its decimal text, whatever length was declared."""
    if isinstance(declared_type, ExactAmount) and context.dialect.name == "sqlite":
        return False
    return None


def migrate(engine: Engine, write_options: dict[str, object]) -> None:
    """Bring ``engine``'s database to the newest revision, unless it is there already.

    ``write_options`` make a write transaction (on SQLite it takes the write lock when it
    begins), so a second process starting at once waits, then finds the work done.
    """
    with engine.connect() as connection:
        if current(connection) == head():
            return
    with engine.execution_options(**write_options).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        command.upgrade(config(connection), "head")
