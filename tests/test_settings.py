from pathlib import Path

import pytest
from pydantic import ValidationError

import base.settings as settings_module
from base.settings import Settings
from knowledge.embeddings import dense_languages


def test_reads_csba_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CSBA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSBA_DATABASE_URL", "postgresql://db.internal/csba")
    monkeypatch.setenv("CSBA_CHROMA_URL", "http://127.0.0.1:8123")
    monkeypatch.setenv("CSBA_EMBEDDING_MODEL", "/models/multilingual")
    monkeypatch.setenv("CSBA_SMTP_URL", "smtp://relay:25")
    monkeypatch.setenv("CSBA_SMTP_PORT", "2526")
    monkeypatch.setenv("CSBA_TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("CSBA_TWILIO_AUTH_TOKEN", "secret-token")
    monkeypatch.setenv("CSBA_PUBLIC_BASE_URL", "https://support.example.com")
    monkeypatch.setenv("CSBA_LLM", "openai:gpt-4o-mini")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.data_dir == tmp_path
    assert s.resolved_database_url == "postgresql://db.internal/csba"
    assert s.chroma_url is not None and s.chroma_url.port == 8123
    assert s.embedding_model == "/models/multilingual"
    assert (s.smtp_url, s.smtp_port) == ("smtp://relay:25", 2526)
    assert s.twilio_auth_token.get_secret_value() == "secret-token"
    assert "secret-token" not in repr(s)
    assert str(s.public_base_url) == "https://support.example.com/"
    assert s.llm == "openai:gpt-4o-mini"


def test_defaults_keep_everything_in_the_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'csba.sqlite3'}"
    assert s.chroma_dir == tmp_path / "chroma" and s.chroma_url is None


def test_production_refuses_the_development_token() -> None:
    with pytest.raises(ValidationError, match="CSBA_TWILIO_AUTH_TOKEN"):
        Settings(mode="production", _env_file=None)  # type: ignore[call-arg]
    Settings(mode="production", twilio_auth_token="real",
             operator_token="op-k3Jx9vQ2mZ7tLw4RbN8cYh5Fd1Gs6Pa0",
             email_webhook_token="real-webhook",  # type: ignore[arg-type]
             _env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("bad", [{"llm": "gpt-4o"}, {"smtp_port": 0}, {"chroma_url": "not a url"},
                                 {"redis_url": "http://redis:6379"},
                                 {"redis_url": "async+redis://redis:6379"}])
def test_bad_values_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **bad)  # type: ignore[arg-type]


def test_no_settings_instance_at_import() -> None:
    assert not [v for v in vars(settings_module).values() if isinstance(v, Settings)]


def test_the_dense_leg_is_trusted_in_the_languages_of_the_model_in_use(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSBA_EMBEDDING_MODEL", raising=False)
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    assert default.embedding_model == "multilingual-e5-small"
    assert {"de", "es", "en", "fr", "it"} <= dense_languages(default)
    minilm = Settings(embedding_model="all-MiniLM-L6-v2", _env_file=None)  # type: ignore[call-arg]
    assert dense_languages(minilm) == frozenset({"en"})
    other = Settings(embedding_model="/models/multilingual", _env_file=None)  # type: ignore[call-arg]
    assert dense_languages(other) == frozenset({"en"})
    monkeypatch.setenv("CSBA_EMBEDDING_LANGUAGES", " DE, en ")
    named = Settings(embedding_model="/models/multilingual", _env_file=None)  # type: ignore[call-arg]
    assert dense_languages(named) == frozenset({"de", "en"})
    # A shipped model's languages are known: the setting names those of another model.
    assert dense_languages(Settings(_env_file=None)) == dense_languages(default)  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["", "german", "de,e1", ","])
def test_embedding_languages_must_be_language_codes(value: str) -> None:
    with pytest.raises(ValidationError, match="CSBA_EMBEDDING_LANGUAGES"):
        Settings(embedding_languages=value, _env_file=None)  # type: ignore[call-arg]
