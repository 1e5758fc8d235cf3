"""tests/channels/test_outbox.py on PostgreSQL."""

from tests.channels.test_outbox import *  # noqa: F403
