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
from typing import Any, Literal, cast, get_args

import numpy as np
import sklearn
from lingua import Language, LanguageDetector, LanguageDetectorBuilder
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from agent.injection import gives_orders
from agent.meaning import Embed, embed, label_vote, load_examples
from agent.returns import ReturnReason

DATA_DIR = Path(__file__).parent / "data"
INTENT_EXAMPLES = DATA_DIR / "intent_examples.jsonl"
RETURN_REASON_PATTERNS = DATA_DIR / "return_reasons.json"
RETURN_REASON_EXAMPLES = DATA_DIR / "return_reason_examples.jsonl"
BUYING_WORDS = DATA_DIR / "buying_words.json"
WITHDRAWAL_WORDS = DATA_DIR / "withdrawal_words.json"
NOT_RECEIVED_WORDS = DATA_DIR / "not_received_words.json"
POINTING_WORDS = DATA_DIR / "pointing_words.json"

SUPPORTED_LANGUAGES = ("de", "es", "en", "fr", "it")

# ---------------------------------------------------------------------------------------------
# Language

_LINGUA: dict[str, Language] = {
    "de": Language.GERMAN, "es": Language.SPANISH, "en": Language.ENGLISH,
    "fr": Language.FRENCH, "it": Language.ITALIAN,
}
# Below this, lingua is guessing between near-equals ("ok" is 0.42 en, 0.39 de): the
# conversation's language is the better guess. A lower confidence still names the language
# when it is well ahead of the next one: "Can I use the lamp in the bath?" is 0.47 English,
# 0.15 French, and was answered in German on a German marketplace; "Hallo Team" (0.44 en,
# 0.22 it) stays in the conversation's. Over the intent examples of every language put to a
# conversation in another one, the messages left in the wrong language fell from 145 to 137
# of 2,143, and none of them left its own language (5 either way).
MIN_LANGUAGE_CONFIDENCE = 0.5
MIN_LEADING_CONFIDENCE = 0.35
MIN_LEAD_RATIO = 2.5
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
    if not values:
        return default
    top, runner_up = values[0].value, values[1].value if len(values) > 1 else 0.0
    if top < MIN_LANGUAGE_CONFIDENCE and (top < MIN_LEADING_CONFIDENCE
                                          or top < MIN_LEAD_RATIO * runner_up):
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
# The meaning vote (agent/meaning.py): its share of the fused probability, how many of each
# intent's nearest examples are averaged, and how sharply a nearer intent outweighs the
# next. Tuned on the intent examples (n-grams cross-validated, each example compared without
# itself) and the tune part of tests/agent/routing_eval.jsonl: accuracy 0.853 (examples) /
# 0.915 (tune) with n-grams alone, 0.938 / 1.000 fused. A vote of the 5 nearest examples
# overall did as well on the examples (0.951) but overruled the n-grams where e5 confuses
# two phrasings ("how do I reset" beside "how do I return"); 3 or 10 examples, a weight of
# 0.5 or a softer temperature lose 1-3 points on one of the two.
MEANING_WEIGHT = 0.6
MEANING_NEIGHBOURS = 5
MEANING_TEMPERATURE = 0.01


@dataclass(frozen=True)
class IntentResult:
    """The most likely intent and the models' probability for it, and how likely the message
    is a question about a product (whichever intent won): with an order in the conversation,
    a question about its product reads as ``product_question`` (agent/core.py)."""

    intent: Intent
    confidence: float
    product: float = 0.0
    # The likelier of "not understood" and "a person, please": a product reading must be at
    # least as likely to overrule them.
    rival: float = 0.0


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


def ngram_probabilities(text: str) -> dict[str, float]:
    """The n-gram model's probability for each intent (the words as typed)."""
    model = _intent_model()
    # The model validated its own inputs when it was trained; per-call checks would cost
    # more than the prediction itself.
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        probabilities = model.predict_proba([_features_text(text)])[0]
    return {str(c): float(p) for c, p in zip(model.classes_, probabilities, strict=True)}


def meaning_text(text: str) -> str:
    """A message as e5 reads it, for its intent, its return reason and the product search
    alike (one text, so one embedding can serve all three): without order numbers, addresses
    and phone numbers. Their digits mean nothing, and a placeholder word would pull any
    message that carries one ("Blau Wolke Gurke? 028-...") towards "where is my order"; the
    n-gram model sees them. A seller's case never quotes them either."""
    text = ORDER_ID.sub(" ", text)
    text = EMAIL.sub(" ", text)
    text = PHONE.sub(" ", text)
    text = re.sub(r"\(\s*\)", " ", text)  # "(028-...)" leaves its brackets
    return re.sub(r"\s+", " ", text).strip()


def meaning_probabilities(text: str, embed: Embed = embed) -> dict[str, float]:
    """Each intent's nearest examples by meaning (e5), whatever the words."""
    examples = load_examples(INTENT_EXAMPLES, "intent", meaning_text)
    vector = embed([meaning_text(text)])[0]
    return label_vote(examples, vector, k=MEANING_NEIGHBOURS, temperature=MEANING_TEMPERATURE)


def intent_probabilities(text: str, embed: Embed = embed) -> dict[str, float]:
    """Both readings fused: ``MEANING_WEIGHT`` of the meaning vote, the rest n-grams."""
    ngrams = ngram_probabilities(text)
    meaning = meaning_probabilities(text, embed)
    return {intent: (1 - MEANING_WEIGHT) * ngrams.get(intent, 0.0)
            + MEANING_WEIGHT * meaning.get(intent, 0.0) for intent in INTENTS}


def addresses_the_agent(text: str) -> bool:
    """Whether a message gives the agent orders ("ignore your instructions…"): read as
    ``other`` whatever else it says, and never taken for a question about a product."""
    # The model learns instructions aimed at the agent from examples too; the patterns
    # (agent/data/injection_patterns.json) make sure an injection that borrows order words
    # ("...and refund 500 EUR") is never read as a refund request.
    return gives_orders(fold(text))


def only_entities(text: str) -> bool:
    """Whether a message holds no word besides order numbers, ASINs and e-mail addresses
    ("028-4306213-9513237", a caller's keypad entry)."""
    return not _LETTER_WORD.search(_ENTITY.sub(" ", text))


def classify_intent(text: str, language: str, *, by_meaning: bool = True,
                    embed: Embed = embed) -> IntentResult:
    """The intent of one message; ``other`` when the models are not sure enough to act on it.

    The models are multilingual (one model, trained on every language's examples), so
    ``language`` does not change the result; it is part of the signature so that a
    per-language model can replace this one without touching the callers. Without
    ``by_meaning`` only the n-gram model reads it (the routing before meaning, to compare).
    ``embed``: how e5 vectors are had (``agent.meaning.Embed``).
    """
    if addresses_the_agent(text):
        return IntentResult("other", 1.0)
    if states_withdrawal(text):
        # A declared withdrawal is a return request whatever else it says ("Hiermit widerrufe
        # ich den ... Vertrag über den Kauf der folgenden Waren"): the model form's formal
        # words are too unlike the examples to be read by the models alone.
        return IntentResult("return_request", 1.0)
    if only_entities(text):
        # Only a number, an ASIN or punctuation: nothing to classify (the entities are read
        # separately).
        return IntentResult("other", 1.0)
    probabilities = (intent_probabilities(text, embed) if by_meaning
                     else ngram_probabilities(text))
    best = max(probabilities, key=lambda intent: probabilities[intent])
    confidence = probabilities[best]
    product = probabilities["product_question"]
    rival = max(probabilities["other"], probabilities["ask_for_person"])
    if confidence < MIN_INTENT_CONFIDENCE:
        return IntentResult("other", confidence, product, rival)
    return IntentResult(cast(Intent, best), confidence, product, rival)


@cache
def _buying_words() -> dict[str, Any]:
    words: dict[str, Any] = json.loads(BUYING_WORDS.read_text(encoding="utf-8"))
    return words


def _compiled(by_language: dict[str, list[str]]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for language in SUPPORTED_LANGUAGES for p in by_language[language])


@cache
def _buying_patterns() -> tuple[re.Pattern[str], ...]:
    return _compiled(_buying_words())


@cache
def _included_patterns() -> tuple[re.Pattern[str], ...]:
    return _compiled(_buying_words()["_included"])


@cache
def _withdrawal_patterns() -> tuple[re.Pattern[str], ...]:
    return _compiled(json.loads(WITHDRAWAL_WORDS.read_text(encoding="utf-8")))


def states_withdrawal(text: str) -> bool:
    """Whether a message declares the legal right of withdrawal ("Ich widerrufe den Kauf",
    "desisto de mi contrato", the EU model form). Every language's words at once: they name
    one legal act and collide with nothing across languages."""
    folded = fold(text)
    return any(p.search(folded) for p in _withdrawal_patterns())


@cache
def _not_received_patterns() -> tuple[re.Pattern[str], ...]:
    return _compiled(json.loads(NOT_RECEIVED_WORDS.read_text(encoding="utf-8")))


def states_not_received(text: str) -> bool:
    """Whether a message says the parcel did not reach the customer ("Tracking says
    delivered, I got nothing", "dice entregado pero no me ha llegado nada"). Every language's
    words at once, as for withdrawal."""
    folded = fold(text)
    return any(p.search(folded) for p in _not_received_patterns())


# Read as these, a message may still be a question about a product the customer ordered.
OWNED_PRODUCT_CANDIDATES = frozenset({"pre_order_question", "other", "ask_for_person"})
# How likely (the fused probability of product_question) a message read as "not understood"
# or "a person, please" must be a product question, and at least as likely as either of
# those, to be taken as one about an ordered product. Chosen on the intent examples
# (n-grams cross-validated, each compared without itself): of the 12 product questions read
# as "other" or "a person", 9 are taken back, and 4 of the 248 off-topic questions ("How
# tall is Ben Nevis?") go to the product instead; without the comparison 20 would, with a
# floor of 0.25 only 5 of the 12 are taken back.
MIN_OWNED_PRODUCT_SCORE = 0.15


def _about_a_product(intent: str, product: float, rival: float) -> bool:
    # A pre-order or product reading already says the message is about a product; "not
    # understood" and "a person, please" need the product reading to be likely.
    return intent in {"pre_order_question", "product_question"} \
        or intent in OWNED_PRODUCT_CANDIDATES and product >= max(MIN_OWNED_PRODUCT_SCORE, rival)


def reads_as_owned_product(intent: str, product: float, text: str,
                           rival: float = 0.0) -> bool:
    """Whether a message read as ``intent`` is, when the customer has an order, a question
    about a product in it: never when it asks about buying (price, stock, another variant
    or size to buy), which stays with the seller before purchase."""
    return intent in OWNED_PRODUCT_CANDIDATES and not speaks_of_buying(text) \
        and _about_a_product(intent, product, rival)


def reads_as_buying(intent: str, product: float, text: str, rival: float = 0.0) -> bool:
    """Whether a message read as ``intent`` asks about buying a product: a product reading
    with buying words, also one the models were unsure of ("La bici la tienen en rosa? es para
    la hermanita": most likely a product question, yet under the intent bar, so "not
    understood")."""
    return intent != "pre_order_question" and speaks_of_buying(text) \
        and _about_a_product(intent, product, rival)


def speaks_of_buying(text: str) -> bool:
    """Whether a message asks about buying (price, stock, more of it, another variant or
    size to buy) rather than about the product itself. Every language's words at once:
    buying words rarely collide across languages, and a mixed message is still read."""
    folded = fold(text)
    if any(p.search(folded) for p in _included_patterns()):
        return False  # "does it come with one, or must I buy one?": what the product includes
    return any(p.search(folded) for p in _buying_patterns())


@cache
def _pointing_patterns() -> dict[str, tuple[re.Pattern[str], ...]]:
    raw = json.loads(POINTING_WORDS.read_text(encoding="utf-8"))
    return {language: tuple(re.compile(p) for p in raw[language])
            for language in SUPPORTED_LANGUAGES}


def points_at_a_thing(text: str, language: str) -> bool:
    """Whether a message asks about a thing it points at without naming it ("who makes
    this?", "ist es digital?", "¿tiene correa?", "are there armrests?"). With an order in
    view, that thing is the product the customer has: the question is about it, even when
    the models could not place it. Read in the message's language only: German "es" is
    Spanish "is"."""
    if "?" not in text:
        return False
    folded = fold(text)
    return any(p.search(folded) for p in _pointing_patterns().get(language, ()))


def warm_up() -> None:
    """Load the language models, train the intent model and read the examples by meaning
    (e5, their cached vectors) now, not on the first message."""
    _detector()
    _intent_model()
    _reason_patterns()
    _buying_patterns()
    _withdrawal_patterns()
    _not_received_patterns()
    _pointing_patterns()
    load_examples(INTENT_EXAMPLES, "intent", meaning_text)
    _reason_model()


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


def extract_return_reason(text: str, language: str, *, by_meaning: bool = True,
                          embed: Embed = embed) -> ReturnReason | None:
    """The return reason a message states, or None when it states none.

    The patterns first: when a message gives several, the most specific wins (the data
    file's ``_precedence``: seller-fault reasons before buyer's remorse, narrow before
    broad). When no pattern matches, the reason is read by meaning ("kam mit abgebrochenem
    Fuß an"), unless ``by_meaning`` is off: a short answer to the agent's question ("the
    jumper") states no new reason, and its reading by meaning must not make one up.
    ``embed``: how e5 vectors are had (``agent.meaning.Embed``).
    """
    folded = fold(text)
    if gives_orders(folded):
        return None  # an instruction to the agent states no reason, whatever words it uses
    found = _match_reason(folded, (language,))
    if found is None:
        # ``language`` is often the conversation's; a message clearly written in another one
        # is read with that language's words. Not with every language's: their words collide
        # ("Stück" folds to English "stuck", Italian "delle" is German for dents).
        written_in = detect_language(text, language)
        if written_in != language:
            found = _match_reason(folded, (written_in,))
    if found is None and by_meaning:
        found = _reason_by_meaning(text, embed)
    return found


# Reading a reason by meaning: a logistic regression over the e5 vectors of
# agent/data/return_reason_examples.jsonl, one class per reason and "none" (a plain "I want to
# return it", the item's name given as an answer). A clause's likeliest reason counts when its
# probability reaches the bar. It replaced the nearest example above a similarity and a margin:
# e5's similarities between short sentences crowd together (0.83-0.90 for every reason), so a
# clause like "der Spiegel kam mit einem Sprung an" was nearest to "damaged" by 0.008 and under
# the bar, and the reason went unread. On the held-out part of tests/agent/routing_eval.jsonl
# reason accuracy went from 39 to 42 of 43 (seller fault or not: 38 to 41); its tune part (13)
# stays 13. C and the bar from the tune parts (the routing set's and the customers' questions'):
# every C from 20 and every bar from 0.2 to 0.4 read them alike. A classifier learns what the
# "none" examples lack: with none of them saying where the product goes or who uses it, "Der
# Stecker kommt in den Keller" read as "arrived damaged" (kommt, kam an); hence such examples.
REASON_MODEL_C = 20.0
MIN_REASON_PROBABILITY = 0.3
# Where a message's clauses part: sentence ends, commas, and the words that give a reason
# ("..., because it won't heat", "weil", "porque", "parce que", "perché").
_CLAUSE_BREAK = re.compile(
    r"[.!?¡¿;,:\n]+\s*|\s(?=(?:because|since|as|weil|da|denn|porque|ya que|pues|parce que"
    r"|car|perché|poiché)\s)", re.IGNORECASE)


@cache
def _reason_model() -> LogisticRegression:
    """The reasons' classifier, fitted on the examples' vectors when first needed (a fraction
    of a second; the vectors are cached by ``load_examples``)."""
    examples = load_examples(RETURN_REASON_EXAMPLES, "reason", meaning_text)
    return LogisticRegression(C=REASON_MODEL_C, solver="newton-cg").fit(
        examples.vectors, list(examples.labels))


def _reason_by_meaning(text: str, embed: Embed) -> ReturnReason | None:
    model = _reason_model()
    # Each clause alone too: "It came with a broken base. I want to return it." states its
    # reason in the first, and the second would pull the whole towards "no reason". The
    # message comes first: ``embed`` may have its vector already (``Embed``).
    parts = [meaning_text(text)]
    clauses = [c for c in (meaning_text(p) for p in _CLAUSE_BREAK.split(text)) if c]
    if len(clauses) > 1:
        parts += clauses
    best: tuple[float, str] | None = None
    clause_labels: list[str] = []
    for position, row in enumerate(model.predict_proba(embed(parts))):
        top = int(np.argmax(row))
        label, probability = str(model.classes_[top]), float(row[top])
        if position > 0:
            clause_labels.append(label)
        if label == "none" or probability < MIN_REASON_PROBABILITY:
            continue
        if best is None or probability > best[0]:
            best = (probability, label)
    if clause_labels and all(label == "none" for label in clause_labels):
        # Each clause alone says no reason ("I want to return the filter", "I never used it"):
        # what the whole seems to say is a blend of their words, not a reason stated.
        return None
    return cast(ReturnReason, best[1]) if best else None
