"""Every module here runs one suite of the SQLite tests again, on PostgreSQL.

The tests are the suite's own, imported; only ``store`` changes, so both databases are held
to one set of expectations (storage, turn claims, the outbox, recovery, replays under
concurrency on each webhook).
"""

from __future__ import annotations

import pytest

from agent.db import Store


@pytest.fixture()
def store(postgres_store: Store) -> Store:
    return postgres_store
