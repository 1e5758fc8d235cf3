"""tests/channels/test_email.py on PostgreSQL."""

from tests.channels.test_email import *  # noqa: F403
