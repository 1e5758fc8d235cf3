"""Shared parts of the proof suites: the whole service on the demo data, with known secrets.

Every secret here is a distinctive string so a suite can search logs and responses for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from pydantic import HttpUrl, SecretStr

from agent.db import Store
from base.settings import Settings
from channels.app import create_app
from knowledge.index import KnowledgeIndex
from tests.support.mail import MailCatcher
from tests.support.twilio import ACCOUNT

TWILIO_TOKEN = "proof-twilio-auth-token-5f1e0c9a"
OPERATOR_TOKEN = "proof-operator-token-9b27d4e1"
WEBHOOK_TOKEN = "proof-email-webhook-token-c3a8"
BASE = "http://testserver"


def proof_settings(tmp_path: Path, store: Store, **overrides: object) -> Settings:
    """Settings for the whole service on ``store``'s database with the proof secrets."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data", "database_url": str(store.engine.url),
        "twilio_account_sid": ACCOUNT, "twilio_auth_token": SecretStr(TWILIO_TOKEN),
        "public_base_url": HttpUrl(BASE), "operator_token": SecretStr(OPERATOR_TOKEN),
        "email_webhook_token": SecretStr(WEBHOOK_TOKEN),
        # The suites send hundreds of messages from few senders: the limiter is not under test.
        "rate_limit": "100000/minute", "chat_start_limit": "100000/minute",
        "chat_message_limit": "100000/minute"}
    values.update(overrides)
    return Settings(**values, _env_file=None)  # type: ignore[arg-type,call-arg]


@pytest.fixture()
def service(tmp_path: Path, store: Store, demo_index: KnowledgeIndex,
            mail_relay: MailCatcher) -> Iterator[FastAPI]:
    """The app as ``csba serve`` builds it, without the SMTP server and the outbox loop."""
    settings = proof_settings(tmp_path, store, smtp_url=mail_relay.url)
    yield create_app(settings, index=demo_index, smtp_server=False, outbox_worker=False)


# The same generated inputs every run: CI stays deterministic and a finding reproduces.
hypothesis_settings.register_profile("deterministic", derandomize=True, database=None)
hypothesis_settings.load_profile("deterministic")
