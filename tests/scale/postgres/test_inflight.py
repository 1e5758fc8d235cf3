"""tests/agent/test_inflight.py on PostgreSQL."""

from tests.agent.test_inflight import *  # noqa: F403
