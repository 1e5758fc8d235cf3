"""What a conversation remembers between turns, and what a message means within it.

A conversation row keeps its language, the order in view, what the agent last asked for
(``pending``, and the request it belongs to, ``pending_intent``) and how many messages in a
row it did not understand. A message is read against them: a short answer to what was asked
continues the earlier request, and a question about a product the sender has proven theirs is
a product question even when the intent models could not place it. Who the sender has proven
to be is ``agent.identity``'s to say; what the last answer was decided from, and a follow-up
about it, ``agent.follow_ups``'s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.closings import says_goodbye
from agent.db import Store
from agent.follow_ups import last_answered_intent
from agent.identity import order_in_view, proven_products
from agent.meaning import Embed, embed
from agent.messages import InboundMessage, Outcome
from agent.models import ConversationRow
from agent.understanding import (
    addresses_the_agent,
    extract_asins,
    extract_emails,
    extract_return_reason,
    meaning_text,
    points_at_a_thing,
    reads_as_buying,
    reads_as_owned_product,
    speaks_of_buying,
)
from agent.verification import extract_code
from base.money import MARKETPLACE_LANGUAGE
from knowledge.embeddings import is_e5
from knowledge.retriever import Retriever

# A message the intent models could not place ("Wie groß ist die Fläche zum Malen eigentlich?",
# "can i screw it onto a tripod") is a question about an ordered product when it lies this close
# (e5 cosine, query against the page's fields) to one of that product's fields. Chosen on the
# tune half of the customers' questions (evals/datasets/customers, split by a hash of the id)
# against the intent set's off-topic and person requests put to every page of those catalogs:
# at 0.82, 79 % of the product questions and 3 % of the off-topic messages ("Welche Aktien soll
# ich kaufen?") reach it (0.81: 85 % / 8 %; 0.83: 71 % / 0 %). A request for a person is only
# overruled by a closer field: 4 % of them reach 0.82 ("Quiero que me atienda alguien por
# teléfono"), none 0.845. Other models' cosines are not on this scale: e5 only.
ABOUT_ORDERED_PRODUCT = {"other": 0.82, "ask_for_person": 0.845}
# Read as these, a short statement of a return reason ("Ich brauche sie nicht mehr.") right
# after a return answer gives the reason for that return: alone, the models see no request.
REASON_ONLY_INTENTS = frozenset({"other", "product_question", "ask_for_person",
                                 "pre_order_question"})
# Up to this many words a message may be an answer to what the agent asked ("The jumper.")
# rather than a request of its own.
SHORT_ANSWER_WORDS = 8


@dataclass(frozen=True)
class Reading:
    """What a message asks within its conversation."""

    intent: str
    continued: bool  # it answers what the agent asked and so continues that request


def conversation_for(session: Session, msg: InboundMessage, now: datetime
                     ) -> ConversationRow:
    """The conversation of the message's thread on its channel, opened on its first message,
    with what the channel tells of it (``channel_state``) remembered."""
    conv = session.scalar(select(ConversationRow).where(
        ConversationRow.channel == msg.channel, ConversationRow.thread_key == msg.thread_key))
    if conv is None:
        conv = ConversationRow(id=uuid.uuid4().hex, channel=msg.channel,
                               thread_key=msg.thread_key, contact=msg.sender,
                               marketplace=msg.marketplace, misunderstood=0, state={},
                               created_at=now, updated_at=now)
        session.add(conv)
        session.flush()
    # Written only when something changed: an unchanged row is not rewritten on every turn.
    if msg.channel_state and any((conv.state or {}).get(k) != v
                                 for k, v in msg.channel_state.items()):
        conv.state = {**(conv.state or {}), **msg.channel_state}
    return conv


def default_language(language: str | None, marketplace: str | None) -> str:
    """A conversation's language, else its marketplace's."""
    return language or MARKETPLACE_LANGUAGE.get(marketplace or "", "en")


def continues_request(conv: ConversationRow, text: str, intent: str,
                      order_ids: list[str]) -> bool:
    """Whether the message answers what the agent asked (an order number, an address, an
    ASIN, the code, or a short reply) and so continues the request that asked it."""
    short = len(text.split()) <= SHORT_ANSWER_WORDS
    return bool(conv.pending_intent) and bool(
        order_ids or extract_emails(text) or extract_asins(text)
        or conv.pending == "code" and extract_code(text)
        or short and intent in {"other", "greeting", "thanks", "order_status"}
        # "The jumper." names the item asked for; it is not a new question or a new
        # problem with the product.
        or short and conv.pending in {"item", "quantity"})


def gives_return_reason(conv: ConversationRow, text: str, intent: str) -> bool:
    """Whether a short statement (no question) that the models could not place as a request
    states a return reason, right after an answer about a return: the customer tells why,
    so the return is answered again for that reason. Read by the reason patterns only: a
    nearest example by meaning would make a reason of any short remark."""
    return (intent in REASON_ONLY_INTENTS and "?" not in text
            and len(text.split()) <= SHORT_ANSWER_WORDS
            and last_answered_intent(conv) == "return_request"
            and extract_return_reason(text, conv.language or "en", by_meaning=False)
            is not None)


def asks_without_a_problem(intent: str, text: str, language: str, embed: Embed) -> bool:
    """Whether a message read as a problem with an item asks a question and states no
    problem at all, neither by the reason patterns nor by meaning ("La tengo al lado de la
    ducha y se moja el suelo, ¿aguanta el agua?", "Unser Bad ist winzig ... Geht das?"): a
    question about the product, not a fault. Read as a problem, its return would be decided
    for a reason nobody gave (a refund without return, for a low price)."""
    return (intent == "item_problem" and "?" in text
            and extract_return_reason(text, language, embed=embed) is None)


def close_to_ordered_product(store: Store, index: Retriever, msg: InboundMessage,
                             conv: ConversationRow, order_ids: list[str], text: str,
                             bar: float) -> bool:
    """Whether a message the intent models could not place speaks of a product the
    customer ordered: one of its page's fields is at least ``bar`` close in meaning."""
    if speaks_of_buying(text) or addresses_the_agent(text) or not is_e5(index.model_name):
        return False
    asins = proven_products(store, msg, conv, order_ids)
    closest = index.closest_similarity(meaning_text(text), asins=asins) if asins else None
    return closest is not None and closest >= bar


def asks_about_a_thing_held(intent: str, text: str, language: str) -> bool:
    """Whether a message the intent models could not place asks about a thing it only points
    at ("who makes this?", "ist es digital?", "are there armrests?"), and not about buying
    one nor giving the agent orders."""
    return intent == "other" and points_at_a_thing(text, language) \
        and not speaks_of_buying(text) and not addresses_the_agent(text)


def read_in_dialogue(store: Store, index: Retriever, msg: InboundMessage,
                     conv: ConversationRow, text: str, order_ids: list[str], *,
                     intent: str, product: float, rival: float,
                     embed: Embed = embed) -> Reading:
    """The intent of a message read on its own (``intent``, with how likely a product
    question, ``product``, and its likelier rival, ``rival``) as it stands in the
    conversation: continuing what was asked, about an ordered product, or about buying.
    ``embed``: how the message's e5 vectors are had (``agent.meaning.Embed``)."""
    if says_goodbye(text, conv.language or "", intent):
        # "Okay danke tschüss" ends the conversation, whatever the agent last asked.
        return Reading(intent, continued=False)
    if continues_request(conv, text, intent, order_ids):
        # A short answer to what the agent asked continues the earlier request.
        return Reading(conv.pending_intent or intent, continued=True)
    if gives_return_reason(conv, text, intent):
        return Reading("return_request", continued=False)
    if asks_without_a_problem(intent, text, conv.language or "en", embed) \
            and order_in_view(store, msg, conv, order_ids):
        # A question about the product, or about buying another one.
        return Reading("pre_order_question" if speaks_of_buying(text) else "product_question",
                       continued=False)
    if reads_as_owned_product(intent, product, text, rival) \
            and order_in_view(store, msg, conv, order_ids):
        return Reading("product_question", continued=False)
    if asks_about_a_thing_held(intent, text, conv.language or "en") \
            and order_in_view(store, msg, conv, order_ids):
        # "who makes this?", "¿tiene correa?": with an order in view the thing pointed at is
        # what the customer has; asking them to rephrase would fail a plain question. Read
        # before the closeness to the page, which reaches the same reading by a search.
        return Reading("product_question", continued=False)
    if intent in ABOUT_ORDERED_PRODUCT and close_to_ordered_product(
            store, index, msg, conv, order_ids, text, ABOUT_ORDERED_PRODUCT[intent]):
        return Reading("product_question", continued=False)
    if reads_as_buying(intent, product, text, rival):
        # "Was kostet die Lampe in Weiß?": about buying, whatever else it asks.
        return Reading("pre_order_question", continued=False)
    return Reading(intent, continued=False)


def remember_order(conv: ConversationRow, order_ids: list[str]) -> None:
    """The order a message names is the one in view from now on, remembered even when
    this turn does not need it yet (a later "where is it?" is about it)."""
    if order_ids:
        conv.order_id = order_ids[0]


def end_turn(conv: ConversationRow, intent: str, outcome: Outcome, *,
             understood: bool | None = None) -> None:
    """What the conversation keeps of the turn: what was asked stays asked only while the
    agent still needs it, and messages not understood are counted in a row (the limit opens
    a case). ``understood``: whether the message was, by default unless read as ``other``
    (a bare order number is ``other`` and understood)."""
    if outcome != "needs_info":
        conv.pending = conv.pending_intent = conv.pending_reason = None
    if understood is None:
        understood = intent != "other"
    conv.misunderstood = 0 if understood else conv.misunderstood + 1
