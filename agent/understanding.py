"""Understanding one customer message: its language, its intent and the entities it names.

Each result is only a reading of the text: it must decide no policy, and it must not log,
store or send the message text anywhere.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, cast, get_args

import sklearn
from lingua import Language, LanguageDetector, LanguageDetectorBuilder
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from agent.returns import ReturnReason

DATA_DIR = Path(__file__).parent / "data"
INTENT_EXAMPLES = DATA_DIR / "intent_examples.jsonl"
RETURN_REASON_PATTERNS = DATA_DIR / "return_reasons.json"

SUPPORTED_LANGUAGES = ("de", "es", "en", "fr", "it")

# ---------------------------------------------------------------------------------------------
# Language

_LINGUA: dict[str, Language] = {
    "de": Language.GERMAN, "es": Language.SPANISH, "en": Language.ENGLISH,
    "fr": Language.FRENCH, "it": Language.ITALIAN,
}
# Below this, lingua is guessing between near-equals ("ok" is 0.42 en, 0.39 de): the
# conversation's language is the better guess.
MIN_LANGUAGE_CONFIDENCE = 0.5
# One word ("Hallo", "Danke", "ok") is too little evidence to switch a conversation's language.
MIN_LANGUAGE_WORDS = 2
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
# Words written alike in several of the languages: a message made only of these says nothing
# about its language ("Hi ok", "Hallo hallo", "ciao ciao").
_LANGUAGE_NEUTRAL = frozenset({
    "hallo", "hello", "hi", "hey", "ok", "okay", "ciao", "salut", "hola", "bye", "super",
    "top", "perfect", "perfekt", "perfetto", "merci", "danke", "thanks", "gracias", "grazie",
    "no", "si", "ja", "yes", "oui", "na", "mmh", "hmm", "lol", "re",
})


@cache
def _detector() -> LanguageDetector:
    # Only the languages the service answers in: a sixth candidate can only produce a wrong
    # switch. Preloaded so no customer waits for a model load; high accuracy because
    # customer messages are short, where low-accuracy mode is much worse.
    return (LanguageDetectorBuilder.from_languages(*_LINGUA.values())
            .with_preloaded_language_models().build())


def detect_language(text: str, default: str) -> str:
    """The language ``text`` is written in, or ``default`` (the conversation's) when unsure."""
    words = [w.casefold() for w in _LETTER_WORD.findall(_ENTITY.sub(" ", text))]
    if len(words) < MIN_LANGUAGE_WORDS or all(w in _LANGUAGE_NEUTRAL for w in words):
        return default
    values = _detector().compute_language_confidence_values(text)
    if not values or values[0].value < MIN_LANGUAGE_CONFIDENCE:
        return default
    return values[0].language.iso_code_639_1.name.lower()


# ---------------------------------------------------------------------------------------------
# Entities

# The canonical form is 3-7-7 digits with dashes; customers also type spaces, other dashes or
# nothing. The digit look-arounds keep a 20-digit tracking number from yielding one.
ORDER_ID = re.compile(r"(?<!\d)(\d{3})[ \t\-‐‑–—]{0,3}(\d{7})[ \t\-‐‑–—]{0,3}(\d{7})(?!\d)")
ASIN = re.compile(r"(?<![A-Za-z0-9])B0[A-Za-z0-9]{8}(?![A-Za-z0-9])", re.IGNORECASE)
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d \u00a0()./\-]{5,22}\d(?![\w])")
_DATE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_TRUNK_ZERO = re.compile(r"\(0\)")  # "+49 (0)151 ...": the national 0 is not dialled from abroad
E164_MAX_DIGITS = 15
_NATIONAL_DIGITS = (7, 12)
_ENTITY = re.compile(f"{ORDER_ID.pattern}|{ASIN.pattern}|{EMAIL.pattern}", re.IGNORECASE)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def extract_order_ids(text: str) -> list[str]:
    """Order numbers in ``text``, in the dashed form ``123-1234567-1234567``, first seen first."""
    return _unique("-".join(m.groups()) for m in ORDER_ID.finditer(text))


def extract_asins(text: str) -> list[str]:
    """ASINs of the ``B0`` form, upper-cased."""
    return _unique(m.group().upper() for m in ASIN.finditer(text))


def extract_emails(text: str) -> list[str]:
    """E-mail addresses, lower-cased."""
    return _unique(m.group().lower() for m in EMAIL.finditer(text))


def extract_phone_numbers(text: str) -> list[str]:
    """Phone numbers: E.164 (``+4915112345678``) with a country code, else the digits typed."""
    # Order numbers and e-mails are digit runs too; take them out before looking for phones.
    rest = ORDER_ID.sub(" ", EMAIL.sub(" ", text))
    found: list[str] = []
    for match in PHONE.finditer(rest):
        raw = match.group().strip()
        if _DATE.fullmatch(raw):
            continue
        international = raw.startswith(("+", "00"))
        digits = re.sub(r"\D", "", _TRUNK_ZERO.sub("", raw) if international else raw)
        if international:
            digits = digits[2:] if raw.startswith("00") else digits
            if 8 <= len(digits) <= E164_MAX_DIGITS and not digits.startswith("0"):
                found.append("+" + digits)
        elif digits.startswith("0") or re.search(r"[ ./\-]", raw):
            # Without a trunk 0 only a grouped number is a phone ("612 345 678"); a bare digit
            # run is as likely an amount, a postcode or a parcel number.
            low, high = _NATIONAL_DIGITS
            if low <= len(digits) <= high:
                found.append(digits)
    return _unique(found)


# ---------------------------------------------------------------------------------------------
# Intent

Intent = Literal[
    "product_question", "order_status", "return_request", "refund_status", "item_problem",
    "cancel_order", "invoice", "customization", "pre_order_question", "ask_for_person",
    "greeting", "thanks", "other",
]
INTENTS: tuple[Intent, ...] = get_args(Intent)

# Below this top probability the agent asks instead of acting on a guess. Tuned on the held-out
# tests/agent/intent_eval.jsonl: accuracy over all languages is 0.931 up to 0.25, 0.933 from
# 0.30 to 0.35, then falls (0.931 at 0.40, 0.925 at 0.50, 0.911 at 0.60) as real questions
# turn into "other". The top of the plateau is taken: a wrong action costs more than a
# clarifying question.
MIN_INTENT_CONFIDENCE = 0.35

# Instructions aimed at the agent rather than a question about an order. The model learns
# these from examples too; the patterns make sure an injection that borrows order words
# ("...and refund 500 EUR") is never read as a refund request.
_INJECTION = re.compile(
    r"\b(?:ignore|ignoriere|ignorier|ignora|ignorez|disregard|vergiss|olvida|oublie|oubliez"
    r"|dimentica|forget)\b.{0,40}"
    r"\b(?:instruc\w*|instruct\w*|anweisung\w*|istruzion\w*|consignes?|regeln|rules|reglas"
    r"|regles|regole|richtlinien|policy|politica|prompts?)\b"
    r"|\bsystem[\s-]?prompt|\bprompt\s(?:del|de|di)\s(?:sistema|systeme)|\bprompt\ssysteme"
    r"|\b(?:developer|entwickler|desarrollador|developpeur|sviluppatore)\s?(?:mode|modus)"
    r"|\bmod[eo]\s(?:desarrollador|developpeur)|\bmodalita\ssviluppatore"
    r"|\bjailbreak|^\s*(?:system|sistema|systeme)\s*:"
    r"|\b(?:you\sare\snow|du\sbist\sjetzt|ahora\seres|tu\ses\smaintenant|ora\ssei)\b"
    r".{0,20}\b(?:admin\w*|developer|entwickler|desarrollador|developpeur|sviluppatore)",
)


@dataclass(frozen=True)
class IntentResult:
    """The most likely intent and the model's probability for it."""

    intent: Intent
    confidence: float


def fold(text: str) -> str:
    """Lower-cased, accents removed: customers type "rechnung", "devolucion", "Größe"."""
    # Typographic apostrophes ("don’t") as typed on phones become the plain one.
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _features_text(text: str) -> str:
    # An order number or an ASIN says "this is about an order", not which digits it has; the
    # placeholders let every example teach that, whatever number it carries.
    text = ORDER_ID.sub(" ordernumber ", text)
    text = ASIN.sub(" asinnumber ", text)
    text = EMAIL.sub(" emailaddress ", text)
    return re.sub(r"\d+", "0", fold(text))


def _read_examples(path: Path) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["intent"] not in INTENTS:
                raise ValueError(f"{path.name}:{number}: unknown intent {row['intent']!r}")
            texts.append(row["text"])
            labels.append(row["intent"])
    return texts, labels


@cache
def _intent_model() -> Pipeline:
    texts, labels = _read_examples(INTENT_EXAMPLES)
    # Character n-grams carry the model across languages, inflections and typos
    # ("zurückschicken"/"zurückgeschickt", "devolver"/"devolución"); word n-grams add the
    # phrases ("where is", "no funciona") that characters inside one word cannot see.
    features = FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                  lowercase=False)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                  token_pattern=r"(?u)\b\w+\b", lowercase=False)),
    ])
    # A linear SVM trains in a fraction of a second where logistic regression over these
    # ~40k sparse features takes seconds; temperature scaling (fitted on 3 folds) turns its
    # margins into probabilities without changing which intent wins.
    classifier = CalibratedClassifierCV(LinearSVC(C=0.5, random_state=0), cv=3,
                                        method="temperature", ensemble=False)
    model = Pipeline([("features", features), ("classifier", classifier)])
    model.fit([_features_text(t) for t in texts], labels)
    return model


def classify_intent(text: str, language: str) -> IntentResult:
    """The intent of one message; ``other`` when the model is not sure enough to act on it.

    The model is multilingual (one model, trained on every language's examples), so
    ``language`` does not change the result; it is part of the signature so that a
    per-language model can replace this one without touching the callers.
    """
    folded = fold(text)
    if _INJECTION.search(folded):
        return IntentResult("other", 1.0)
    if not _LETTER_WORD.search(_ENTITY.sub(" ", text)):
        # Only a number, an ASIN or punctuation: nothing to classify (the entities are read
        # separately).
        return IntentResult("other", 1.0)
    model = _intent_model()
    # The model validated its own inputs when it was trained; per-call checks would cost
    # more than the prediction itself.
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        probabilities = model.predict_proba([_features_text(text)])[0]
    best = int(probabilities.argmax())
    confidence = float(probabilities[best])
    if confidence < MIN_INTENT_CONFIDENCE:
        return IntentResult("other", confidence)
    return IntentResult(cast(Intent, str(model.classes_[best])), confidence)


def warm_up() -> None:
    """Load the language models and train the intent model now, not on the first message."""
    _detector()
    _intent_model()
    _reason_patterns()


# ---------------------------------------------------------------------------------------------
# Return reasons

# The codes of the EU reason table, as the returns engine defines them (one definition).
RETURN_REASONS: tuple[ReturnReason, ...] = get_args(ReturnReason)


@dataclass(frozen=True)
class _ReasonPatterns:
    precedence: tuple[ReturnReason, ...]
    patterns: dict[ReturnReason, dict[str, tuple[re.Pattern[str], ...]]]


@cache
def _reason_patterns() -> _ReasonPatterns:
    raw = json.loads(RETURN_REASON_PATTERNS.read_text(encoding="utf-8"))
    precedence = tuple(raw["_precedence"])
    reasons = {k: v for k, v in raw.items() if not k.startswith("_")}
    if set(reasons) != set(RETURN_REASONS) or sorted(precedence) != sorted(RETURN_REASONS):
        raise ValueError(f"{RETURN_REASON_PATTERNS.name}: needs exactly the reasons "
                         f"{sorted(RETURN_REASONS)} and a _precedence listing each once")
    compiled = {
        cast(ReturnReason, reason): {
            language: tuple(re.compile(p) for p in patterns)
            for language, patterns in by_language.items()
        }
        for reason, by_language in reasons.items()
    }
    return _ReasonPatterns(cast(tuple[ReturnReason, ...], precedence), compiled)


def _match_reason(folded: str, languages: Iterable[str]) -> ReturnReason | None:
    data = _reason_patterns()
    wanted = tuple(languages)
    for reason in data.precedence:
        for language in wanted:
            if any(p.search(folded) for p in data.patterns[reason].get(language, ())):
                return reason
    return None


def extract_return_reason(text: str, language: str) -> ReturnReason | None:
    """The return reason a message states, or None when it states none.

    When a message gives several, the most specific wins: the order is the data file's
    ``_precedence`` (seller-fault reasons before buyer's remorse, narrow before broad).
    """
    folded = fold(text)
    if _INJECTION.search(folded):
        return None  # an instruction to the agent states no reason, whatever words it uses
    found = _match_reason(folded, (language,))
    if found is None:
        # ``language`` is often the conversation's; a message clearly written in another one
        # is read with that language's words. Not with every language's: their words collide
        # ("Stück" folds to English "stuck", Italian "delle" is German for dents).
        written_in = detect_language(text, language)
        if written_in != language:
            found = _match_reason(folded, (written_in,))
    return found
