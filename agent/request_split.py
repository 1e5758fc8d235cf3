"""Where one message makes several requests: its parts, each a question or a request of its
own ("Wie schwer ist sie, und lädt sie ein iPhone 15?", "¿Dónde está mi pedido? Y además
quiero devolver la lámpara").

Read in two steps. By form (``request_parts``): the message is cut at its sentence ends and
at the words that join two requests (``agent/data/request_split.json``, per language), and a
cut stands only where each side opens as a question or a request; what happened ("die Lampe
kam kaputt an"), a greeting or a second noun ("schwarz und weiß") stays with the request
beside it. By meaning (``read_parts``): each part is understood on its own
(``classify_intent``), and the turn decides which parts are requests of their own
(``agent.several_requests``). Like all understanding, it decides no policy and never logs,
stores or sends the text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from agent.meaning import Embed, embed
from agent.understanding import DATA_DIR, SUPPORTED_LANGUAGES, classify_intent, fold
from knowledge.text import stopwords

SPLIT_WORDS = DATA_DIR / "request_split.json"
QUESTION_WORDS = DATA_DIR / "question_words.json"
# A sentence ends at its mark and the space after it ("ca. 5 kg" is cut too, but its pieces
# open no request and are joined again); a line break ends one as well. So does a colon
# before a space: "zwei Fragen zu Bestellung …: Wann …, und kann ich …?" introduces the
# requests that follow it, and the lead-in (which opens no request) goes with the first.
_SENTENCE_END = re.compile(r"(?<=[.!?…:])\s+|\s*\n+\s*")
_WORD = re.compile(r"[\w'’-]+")
QUESTION, REQUEST = "question", "request"
# What may come before a part's first word: spaces, commas, Spanish opening marks, quotes.
_LEADING = re.compile(r"^[\s,;:¿¡\"'«(–—-]+")


@dataclass(frozen=True)
class SplitWords:
    """One language's words for cutting a message into requests (see the data file)."""

    joins: tuple[str, ...]  # lower-cased, longest first
    cut: re.Pattern[str]  # where a sentence may be cut: before a join's first word
    opens: re.Pattern[str]  # a question word, a yes/no question's verb, a request phrase
    requests: re.Pattern[str]  # a request phrase alone ("ich möchte", "quiero", "I want")
    subjects: frozenset[str]
    not_verbs: frozenset[str]  # first words that are no verb ("hallo ich", "leider ist")
    inverted: tuple[str, ...]


def _phrases(words: list[str]) -> str:
    folded = sorted({fold(w) for w in words}, key=len, reverse=True)
    return "|".join(re.escape(w) for w in folded)


@cache
def split_words(language: str) -> SplitWords:
    raw = json.loads(SPLIT_WORDS.read_text(encoding="utf-8"))
    words = raw.get(language) or raw["en"]
    joins = tuple(sorted({j.lower() for j in words["joins"]}, key=len, reverse=True))
    firsts = sorted({j.split()[0] for j in joins}, key=len, reverse=True)
    starts = "|".join(re.escape(w) for w in firsts)
    cut = re.compile(rf"(?:\s*,\s*|\s+)(?=(?:{starts})\s)", re.IGNORECASE)
    openers = [*words["question_words"], *words["question_verbs"], *words["request_openers"]]
    opens = re.compile(rf"^(?:{_phrases(openers)})(?![\w])")
    requests = re.compile(rf"^(?:{_phrases(words['request_openers'])})(?![\w])")
    return SplitWords(joins=joins, cut=cut, opens=opens, requests=requests,
                      subjects=frozenset(fold(s) for s in words["subjects"]),
                      not_verbs=frozenset(fold(s) for s in words["not_verbs"]),
                      inverted=tuple(fold(s) for s in words["inverted"]))


def without_join(text: str, language: str) -> str:
    """The part after the words that joined it to the one before ("und außerdem hat sie
    ...": "hat sie ..."), as written: the joining words ask nothing themselves."""
    words = split_words(language)
    rest = _LEADING.sub("", text)
    stripped = True
    while stripped:
        stripped = False
        for join in words.joins:
            found = re.match(rf"{re.escape(join)}(?:\s*,\s*|\s+)", rest, re.IGNORECASE)
            if found:
                rest = _LEADING.sub("", rest[found.end():])
                stripped = True
                break
    return rest


def opens_request(text: str, language: str) -> bool:
    """Whether ``text`` opens as a question or a request of its own: a question word, a
    request phrase, a verb that opens a yes/no question, or a verb before its subject."""
    words = split_words(language)
    rest = fold(without_join(text, language))
    if words.opens.match(rest):
        return True
    tokens = _WORD.findall(rest)
    if not tokens:
        return False
    first = tokens[0]
    if words.inverted and "-" in first and first.endswith(words.inverted):
        return True  # "peut-on", "est-elle"
    # A verb before its subject ("lädt sie", "is it", "hat die Lampe"): the first word is
    # none of the subjects (nor a greeting or an adverb), the second one is.
    return (len(tokens) > 1 and first not in words.subjects | words.not_verbs
            and tokens[1] in words.subjects)


def _ends_asking(text: str) -> bool:
    return text.rstrip(" )]\"'»").endswith("?")


def _kind(text: str, language: str) -> str | None:
    """How a sentence asks: as a question (its "?"), as a request (it opens with a request
    phrase: "Y además quiero devolverla"), or not at all. A question word without the
    question mark opens as many a clause that asks nothing ("Es que no sé si…", "when i
    hold it up…"): that sentence tells, it does not ask."""
    if _ends_asking(text):
        return QUESTION
    if split_words(language).requests.match(fold(without_join(text, language))):
        return REQUEST
    return None


def asks(text: str, language: str) -> bool:
    """Whether a sentence asks, as a question or as a request (``_kind``)."""
    return _kind(text, language) is not None


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def _spans(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[_Span]:
    """The pieces of ``text[start:end]`` between the matches of ``pattern``."""
    spans, at = [], start
    for match in pattern.finditer(text, start, end):
        if match.start() > at:
            spans.append(_Span(at, match.start()))
        at = match.end()
    if at < end:
        spans.append(_Span(at, end))
    return [s for s in spans if text[s.start:s.end].strip()]


def _sentence_parts(text: str, sentence: _Span, language: str
                    ) -> list[tuple[_Span, str | None]]:
    """A sentence's requests: cut at a join only where both sides open as a request ("Wie
    schwer ist sie, und lädt sie ein iPhone 15?"); each with how it asks (``_kind``)."""
    pieces = _spans(split_words(language).cut, text, sentence.start, sentence.end)
    kept: list[_Span] = pieces[:1]
    for piece in pieces[1:]:
        left, right = text[kept[-1].start:kept[-1].end], text[piece.start:piece.end]
        if opens_request(left, language) and opens_request(right, language):
            kept.append(piece)
        else:  # "die Lampe kam kaputt an und ich möchte sie zurückgeben": one request
            kept[-1] = _Span(kept[-1].start, piece.end)
    if len(kept) > 1:
        asked = QUESTION if _ends_asking(text[sentence.start:sentence.end]) else REQUEST
        return [(span, asked) for span in kept]
    whole = kept[0] if kept else sentence
    return [(whole, _kind(text[whole.start:whole.end], language))]


@dataclass(frozen=True)
class Cut:
    """One part of a message: its words, and whether it is asked as a question (a "?") or
    made as a request ("ich möchte…")."""

    text: str
    question: bool


def cut_requests(text: str, language: str) -> list[Cut]:
    """The parts of a message that each ask a question or make a request, in order, with
    what comes between them (what happened, a greeting, an order number) kept with the
    request it precedes (or, at the end, follows), and without the words that joined them
    ("und"). One part, the message, when it makes one request."""
    whole = [Cut(text, _ends_asking(text))]
    if language not in SUPPORTED_LANGUAGES:
        return whole
    sentences = _spans(_SENTENCE_END, text, 0, len(text))
    pieces = [p for s in sentences for p in _sentence_parts(text, s, language)]
    if sum(kind is not None for _, kind in pieces) < 2:
        return whole
    parts: list[tuple[_Span, str]] = []
    start: int | None = None  # where the pieces waiting for the next request began
    for span, kind in pieces:
        begin = span.start if start is None else start
        if kind is not None:
            parts.append((_Span(begin, span.end), kind))
            start = None
        else:
            start = begin
    if start is not None:  # what follows the last request stays with it
        last, kind = parts[-1]
        parts[-1] = (_Span(last.start, len(text)), kind)
    return [Cut(without_join(text[p.start:p.end].strip().rstrip(",;"), language),
                question=kind == QUESTION) for p, kind in parts]


def request_parts(text: str, language: str) -> list[str]:
    """The words of each part ``cut_requests`` finds."""
    return [cut.text for cut in cut_requests(text, language)]


@cache
def _framing(language: str) -> frozenset[str]:
    """Words that frame a question ("wie lange", "cuánto") or join it, not what it asks."""
    framing = json.loads(QUESTION_WORDS.read_text(encoding="utf-8")).get(language, [])
    words = split_words(language)
    return (stopwords(language) | {fold(w) for w in framing}
            | {fold(w) for j in words.joins for w in j.split()})


def names_something(text: str, language: str) -> bool:
    """Whether a part names what it asks about: "Wie lange?" or "¿Y cuánto?" only goes on
    with the question before it."""
    return any(fold(w) not in _framing(language) for w in _WORD.findall(text)
               if not w.isdigit())


@dataclass(frozen=True)
class PartReading:
    """One part of a message and its intent read on its own (the fused probability of a
    product question and its likelier rival as ``classify_intent`` gives them)."""

    text: str
    intent: str
    product: float = 0.0
    rival: float = 0.0
    question: bool = True  # asked as a question, not only made as a request


def read_parts(text: str, language: str, *, embed: Embed = embed) -> tuple[PartReading, ...]:
    """The message's parts, each understood on its own; none when it makes one request (the
    message is then read whole, as ever)."""
    parts = cut_requests(text, language)
    if len(parts) < 2:
        return ()
    readings = []
    for part in parts:
        result = classify_intent(part.text, language, embed=embed)
        readings.append(PartReading(part.text, result.intent, result.product, result.rival,
                                    part.question))
    return tuple(readings)
