"""The record round trips of tests/test_records_and_db.py, on an empty PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.db import Store, make_engine
from tests.test_records_and_db import *  # noqa: F403


@pytest.fixture()  # type: ignore[no-redef]  # replaces the imported SQLite one
def store(postgres_url: str) -> Iterator[Store]:
    opened = Store(make_engine(postgres_url))
    yield opened
    opened.engine.dispose()
