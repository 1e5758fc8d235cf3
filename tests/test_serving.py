"""The worker count ``csba serve`` picks when none is given (csba/serving.py says why)."""

from __future__ import annotations

from csba.serving import default_workers


def test_postgresql_gets_a_worker_per_core_and_sqlite_one_process() -> None:
    assert default_workers("postgresql+psycopg://csba@db/csba", cores=4) == 4
    assert default_workers("postgresql+psycopg://csba@db/csba", cores=1) == 1
    assert default_workers("sqlite:////srv/csba/csba.sqlite3", cores=4) == 1
    assert default_workers(None, cores=4) == 1  # the SQLite file in the data dir
