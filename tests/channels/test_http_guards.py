"""The HTTP guards' own rules, without a server: body limits by route, JSON text checks, log
scrubbing, page policies, guess counting and the operator token's strength."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from base.logs import scrub_path
from base.settings import token_weakness
from channels.credential_guesses import CredentialGuesses
from channels.request_bodies import BodyLimits, JsonProblem, check_form_text, check_json_text
from channels.security_headers import page_policy


def test_the_longest_path_prefix_sets_the_limit() -> None:
    limits = BodyLimits(default=100, by_path={"/email/": 1000, "/email/inbound": 5000})
    assert limits.for_path("/v1/conversations") == 100
    assert limits.for_path("/email/other") == 1000
    assert limits.for_path("/email/inbound") == 5000
    with pytest.raises(ValueError, match="must be > 0 bytes, got 0"):
        BodyLimits(default=0)


@pytest.mark.parametrize(("body", "rule", "message"), [
    (b'{"text": "hi \\ud800"}', "json_text", "body.text holds a lone surrogate"),
    (b'{"a": [1, {"b": "x\\u0000"}]}', "json_text", "body.a[1].b holds a NUL character"),
    (b'{"some customer text": "\\u0000"}', "json_text", "body.<key> holds a NUL"),
    (b'{"text": "\xff"}', "json_encoding", "not UTF-8 (byte 10 is invalid)"),
    (b'{"n": 1e999}', "json_number", "too large to be represented"),
    (b'{"n": ' + b"1" * 41 + b"}", "json_number", "41 characters; at most 40"),
    (b'{"n": Infinity}', "json_number", "Infinity is not a JSON number"),
    (b"[" * 33 + b"]" * 33, "json_depth", "deeper than 32 levels"),
    (b"[" * 5000 + b"]" * 5000, "json_depth", "deeper than 32 levels"),
    (b'{"text": }', "json_syntax", "not JSON: Expecting value at line 1, column 10"),
])
def test_json_bodies_no_store_can_keep_are_refused_by_rule(body: bytes, rule: str,
                                                           message: str) -> None:
    with pytest.raises(JsonProblem, match=re.escape(message)) as refused:
        check_json_text(body)
    assert refused.value.rule == rule


def test_ordinary_json_passes() -> None:
    check_json_text('{"text": "Wo ist meine Bestellung? 🚚", "n": [1, 2.5, -3e5], "x": null}'
                    .encode())


@pytest.mark.parametrize(("raw", "logged"), [
    ("/v1/conversations/q7Jx9vQ2mZ7tLw4RbN8cYh5F/messages",
     "/v1/conversations/[redacted]/messages"),
    ("/v1/knowledge/search?q=where+is+my+order&k=5",
     "/v1/knowledge/search?q=[redacted]&k=[redacted]"),
    ("/seller/cases/csba_Vq7xK2mR9tLw4BnC8yHd5Fj1Gs6Pa3Ze", "/seller/cases/[redacted]"),
    ("/v1/seller/claims/CL-7/evidence/" + "ab12" * 16, "/v1/seller/claims/CL-7/evidence/"
     + "ab12" * 16),
    ("/seller/cases/CS-ABC2345", "/seller/cases/CS-ABC2345"),
    ("/healthz", "/healthz"),
])
def test_log_lines_keep_the_route_and_lose_the_secrets(raw: str, logged: str) -> None:
    assert scrub_path(raw) == logged


def test_a_page_policy_allows_exactly_its_own_inline_scripts_and_styles() -> None:
    page = b"<style>p{}</style><script>go()</script><script src='/x.js'></script>"

    def sha(text: bytes) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text).digest()).decode() + "'"

    directives = dict(d.split(" ", 1) for d in page_policy(page).split("; "))
    assert directives["script-src"] == f"'self' {sha(b'go()')}"
    assert directives["style-src"] == f"'self' {sha(b'p{}')}"
    assert directives["default-src"] == directives["frame-ancestors"] == "'none'"


def test_wrong_credentials_are_counted_per_address() -> None:
    guesses = CredentialGuesses("2/minute")
    guesses.failed("192.0.2.1")
    assert guesses.retry_after("192.0.2.1") is None
    guesses.failed("192.0.2.1")
    wait = guesses.retry_after("192.0.2.1")
    assert wait is not None and 0 < wait <= 60
    assert guesses.retry_after("192.0.2.2") is None
    with pytest.raises(ValueError, match="must look like"):
        CredentialGuesses("often")


@pytest.mark.parametrize(("token", "why"), [
    ("short", "5 characters; at least 32"),
    ("ab" * 20, "2 different characters"),
    ("Ab3-Xy7_Qz9!" * 3, "repeats a shorter pattern"),
    ("Vq7xK2mR9tLw4BnC8yHd5Fj1Gs6Pa3Ze", None),
])
def test_operator_token_strength(token: str, why: str | None) -> None:
    weakness = token_weakness(token)
    assert (weakness is None) if why is None else (weakness is not None and why in weakness)


@pytest.mark.parametrize(("body", "rule"), [
    (b"Body=hi%00there&From=%2B49151", "form_text"),
    (b"Body=%FF%FE", "form_encoding"),
    (b"Body=caf\xc3\xa9", "form_encoding"),  # raw bytes: a form is URL-encoded ASCII
])
def test_forms_no_store_can_keep_are_refused_by_rule(body: bytes, rule: str) -> None:
    with pytest.raises(JsonProblem) as problem:
        check_form_text(body)
    assert problem.value.rule == rule and "there" not in str(problem.value)


def test_ordinary_forms_pass() -> None:
    check_form_text(b"Body=Wo+ist+mein+Paket%3F+%C3%84rger&From=%2B4915112345678&NumMedia=0")
    check_form_text(b"")
