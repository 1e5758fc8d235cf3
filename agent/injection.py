"""Text written to steer the agent, recognised by the patterns of
``agent/data/injection_patterns.json``: a customer's message that gives the agent orders, and
page or seller text addressed to an assistant."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any


@cache
def _patterns() -> dict[str, Any]:
    text = resources.files("agent").joinpath("data/injection_patterns.json").read_text("utf-8")
    raw: dict[str, Any] = json.loads(text)
    return raw


@cache
def _message_pattern() -> re.Pattern[str]:
    # Matched on folded text (lower case, no accents), as one alternation.
    return re.compile("|".join(f"(?:{p})" for p in _patterns()["message"]))


@cache
def _page_patterns() -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in _patterns()["page"]]


def gives_orders(folded: str) -> bool:
    """Whether a message, folded as ``agent.understanding.fold`` does, gives the agent
    orders ("ignore your instructions…")."""
    return bool(_message_pattern().search(folded))


def addresses_an_assistant(text: str) -> bool:
    """Page text written to steer an AI ("ignore your instructions") is never quoted."""
    return any(p.search(text) for p in _page_patterns())
