"""Whether a message ends the conversation ("Okay danke tschüss", "grazie ciao"): then the
reply says goodbye as a person would, without asking whether there is anything else. The
farewell words are data (``agent/data/closing_words.json``)."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from agent.understanding import fold

# The intents a farewell is read as (the intent examples teach "Ok thanks, bye" as thanks,
# "Ciao" as a greeting); a message with a request in it is answered, not closed.
CLOSING_INTENTS = frozenset({"thanks", "greeting"})


@cache
def _words() -> dict[str, tuple[re.Pattern[str], re.Pattern[str] | None]]:
    raw = resources.files("agent").joinpath("data/closing_words.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(raw)

    def either(words: list[str]) -> re.Pattern[str] | None:
        if not words:
            return None
        return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")

    patterns: dict[str, tuple[re.Pattern[str], re.Pattern[str] | None]] = {}
    for lang, lists in data.items():
        if lang.startswith("_"):
            continue
        goodbye = either(lists.get("goodbye", []))
        assert goodbye is not None, lang
        # Saying nothing more is needed closes as a farewell word does, beside thanks only:
        # "das war alles, aber wo ist ...?" without thanks may still be a request.
        patterns[lang] = (goodbye, either(lists.get("after_thanks", [])
                                          + lists.get("nothing_more", [])))
    return patterns


def says_goodbye(text: str, language: str, intent: str) -> bool:
    """Whether a message read as ``intent`` takes leave: a farewell word, or a word that is
    a farewell only beside thanks ("grazie ciao", where "ciao" alone greets; "danke, mehr
    brauche ich nicht")."""
    if intent not in CLOSING_INTENTS or language not in _words():
        return False
    goodbye, after_thanks = _words()[language]
    folded = fold(text)
    return bool(goodbye.search(folded)) or (
        intent == "thanks" and after_thanks is not None and bool(after_thanks.search(folded)))
