"""Runtime configuration, read from ``CSBA_`` environment variables and an optional ``.env``.

No instance exists at import time: the CLI, the server factory and the tests each build one,
so a test configures the whole system by constructing ``Settings(...)`` with its own values.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from base.clock import Clock, clock_from

DEFAULT_EMBEDDING_MODEL = "multilingual-e5-small"
_DEV_TOKEN = "dev-insecure-token"
_DEV_OPERATOR_TOKEN = "dev-insecure-operator-token"
# One hand-over address per seller region, so each region's mail can be routed and staffed
# on its own; '*' serves sellers based anywhere else.
DEFAULT_HANDOVER_ADDRESSES = {"DE": "handover-de@csba.example", "CN": "handover-cn@csba.example",
                              "*": "handover@csba.example"}
# Where a seller with a question about a resolution is sent, as the service's page does: the
# marketplace's Seller Support (the service decides; Seller Support answers for it).
DEFAULT_SELLER_SUPPORT_URL = "https://sellercentral.amazon.com/help/hub/support"


MIN_TOKEN_CHARS = 32
MIN_TOKEN_DISTINCT_CHARS = 12
_REPEATED = re.compile(r"(.+?)\1+", re.DOTALL)


def token_weakness(token: str) -> str | None:
    """Why a secret token is guessable (never quoting it), or None when it is not."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"it has {len(token)} characters; at least {MIN_TOKEN_CHARS} are required"
    if len(set(token)) < MIN_TOKEN_DISTINCT_CHARS:
        return (f"it uses {len(set(token))} different characters; at least "
                f"{MIN_TOKEN_DISTINCT_CHARS} are required")
    if _REPEATED.fullmatch(token):
        return "it repeats a shorter pattern"
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CSBA_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        # A refused setting is named by the message; the values (tokens) never print.
        hide_input_in_errors=True)

    mode: Literal["development", "production"] = "development"
    clock_start: datetime | None = Field(
        default=None,
        description="the service's clock starts at this instant (ISO 8601 with a zone) and runs "
                    "at the wall clock's pace; default: the wall clock. For demos, replays, tests")
    data_dir: Path = Field(default=Path("var"), description="Chroma, lexical index, SQLite file")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in the data dir"
    )
    chroma_url: HttpUrl | None = Field(
        default=None, description="Chroma server; default: embedded Chroma in the data dir"
    )
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="multilingual-e5-small (ships in a package, no torch), all-MiniLM-L6-v2 "
                    "(ships in a package), or any sentence-transformers model name or folder",
    )
    embedding_languages: str | None = Field(
        default=None,
        description="comma-separated languages a sentence-transformers model other than the "
                    "two shipped ones was trained on (its dense leg is trusted for them); "
                    "default: en")
    embedding_batch_size: int = Field(default=64, gt=0)
    # Whether a page field answers a product question: the logistic model calibrated on
    # labelled questions (more often right and more precise on held-out questions in every
    # language; README, Evals), the same cross-checked by the fine-tuned cross-encoder (more
    # often right again, about 60 ms more per product question at the median), or the
    # coverage rule.
    answer_decision: Literal["rule", "calibrated", "cross"] = Field(
        default="calibrated",
        description="calibrated (agent/data/answer_decision.json, fitted on the default model; "
                    "another model gets the rule), cross (the calibrated model read together "
                    "with the cross-encoder, knowledge/data/cross_encoder.npz) or rule (half "
                    "the asked words on the field, or a close meaning)")
    # One thread per model call in the server: a 2-thread forward pass waits for its second
    # thread whenever another thread holds that core (an HTTP request, a concurrent turn), and
    # one busy core made a query's embedding 10x slower at the median, 50x at p95 (measured);
    # alone, one thread costs a short query about 10 %. Ingest (batches) keeps every core.
    serve_torch_threads: int = Field(default=1, gt=0,
                                     description="intra-op threads of the model in `csba serve`")
    # The server's model runs in a child process: beside the server's busy threads a forward
    # pass waits for the interpreter lock at each of its hundreds of Python calls (one query:
    # 18 ms alone, 671 ms beside one busy thread, measured).
    serve_embedding_process: bool = Field(
        default=True, description="run the model of `csba serve` in a process of its own")
    # A turn is mostly Python, which a process runs one thread at a time: a few turns at once
    # and the rest waiting answers a burst as fast as forty at once, with a far shorter tail.
    concurrent_turns: int = Field(default=2, gt=0,
                                  description="turns one server process runs at once")
    # Several server processes share one port (``csba serve --workers``); unset, the count
    # comes from the machine's cores (csba/serving.py says why the formula is what it is).
    serve_workers: int | None = Field(
        default=None, gt=0, le=64,
        description="server processes of `csba serve` on its one port; default: from the cores")
    smtp_url: str = Field(default="smtp://127.0.0.1:8025", description="outbound SMTP relay")
    smtp_port: int = Field(default=2525, gt=0, lt=65536, description="inbound SMTP server port")
    smtp_host: str = Field(default="127.0.0.1", description="interface of the inbound SMTP server")
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr = SecretStr(_DEV_TOKEN)
    public_base_url: HttpUrl = HttpUrl("http://127.0.0.1:8000")
    twilio_api_base: HttpUrl | None = Field(
        default=None, description="Twilio REST API base URL; default: Twilio's own"
    )
    twilio_sms_number: str | None = Field(
        default=None, pattern=r"^\+[1-9]\d{6,14}$",
        description="the Twilio number texts are sent from when the conversation has none "
                    "(one-time codes asked for in a chat or by email go to the order's phone)")
    chat_identity_secret: SecretStr | None = Field(
        default=None,
        description="the key the host site signs its logged-in customer's chat token with "
                    "(HMAC-SHA256); unset: every chat is anonymous")
    chat_start_limit: str = Field(
        default="10/minute;100/day",
        description="new chats one client IP, or one signed identity, may start "
                    "(limits' notation, ';'-joined)")
    chat_message_limit: str = Field(
        default="30/minute;600/day",
        description="chat messages one client IP, or one conversation's identity, may send")
    llm: str | None = Field(default=None, description="optional chat model, provider:model")
    operator_token: SecretStr = Field(
        default=SecretStr(_DEV_OPERATOR_TOKEN),
        description="Bearer token of the operators who decide claims and record refunds",
    )
    email_webhook_token: SecretStr | None = Field(
        default=None, description="Bearer token the raw-MIME webhook requires (when set)"
    )
    # Mail senders are proven, not believed (README "Mail senders").
    dns_nameserver: str | None = Field(
        default=None,
        description="the DNS server (host or host:port) the mail checks ask for DKIM keys, SPF "
                    "and DMARC records; default: the system's resolver")
    email_authserv_id: str | None = Field(
        default=None,
        description="the authserv-id of the inbound provider posting to the webhook: its "
                    "Authentication-Results header is its verdict; unset: webhook mail is "
                    "unverified")
    mail_secret: SecretStr | None = Field(
        default=None,
        description="key of the secret reply address of each case (case+<token>@our domain); "
                    "default: a random key kept in the database")
    email_recipient_limit: str = Field(
        default="10/hour;30/day",
        description="replies to mail are held back from an address that got this many mails "
                    "from the service (limits' notation, ';'-joined), until the window allows")
    redis_url: str | None = Field(
        default=None, pattern=r"^(redis|rediss|redis\+unix)://",
        description="Redis server holding the rate limits' counts (redis://host:port/db), "
                    "shared by every worker and host; default: counts per process")
    rate_limit: str = Field(
        default="20/minute;300/day",
        description="new messages one sender may send per channel (limits' notation, ';'-joined)",
    )
    # The chat's longest message (4000 characters) is at most 48 kB as JSON escapes; routes
    # that take more (raw mail, claim photos, Twilio's forms) have their own larger limits.
    max_body_bytes: int = Field(
        default=64 * 1024, gt=0,
        description="largest request body of a JSON or form route, in bytes; larger: 413")
    credential_guess_limit: str = Field(
        default="10/minute;100/hour",
        description="wrong tokens one client address may present (operator, seller, mail "
                    "webhook, portal sign-in) before it is answered 429 (limits' notation)")
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line, for a log pipeline"
    )
    uk_fee_table: Literal["DE", "US", "JP"] = Field(
        default="DE", description="whose published fee table UK statements use (none for UK)"
    )
    # Both default to well past a webhook's answer time and a slow relay's send; lower only
    # where a restart must be proven quickly (the crash tests).
    stranded_after_seconds: float = Field(
        default=120.0, gt=0,
        description="a stored message still without a reply this long is answered by the "
                    "server's background round, on the customer's channel")
    outbox_claim_seconds: float = Field(
        default=300.0, gt=0,
        description="an outbox row a worker claimed but never marked sent (it died) is "
                    "sent again after this long")
    seller_support_url: HttpUrl = Field(
        default=HttpUrl(DEFAULT_SELLER_SUPPORT_URL),
        description="where sellers reach Seller Support with questions about a resolution "
                    "(named in every resolution summary, API and portal)")
    handover_addresses: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_HANDOVER_ADDRESSES),
        description="where sellers forward customers' mail for the service to take over: "
                    "seller country (or '*' for every other) -> address; JSON in the env",
    )

    @field_validator("email_recipient_limit")
    @classmethod
    def _recipient_limit_parses(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"CSBA_EMAIL_RECIPIENT_LIMIT is not a limit: {value!r}") from exc
        return value

    @field_validator("embedding_languages")
    @classmethod
    def _languages_are_codes(cls, value: str | None) -> str | None:
        if value is None:
            return None
        codes = [c.strip().lower() for c in value.split(",") if c.strip()]
        if not codes or not all(len(c) == 2 and c.isalpha() for c in codes):
            raise ValueError(f"CSBA_EMBEDDING_LANGUAGES must be language codes like 'de,en', "
                             f"got {value!r}")
        return ",".join(codes)

    @property
    def configured_languages(self) -> frozenset[str] | None:
        """The languages ``CSBA_EMBEDDING_LANGUAGES`` names, if set: what the dense leg is
        trusted for with a model ``knowledge.embeddings`` does not know
        (``knowledge.embeddings.dense_languages`` decides)."""
        return (frozenset(self.embedding_languages.split(","))
                if self.embedding_languages else None)

    @field_validator("llm")
    @classmethod
    def _llm_names_provider(cls, value: str | None) -> str | None:
        if value is not None and ":" not in value:
            raise ValueError(f"CSBA_LLM must be 'provider:model', got {value!r}")
        return value

    @field_validator("clock_start")
    @classmethod
    def _clock_start_has_a_zone(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("CSBA_CLOCK_START needs a time zone, e.g. 2026-11-25T10:00:00Z")
        return value

    @field_validator("handover_addresses")
    @classmethod
    def _handover_addresses_are_addresses(cls, value: dict[str, str]) -> dict[str, str]:
        cleaned: dict[str, str] = {}
        for region, addr in value.items():
            key = region.strip().upper()
            if key != "*" and not (len(key) == 2 and key.isalpha()):
                raise ValueError(f"hand-over region must be a country code or '*', got {region!r}")
            if addr.count("@") != 1 or any(c.isspace() for c in addr.strip()):
                raise ValueError(f"hand-over address for {key} is not an address: {addr!r}")
            cleaned[key] = addr.strip().lower()
        return cleaned

    @model_validator(mode="after")
    def _production_refuses_defaults(self) -> Settings:
        # Fail closed: a production deployment must not run on the development secret.
        if self.mode == "production" and self.twilio_auth_token.get_secret_value() == _DEV_TOKEN:
            raise ValueError("CSBA_TWILIO_AUTH_TOKEN must be set in production mode")
        if self.mode == "production" and \
                self.operator_token.get_secret_value() == _DEV_OPERATOR_TOKEN:
            raise ValueError("CSBA_OPERATOR_TOKEN must be set in production mode")
        if self.mode == "production":
            # It decides claims and records refunds: it must withstand guessing.
            weakness = token_weakness(self.operator_token.get_secret_value())
            if weakness:
                raise ValueError(f"CSBA_OPERATOR_TOKEN is too weak for production: {weakness}; "
                                 "make one with `python -c 'import secrets; "
                                 "print(secrets.token_urlsafe(32))'`")
        if self.mode == "production" and self.email_webhook_token is None:
            # The webhook would otherwise take mail from anyone who finds the URL.
            raise ValueError("CSBA_EMAIL_WEBHOOK_TOKEN must be set in production mode")
        return self

    @cached_property
    def clock(self) -> Clock:
        """The one clock of everything built from these settings (made once, so every part
        reads the same instant)."""
        return clock_from(self.clock_start)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'csba.sqlite3'}"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def lexical_path(self) -> Path:
        return self.data_dir / "lexical.sqlite3"
