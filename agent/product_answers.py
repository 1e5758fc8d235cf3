"""Answering a product question from the product detail page, or saying it does not answer.

Retrieval ranks page fields; this module reads what each of the best fields shares with the
question (content words, closeness in meaning), lets the answer decision judge whether it
speaks to the question, and picks the sentences to quote. It never adds a word the page
does not say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from wordfreq import available_languages, zipf_frequency

from agent.answer_decision import (
    AnswerDecision,
    FieldSignals,
    PairScorer,
    asks_quantity,
    decision_for,
    gives_number,
)
from agent.injection import addresses_an_assistant
from agent.request_split import asks
from knowledge.cross_encoder.fields import field_text
from knowledge.index import Evidence
from knowledge.labels import glossary, label_for, terms_for
from knowledge.retriever import Retriever
from knowledge.text import COMPOUNDING_LANGUAGES, fold, stopwords, tokens

SAME_LANGUAGE_CANDIDATES = 5
CROSS_LINGUAL_CANDIDATES = 25
UNKNOWN_WEIGHT = 2.0
# Zipf frequency (log10 of uses per billion words) under which a word is a specialist term:
# "mulesing" 0, "Petzl" 1.5, against "flight" 4.9 or "Allergiker" 3.0.
SPECIALIST_ZIPF = 2.0
_MIN_COMPOUND_TAIL = 4
# How many letters an asked word may add to an attribute's word and still be a form of it
# ("washable" of "wash", "leichter" of "leicht"); more is another word that merely opens
# with it ("bluetooth" is no colour "blue", "Kinderwagen" no child "Kind").
LONGER_FORM = 4
MAX_FACTS = 2
MAX_QUOTE_CHARS = 300
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
_WORDS = re.compile(r"[^\W_][\w-]*[^\W_]|[^\W_]")
_TITLE_TAIL = re.compile(r",|\s[–—-]\s|\s\||\(")


@dataclass(frozen=True, slots=True)
class ProductAnswer:
    facts: list[tuple[Evidence, str]]  # each quoted evidence with the exact text quoted
    topic: str | None  # the page field a missing answer belongs to, e.g. attributes.battery_life
    keywords: list[str]  # the question's content words, for restating it without the message
    # The product whose page came closest to the question (the best retrieved field's), so
    # an unanswered question is filed under the item it is about.
    closest_asin: str | None = None

    @property
    def answered(self) -> bool:
        return bool(self.facts)


def _stems(text: str, language: str) -> set[str]:
    return {t for t in tokens(text, language) if len(t) > 2}


@dataclass(frozen=True, slots=True)
class FieldWords:
    """The stems a field offers a question: its text's, and for an attribute those of its
    label and of the words customers use for it."""

    text: frozenset[str]
    terms: frozenset[str]


def _evidence_stems(hit: Evidence, question_language: str) -> FieldWords:
    """The words a field offers a question: its text, and for an attribute its label and the
    words customers use for it, in the page's language and, on a page in another language,
    in the question's ("weigh" for "Gewicht"): a cross-lingual question is read as a local
    one, and the answer quotes the page as it is written."""
    terms: frozenset[str] = frozenset()
    if hit.field.startswith("attributes."):
        key = hit.field.removeprefix("attributes.")
        for language in dict.fromkeys([hit.language, question_language]):
            terms |= _own_stems(key, language)
    return FieldWords(frozenset(_stems(hit.text, hit.language)), terms)


@cache
def _own_stems(key: str, language: str) -> frozenset[str]:
    """The stems of an attribute's label and of the words customers use for it (a key the
    glossary does not hold has its label, made of the key's words)."""
    return frozenset(_stems(" ".join([label_for(key, language), *terms_for(key, language)]),
                            language))


def _named_attributes(asked: list[AskedWord], language: str) -> set[str]:
    """The attribute fields whose customer words name every asked word."""
    if not asked:
        return set()
    return {f"attributes.{key}" for key, stems in _attribute_stems(language).items()
            if all(_names(w.stem, stems) for w in asked)}


@cache
def _attribute_vocabulary(language: str) -> frozenset[str]:
    """Stems of every attribute's label and customer words in ``language``."""
    return frozenset(stem for key in glossary() for stem in _own_stems(key, language))


def _counted(asked: list[AskedWord], hit: Evidence, stems: FieldWords,
             language: str) -> list[AskedWord]:
    """The asked words a field is judged on. On a page in another language the customer's
    name for the product ("nursing pillow" for "Cojín de lactancia") is in no field: when
    the customer names an attribute in their language ("heavy" for "Peso del producto"), only
    the words the page shares and the words customers use for attributes count for it."""
    if hit.language == language or not hit.field.startswith("attributes."):
        return asked
    key = hit.field.removeprefix("attributes.")
    own = _own_stems(key, language)
    if not any(w.stem in own for w in asked):
        return asked
    vocabulary = _attribute_vocabulary(language)
    return [w for w in asked if _covered(w, stems, language) or w.stem in vocabulary]


def _shares(question: AbstractSet[str], evidence: AbstractSet[str],
            longer: int | None = None) -> set[str]:
    # Prefix match both ways: stems of one form meet longer forms and compound tails. An
    # asked word longer than the field's by more than ``longer`` letters (when given) is
    # another word: "bluetooth" is not the "Blue" of a colour.
    return {q for q in question for e in evidence
            if q == e or (len(q) >= 4 and e.startswith(q))
            or (len(e) >= 4 and q.startswith(e) and (longer is None or len(q) - len(e) <= longer))}


@cache
def _attribute_stems(language: str) -> dict[str, frozenset[str]]:
    """Per attribute key, the stems of its label and of the words customers use for it."""
    return {key: _own_stems(key, language) for key in glossary()}


def _topic(question: set[str], language: str) -> str | None:
    best, best_hits = None, 0
    for key, stems in _attribute_stems(language).items():
        hits = len(question & stems)
        if hits > best_hits:
            best, best_hits = f"attributes.{key}", hits
    return best


def _quote(hit: Evidence, question: set[str]) -> str:
    if hit.field.startswith("attributes."):
        return f"{label_for(hit.field.removeprefix('attributes.'), hit.language)}: {hit.text}"
    sentences = [s for s in _SENTENCE.split(hit.text) if s.strip()]
    scored = sorted(sentences, key=lambda s: -len(_shares(question, _stems(s, hit.language))))
    best = scored[0] if scored and _shares(question, _stems(scored[0], hit.language)) else hit.text
    return best if len(best) <= MAX_QUOTE_CHARS else best[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + " …"


@cache
def _question_words(language: str) -> frozenset[str]:
    text = resources.files("agent").joinpath("data/question_words.json").read_text("utf-8")
    return frozenset(fold(w) for w in json.loads(text).get(language, []))


@dataclass(frozen=True, slots=True)
class AskedWord:
    """One content word of the question: its stem, and for a hyphenated word each part's."""

    word: str
    stem: str
    parts: tuple[str, ...]


def _title_head(title: str) -> str:
    # "Brand Product, feature, feature – more": the product's name comes before the first
    # comma or dash; what follows lists facts ("apta para lavavajillas") a customer may ask.
    return _TITLE_TAIL.split(title, maxsplit=1)[0]


def asked_part(message: str, language: str) -> str:
    """The sentences of ``message`` that ask, when it also tells ("¿Cuánto pesa la bici? Mi
    hija quiere que la lleve en brazos"): what the customer tells around a question says why
    they ask, not what, and its words would dilute what a field must cover. A sentence asks
    when it ends with a question mark or opens as a request ("I want to know how to clean
    it."). A message that asks in every sentence, or in none, is asked whole."""
    sentences = [s.strip() for s in _SENTENCE.split(message) if s.strip()]
    asking = [s for s in sentences if asks(s, language)]
    return " ".join(asking) if asking and len(asking) < len(sentences) else message


def asked_words(question: str, language: str, product_names: str) -> list[AskedWord]:
    """The question's content words, without function words, question framing and the words
    that name the product (which say which product, not what is asked about it). Read from
    the sentences that ask (``asked_part``). When nothing but the product is named there,
    the framing word names the property ("How long is the scarf?" its length, "What is it
    made of?" its material) when customers use it for an attribute
    (knowledge/data/attribute_labels.json), or else such a word of the product's name
    ("¿De qué madera son?"); failing that, the whole message is read ("Geht das?" after the
    situation told)."""
    asking = asked_part(question, language)
    read = _read_words(asking, language, product_names)
    if read.content:
        return read.content
    named = _attribute_words(language)

    def naming(words: list[str]) -> list[AskedWord]:
        return [AskedWord(word, stems[0], ()) for word in words
                if fold(word) in named and (stems := tokens(word, language))]

    # A word of the product's name asks when it is all there is and customers use it for
    # an attribute: "¿De qué madera son?" of olive-wood utensils asks for the material.
    from_framing = naming(read.framing) or naming(read.product)
    if from_framing or asking == question:
        return from_framing
    return _read_words(question, language, product_names).content


@dataclass(frozen=True, slots=True)
class _Read:
    content: list[AskedWord]
    framing: list[str]  # the words that frame the question
    product: list[str]  # the words that name the product


def _read_words(question: str, language: str, product_names: str) -> _Read:
    """The content words of ``question``, and the words that frame it or name the product."""
    stop = stopwords(language) | _question_words(language)
    head = _title_head(product_names)
    whole_names = {t for w in _WORDS.findall(head) for t in tokens(w, language)[:1]
                   if t.isalpha()} | {t for w in _WORDS.findall(head) for p in w.split("-")
                                      for t in tokens(p, language)[:1] if t.isalpha()}
    # The title's words as written, each hyphen part too, for a compound's tail written as
    # a word of its own ("jacke" of "Kinder-Regenjacke").
    title_words = {fold(p) for w in _WORDS.findall(head) for p in (w, *w.split("-"))}
    asked: list[AskedWord] = []
    framing: list[str] = []
    product: list[str] = []
    for word in _WORDS.findall(question):
        written = fold(word)
        if written in stop:
            framing.append(word)
            continue
        stems = tokens(word, language)
        if not stems or len(stems[0]) <= 2:
            continue
        stem = stems[0]
        # A German noun's compound tail names the product ("Lampe" of "Schreibtischlampe");
        # a lower-case verb sharing that tail ("waschen" of "Bettwäsche") asks about it.
        tail_name = language in COMPOUNDING_LANGUAGES and len(stem) >= 4 and (
            (word[:1].isupper() and any(n.endswith(stem) for n in whole_names))
            # Customers who type all in lower case write nouns so too: then the word itself,
            # not its stem, must end a title word ("jacke"; "waschen" is not "Bettwäsche").
            or any(t != written and t.endswith(written) for t in title_words))
        if stem in whole_names or tail_name:
            product.append(word)
            continue
        parts = tuple(tokens(p, language)[0] for p in word.split("-")
                      if "-" in word and tokens(p, language)) if "-" in word else ()
        asked.append(AskedWord(word, stem, tuple(p for p in parts if len(p) > 2)))
    return _Read(asked, framing, product)


@cache
def _attribute_words(language: str) -> frozenset[str]:
    """Every word customers use for an attribute in ``language``, folded."""
    return frozenset(fold(term) for entry in glossary().values() if language in entry
                     for term in entry[language]["terms"])


@cache
def _wordlist_languages() -> frozenset[str]:
    return frozenset(available_languages())


def load_word_lists(languages: tuple[str, ...] = ("de", "es", "en", "fr", "it")) -> None:
    """Read the word lists now (a few hundred milliseconds each), not in a customer's turn."""
    for language in languages:
        if language in _wordlist_languages():
            zipf_frequency("a", language)


def _rare(word: str, language: str) -> bool:
    if zipf_frequency(word, language) >= SPECIALIST_ZIPF:
        return False
    # A German compound is rare as a whole and plain by its tail ("Wanddimmer" is a dimmer).
    return not (language in COMPOUNDING_LANGUAGES and any(
        zipf_frequency(word[i:], language) >= SPECIALIST_ZIPF
        for i in range(3, len(word) - _MIN_COMPOUND_TAIL + 1)))


def is_specialist_term(word: AskedWord, language: str) -> bool:
    """A word rare in the language itself, not only in the catalog: the very thing asked
    ("mulesing-free", "Petzl"), never a customer's plain word for what a page says otherwise
    ("flight" for "airline")."""
    if language not in _wordlist_languages():
        return False  # no word list: nothing is known to be rare
    return any(_rare(part.lower(), language) for part in word.word.split("-") if part.isalpha())


def _covered(word: AskedWord, words: FieldWords, language: str) -> bool:
    # "mulesing-free": every part must be there, not just "free". In a language that writes
    # compounds as one word ("Akkulaufzeit" of a field's "Akku") an asked word may be any
    # longer than the field's; elsewhere only a form of it.
    longer = None if language in COMPOUNDING_LANGUAGES else LONGER_FORM
    if word.stem in _inclusion_stems("asks", language) \
            and (words.text | words.terms) & _stated_inclusion():
        # "¿Trae pilas?" of "3 pilas AAA (incluidas)", "dabei" of the attribute "Lieferumfang"
        return True
    return all(_shares({stem}, words.text, longer) or _names(stem, words.terms)
               for stem in (word.parts or (word.stem,)))


@cache
def _inclusion_words() -> dict[str, dict[str, list[str]]]:
    text = resources.files("agent").joinpath("data/inclusion_words.json").read_text("utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


@cache
def _inclusion_stems(kind: str, language: str) -> frozenset[str]:
    """The stems of the words that ask (``asks``, with those that state it) or state
    (``states``) whether a thing comes with the product, in ``language``."""
    lists = ("asks", "states") if kind == "asks" else ("states",)
    words = [w for name in lists for w in _inclusion_words()[name].get(language, [])]
    return frozenset(stems[0] for w in words if (stems := tokens(w, language)))


@cache
def _stated_inclusion() -> frozenset[str]:
    """The stems that state inclusion in any language: a page in another language than the
    question states it in its own."""
    return frozenset(s for language in _inclusion_words()["states"]
                     for s in _inclusion_stems("states", language))


def _names(stem: str, terms: frozenset[str]) -> bool:
    """Whether an asked stem is one of an attribute's words: the word itself, a longer form
    of it ("heavier", "washable", at most ``LONGER_FORM`` letters more), or a form a few letters
    shorter ("weigh" of "weight"). Not a word that merely opens a longer term: "hoch" names
    no "Hochglanz" finish. The field's own text is read by prefix both ways (``_shares``)."""
    return any(stem == t
               or (len(t) >= 4 and stem.startswith(t) and len(stem) - len(t) <= LONGER_FORM)
               or (len(stem) >= 4 and t.startswith(stem) and len(t) - len(stem) <= 3)
               for t in terms)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A retrieved field with what the decision knows of it."""

    evidence: Evidence
    signals: FieldSignals


@dataclass(frozen=True, slots=True)
class Candidates:
    """The fields that may answer a question, and what was read of the question."""

    fields: list[Candidate]
    asked: list[AskedWord]


def candidates(
    index: Retriever, question: str, *, language: str, marketplace: str,
    asins: list[str], product_names: str, dense_languages: frozenset[str] | None = None,
    neighbours: bool = True, pair_scorer: PairScorer | None = None,
    reads_pair: Callable[[FieldSignals], bool] = lambda signals: True,
) -> Candidates:
    """The best fields of the pages of ``asins`` for ``question``, each with its signals.

    Never offered: a field written to steer an assistant, and a field that lacks a word rare
    in the language too (a specialist term: "mulesing", "Petzl"), whatever else it shares.
    ``neighbours``: read the question's cosine to every field of the products (``best_other``
    and ``mean``); without it a field's cosine is the one retrieval found, if any.
    ``pair_scorer``: also score each offered field that ``reads_pair`` names, read with the
    question (``cross_score``).
    """
    if dense_languages is None:
        dense_languages = index.dense_languages
    # How close the question lies to every field of the products, read first: the query's
    # vector stays prepared for the search (``query_vector``), which then uses it.
    cosines = (index.similarities(question, asins=asins, marketplace=marketplace)
               if neighbours else {})
    # The five best fields; on a page in another language every field, since neither leg of
    # retrieval ranks a field well across languages ("heavy" against "Peso del producto").
    hits = index.search(question, marketplace=marketplace, asins=asins, language=language,
                        k=SAME_LANGUAGE_CANDIDATES)
    if any(h.language != language for h in hits):
        found = index.search(question, marketplace=marketplace, asins=asins,
                             language=language, k=CROSS_LINGUAL_CANDIDATES)
        hits += [h for h in found if h.language != language
                 and h.chunk_id not in {k.chunk_id for k in hits}]
    asked = asked_words(question, language, product_names)
    # An attribute the question names by the words customers use for it ("Wie hoch ist der
    # Nachttisch?" its dimensions) is offered though neither leg ranked it among the best.
    named = _named_attributes(asked, language)
    if named and not any(h.field in named for h in hits):
        found = index.search(question, marketplace=marketplace, asins=asins,
                             language=language, k=CROSS_LINGUAL_CANDIDATES)
        hits += [h for h in found if h.field in named
                 and h.chunk_id not in {k.chunk_id for k in hits}]
    if asked:
        informative = set(index.informative_terms(language, [w.stem for w in asked]))
        # Words common across the catalog in this language ("use", "size") still count
        # when they are all the question has.
        asked = [w for w in asked if w.stem in informative] or asked
    # A word no page of the catalog uses is the most specific thing asked ("Petzl",
    # "mulesing"): it weighs double, so the words around it cannot carry the answer alone.
    df = index.document_frequencies(
        language, [s for w in asked for s in (w.stem, *w.parts)])
    unknown = [w for w in asked if any(df.get(s, 0) == 0 for s in (w.stem, *w.parts))]
    weight = {w.word: UNKNOWN_WEIGHT if w in unknown else 1.0 for w in asked}
    specialist = [w for w in unknown if is_specialist_term(w, language)]
    mean = sum(cosines.values()) / len(cosines) if cosines else None
    quantity = asks_quantity(question)
    found_fields: list[Candidate] = []
    for hit in hits:
        if addresses_an_assistant(hit.text):
            continue
        stems = _evidence_stems(hit, language)
        if not all(_covered(w, stems, language) for w in specialist):
            continue  # a page that does not name the specialist term cannot answer about it
        counted = _counted(asked, hit, stems, language)
        others = [c for chunk_id, c in cosines.items() if chunk_id != hit.chunk_id]
        signals = FieldSignals(
            field=hit.field,
            similarity=cosines.get(hit.chunk_id, hit.similarity),
            best_other=max(others, default=None), mean=mean,
            dense_rank=hit.dense_rank, lexical_rank=hit.lexical_rank,
            covered=sum(weight[w.word] for w in counted if _covered(w, stems, language)),
            asked=sum(weight[w.word] for w in counted), words_asked=len(asked),
            unknown_word=bool(unknown), cross_lingual=hit.language != language,
            length=len(hit.text), quantity_asked=quantity, number_given=gives_number(hit.text),
            in_model_languages=language in dense_languages)
        found_fields.append(Candidate(hit, signals))
    if pair_scorer is not None:
        # One batch for the fields whose score can matter: the cross-encoder reads the
        # question with each.
        scored = [i for i, c in enumerate(found_fields) if reads_pair(c.signals)]
        scores = pair_scorer.scores(question, [
            field_text(e.field, e.text, e.language)
            for e in (found_fields[i].evidence for i in scored)]) if scored else []
        for i, score in zip(scored, scores, strict=True):
            found_fields[i] = Candidate(found_fields[i].evidence,
                                        replace(found_fields[i].signals, cross_score=score))
    return Candidates(found_fields, asked)


def answer_product_question(
    index: Retriever, question: str, *, language: str, marketplace: str,
    asins: list[str], product_names: str, dense_languages: frozenset[str] | None = None,
    decision: AnswerDecision | None = None,
) -> ProductAnswer:
    """Evidence from the pages of ``asins`` that answers ``question``, or none.

    Each candidate field (``candidates``) is judged by one decision (``agent.answer_decision``;
    the agent's is set by ``CSBA_ANSWER_DECISION``), by default the calibrated decision. The
    fields it is surest of are quoted, at most two.
    """
    if decision is None:
        decision = decision_for(index.model_name)
    found = candidates(index, question, language=language, marketplace=marketplace,
                       asins=asins, product_names=product_names, dense_languages=dense_languages,
                       neighbours=decision.reads_neighbours,
                       pair_scorer=decision.pair_scorer, reads_pair=decision.reads_pair)
    scored = [(decision.confidence(c.signals), c) for c in found.fields]
    kept = [(confidence, c) for confidence, c in scored if confidence >= decision.bar]
    # Surest first; among equals (the rule's 1.0) the field covering most, then retrieval's order.
    kept.sort(key=lambda s: (-s[0], -s[1].signals.covered, -s[1].evidence.score))
    stems = {w.stem for w in found.asked}
    facts = [(c.evidence, _quote(c.evidence, stems)) for _, c in kept[:MAX_FACTS]]
    keywords = [w.word for w in found.asked]
    closest = max(found.fields, key=lambda c: c.evidence.score, default=None)
    return ProductAnswer(facts=facts, topic=_topic(stems, language), keywords=keywords,
                         closest_asin=closest.evidence.asin if closest else None)
