"""A throwaway PostgreSQL cluster on loopback for the tests that must also pass on PostgreSQL.

The cluster lives in a temp dir and is started with the server's own ``initdb``/``pg_ctl``
(Debian's ``postgresql`` package); as root it runs as the ``postgres`` user, because the
server refuses to run as root. ``CSBA_TEST_POSTGRES_URL`` points the tests at a server that
is already running instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from tests.support.net import free_port

SERVER_USER = "postgres"

# The connection pools a test opened on each throwaway database (the store's, and those of the
# apps and channels a test builds from its URL), by the database's name: emptied before the
# database is dropped. A client connection left open after its database is gone would be
# closed by the garbage collector instead, with a ResourceWarning in whichever later test it
# happens to run.
_POOLS: dict[str, weakref.WeakSet[sa.Pool]] = {}


@sa.event.listens_for(sa.Engine, "engine_connect")
def _remember_pool(connection: sa.Connection) -> None:
    engine = connection.engine
    if engine.dialect.name == "postgresql" and engine.url.database:
        _POOLS.setdefault(engine.url.database, weakref.WeakSet()).add(engine.pool)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started on this machine; the message says why."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps the server's programs out of PATH, one folder per major version.
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise PostgresUnavailable(
            f"{name} not found: install Debian's postgresql package (make system-deps)")
    return candidates[-1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and runuser is missing")
    try:
        import pwd

        pwd.getpwnam(SERVER_USER)
    except KeyError as exc:
        raise PostgresUnavailable(f"running as root and no {SERVER_USER!r} user") from exc
    return [runuser, "-u", SERVER_USER, "--", *command]


@contextmanager
def running_cluster() -> Iterator[str]:
    """A fresh cluster; yields the SQLAlchemy URL of its ``postgres`` database."""
    external = os.environ.get("CSBA_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="csba-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, SERVER_USER)
    port = free_port()
    try:
        subprocess.run(_as_server_user([initdb, "-D", str(data), "-U", "postgres", "-A",
                                        "trust", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)
        # Durability is not under test here (the crash tests kill the app, not the database);
        # fsync off keeps a test's many small commits fast.
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-l", str(log), "-o",
                                        options, "-w", "-t", "60", "start"]),
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(
            f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')[-500:]}") from exc
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w",
                                        "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """A new empty database on the server; returns its URL."""
    name = f"csba_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return str(sa.make_url(server_url).set(database=name).render_as_string(hide_password=False))


def drop_database(server_url: str, database_url: str) -> None:
    name = sa.make_url(database_url).database
    for pool in list(_POOLS.pop(name or "", ())):
        pool.dispose()  # closes the connections it holds; one still checked out is a leak
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
