"""tests/channels/test_twilio.py on PostgreSQL."""

from tests.channels.test_twilio import *  # noqa: F403
