"""tests/channels/test_recovery.py on PostgreSQL."""

from tests.channels.test_recovery import *  # noqa: F403
