"""A written reply made fit to be heard: short ``<Say>`` parts, ids read out a character at a
time, no "…" and no postal address read out.

Only the wording for the phone changes; what the reply says is the agent's. The address and
the whole reply go to the caller by SMS instead (``channels/voice.py``).
"""

from __future__ import annotations

import re

from agent.cases import CASE_ID_PATTERN
from agent.understanding import ORDER_ID

# Listeners keep about this many words of one sentence; a longer one is cut at its commas.
MAX_SAY_WORDS = 25
# Not after a day's full stop: "am 7. Dezember" is one sentence, "2027. Envíelo" two.
_SENTENCE_END = re.compile(r"(?<=[.!?;])(?<!\s\d\.)(?<!\s\d\d\.)\s+(?=\S)")
_CLAUSE_END = re.compile(r"(?<=[,:])\s+")
# "…" where a title or a quote was cut, with what dangles before it: a short clause after a
# comma ("mit Qi-Ladefläche, 5…") or a number whose noun was cut ("sábanas 100%…").
_ELLIPSIS = re.compile(r"(?:,[^,…]{0,25}?|\s+\S*\d\S*)?\s*(?:…|\.\.\.)(?=[\s.,;:!?)]|$)")
_CASE_ID = re.compile(rf"\b{CASE_ID_PATTERN}\b")
_SPACES = re.compile(r"\s+")


def spelled(chars: str) -> str:
    """``"4306213"`` -> ``"4 3 0 6 2 1 3"``: one character at a time."""
    return " ".join(chars)


def spoken_ids(text: str) -> str:
    """Order and case ids read a character at a time, their groups apart:
    ``028-4306213-9513237`` -> ``0 2 8, 4 3 0 6 2 1 3, 9 5 1 3 2 3 7``,
    ``CS-K7M2Q4P`` -> ``C S, K 7 M 2, Q 4 P``."""
    text = ORDER_ID.sub(lambda m: ", ".join(spelled(g) for g in m.groups()), text)

    def case(match: re.Match[str]) -> str:
        prefix, code = match.group().split("-", 1)
        return f"{spelled(prefix)}, {spelled(code[:4])}, {spelled(code[4:])}"

    return _CASE_ID.sub(case, text)


def without_ellipses(text: str) -> str:
    """A cut title or quote ends at its last whole word, without "…" and without a
    fragment of what was cut."""
    return _ELLIPSIS.sub("", text)


def without_address(text: str, address: str, instead: str) -> str:
    """The sentence that holds ``address`` replaced by ``instead``."""
    at = text.find(address) if address else -1
    if at < 0:
        return text
    starts = [m.end() for m in _SENTENCE_END.finditer(text[:at])]
    start = starts[-1] if starts else 0
    after = _SENTENCE_END.search(text, at + len(address))
    end = after.start() if after else len(text)
    return f"{text[:start]}{instead}{text[end:]}".strip()


def _words(text: str) -> int:
    """Words as heard: an id is heard as its three groups."""
    ids = len(ORDER_ID.findall(text)) + len(_CASE_ID.findall(text))
    return len(text.split()) + 2 * ids


def _chunks(sentence: str) -> list[str]:
    """A sentence in parts of at most ``MAX_SAY_WORDS`` words: cut after commas, else
    between words."""
    if _words(sentence) <= MAX_SAY_WORDS:
        return [sentence]
    parts: list[str] = []
    current = ""
    for clause in _CLAUSE_END.split(sentence):
        words = clause.split()
        while len(words) > MAX_SAY_WORDS:
            if current:
                parts.append(current)
                current = ""
            parts.append(" ".join(words[:MAX_SAY_WORDS]))
            words = words[MAX_SAY_WORDS:]
        clause = " ".join(words)
        if current and _words(current) + _words(clause) > MAX_SAY_WORDS:
            parts.append(current)
            current = clause
        else:
            current = f"{current} {clause}".strip()
    if current:
        parts.append(current)
    return parts


def say_parts(text: str) -> list[str]:
    """``text`` as ``<Say>`` parts of at most ``MAX_SAY_WORDS`` words, cut between sentences
    (several short sentences share a part), a long sentence after its commas."""
    parts: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(_SPACES.sub(" ", text).strip()):
        for chunk in _chunks(sentence):
            if current and _words(current) + _words(chunk) > MAX_SAY_WORDS:
                parts.append(current)
                current = chunk
            else:
                current = f"{current} {chunk}".strip()
    if current:
        parts.append(current)
    return parts


def for_the_ear(text: str) -> list[str]:
    """A reply as the phone says it: no "…", ids spelled, in short ``<Say>`` parts (cut
    before the ids are spelled, so an id is never cut)."""
    return [spoken_ids(part) for part in say_parts(without_ellipses(text))]
