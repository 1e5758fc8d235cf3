"""The agent: one turn pipeline for every channel (store, understand, dialogue, scope, act,
reply).

Policy is decided by code over data (scope, identity, returns engine, case rules); the reply
is composed from templates filled with cited evidence. The inbound message is stored before
it is answered; a redelivered message gets the stored reply and changes nothing. What the
conversation remembers and how a message reads within it is ``agent.dialogue``'s; who the
sender has proven to be, ``agent.identity``'s: here the turn is only run and dispatched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent import inflight
from agent.answer_decision import AnswerDecision, decision_for
from agent.case_desk import CaseDesk
from agent.closings import says_goodbye
from agent.contacts import record_contact
from agent.db import Store
from agent.dialogue import (
    conversation_for,
    default_language,
    end_turn,
    read_in_dialogue,
    remember_order,
)
from agent.enrolment import enrolment_history
from agent.follow_ups import answer_follow_up, remember_answer
from agent.identity import proven_order
from agent.intents import HANDLERS
from agent.meaning import Embed
from agent.message_vectors import MessageVectors
from agent.messages import Citation, InboundMessage, Reply, RequestPart
from agent.models import CaseRow, ConversationRow, MessageRow, TurnClaimRow
from agent.outgoing_mail import queue_email_reply
from agent.phrasing import Phrasing
from agent.replies import render
from agent.request_split import PartReading, read_parts
from agent.scope import REDIRECTS, order_scope
from agent.several_requests import answer_requests, read_requests
from agent.turn import Services, Turn, TurnResult
from agent.understanding import (
    classify_intent,
    detect_language,
    extract_order_ids,
    meaning_text,
    only_entities,
)
from base.clock import as_utc
from base.settings import Settings
from knowledge.retriever import Retriever

log = logging.getLogger(__name__)

# The intents answered against a proven order: those with a handler in the registry.
ORDER_INTENTS = set(HANDLERS)
# Not understood this many times in a row, the agent opens a case rather than ask again.
MISUNDERSTOOD_LIMIT = 2


def _understood(text: str, default: str, known: Understood | None,
                embed: Embed, kept: list[str]) -> Understood:
    """A message's language (``default`` when unsure), intent and, when it makes several
    requests, each part's; what ``known`` worked out is kept where its inputs were the same.
    The parts' texts embedded are added to ``kept``: their vectors are dropped with the
    message's when the turn ends."""
    language = (known.language if known and known.default_language == default
                else detect_language(text, default))
    if known and known.language == language:
        return Understood(default, language, known.intent, known.product, known.rival,
                          known.parts)
    result = classify_intent(text, language, embed=embed)
    parts = read_parts(text, language, embed=embed)
    kept += [meaning_text(part.text) for part in parts]
    return Understood(default, language, result.intent, result.product, result.rival, parts)


def gives_order_only(text: str, order_ids: list[str]) -> bool:
    """Whether a message is an order number and nothing more: understood, though it asks
    nothing yet."""
    return bool(order_ids) and only_entities(text)


@dataclass(frozen=True)
class StoredMessage:
    """A stored message waiting for its turn, and what its conversation said when it was
    stored (read in the same transaction, so the turn need not read it again to begin)."""

    message_id: int
    conversation_id: str
    claimed: bool  # this delivery stored it and holds its turn
    language: str | None
    marketplace: str | None
    pending_intent: str | None


@dataclass(frozen=True)
class Understood:
    """What a message says on its own (its language, from the conversation's default, and its
    intent), worked out before the turn's transaction takes the write lock."""

    default_language: str
    language: str
    intent: str
    product: float = 0.0  # how likely a question about a product, whatever the intent
    rival: float = 0.0  # how likely "not understood" or "a person, please", the likelier
    # The message's parts when it makes several requests (``agent.request_split``), else none.
    parts: tuple[PartReading, ...] = ()


class Agent:
    """The one entry every channel calls: ``handle`` runs a turn (store, understand, read in the
    dialogue (``agent.dialogue``), prove the order (``agent.identity``), scope, then the
    intent's handler from ``agent.intents``); ``answer_case``
    and ``expire_cases`` hand a case to the case desk (``agent.case_desk``)."""

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, index: Retriever) -> Agent:
        """The agent as configured: its LLM phrasing (``CSBA_LLM``) and the seller portal's
        address in its replies."""
        phrasing = Phrasing.from_setting(settings.llm) if settings.llm else None
        portal = f"{str(settings.public_base_url).rstrip('/')}/seller"
        decision = decision_for(index.model_name, choice=settings.answer_decision)
        return cls(store, index, portal_url=portal, phrasing=phrasing, decision=decision)

    def __init__(self, store: Store, index: Retriever, *, portal_url: str,
                 phrasing: Phrasing | None = None,
                 dense_languages: frozenset[str] | None = None,
                 decision: AnswerDecision | None = None) -> None:
        self.store = store
        self.index = index
        self.portal_url = portal_url
        self.phrasing = phrasing
        # By default those of the index's model: the languages its similarities mean something in.
        self.dense_languages = (index.dense_languages if dense_languages is None
                                else dense_languages)
        self.vectors = MessageVectors(index)
        # Whether a page field answers (CSBA_ANSWER_DECISION); by default the calibrated decision.
        self.decision = decision or decision_for(index.model_name)

    # --- the turn -------------------------------------------------------------------------

    def handle(self, msg: InboundMessage) -> Reply:
        kept: list[str] = []  # the texts of the message's parts, embedded in its turn
        try:
            return self._handle(msg, kept)
        finally:
            self.vectors.forget(msg.text.strip())
            for part in kept:
                self.index.forget(part)

    def _handle(self, msg: InboundMessage, kept: list[str]) -> Reply:
        now = as_utc(msg.received_at)
        self._start_embedding(msg)
        try:
            stored = self._store_message(msg, now)
        except IntegrityError:  # a concurrent delivery stored it first: that row is the one
            stored = self._store_message(msg, now)
        if isinstance(stored, Reply):
            return stored
        message_id, conv_id = stored.message_id, stored.conversation_id
        if not stored.claimed and not inflight.claim(self.store, message_id):
            # Another delivery of this message is mid-turn: answer with its reply when it
            # comes (a provider's impatient redelivery gets the same answer), or take over
            # when that delivery gives up.
            waited = inflight.wait_or_claim(self.store, message_id)
            if waited is False:
                raise inflight.MessageInFlight(f"message {message_id} is being answered")
            if waited is not True:
                log.info("concurrent delivery of message %s: its reply returned", message_id)
                return Reply.model_validate(waited)
        # Stored and committed before answering: a crash below leaves it for a retry.
        try:
            understood = self._understand(msg, stored, kept)
            with self.store.sessions.begin() as session:
                conv = session.get_one(ConversationRow, conv_id)
                row = session.get_one(MessageRow, message_id)
                if row.reply is not None:  # answered between our look and our claim
                    reply = Reply.model_validate(row.reply)
                else:
                    reply = self._turn(session, conv, msg, message_id, now, understood, kept)
                    row.reply = reply.model_dump(mode="json")
                    row.awaiting_delivery = msg.reply_in_response
                    conv.updated_at = now
                    if msg.reply_mail is not None:
                        queue_email_reply(session, message_id=msg.provider_message_id,
                                          recipient=msg.sender, mail=msg.reply_mail,
                                          body=reply.text, now=now,
                                          conversation_id=reply.conversation_id)
                session.execute(delete(TurnClaimRow).where(TurnClaimRow.message_id == message_id))
        except BaseException:
            inflight.release(self.store, message_id)
            raise
        log.info("turn conversation=%s intent=%s outcome=%s case=%s requests=%d chars_in=%d",
                 conv_id, reply.intent, reply.outcome, reply.case_id,
                 len(reply.requests) or 1, len(msg.text))
        return reply

    def _store_message(self, msg: InboundMessage, now: datetime
                       ) -> Reply | StoredMessage:
        """The stored reply of a message answered before, or the stored message and whether
        this delivery claimed its turn (a new message is claimed as it is stored: one commit,
        so one disk flush, fewer per turn)."""
        with self.store.sessions.begin() as session:
            stored = session.scalar(select(MessageRow).where(
                MessageRow.channel == msg.channel,
                MessageRow.provider_message_id == msg.provider_message_id))
            if stored is not None and stored.reply is not None:
                log.info("replayed message %s: stored reply returned", stored.id)
                return Reply.model_validate(stored.reply)
            conv = conversation_for(session, msg, now)
            new = stored is None
            if stored is None:
                stored = MessageRow(conversation_id=conv.id, channel=msg.channel,
                                    provider_message_id=msg.provider_message_id,
                                    text=msg.text, received_at=now,
                                    verified_contact=msg.verified_contact)
                session.add(stored)
                session.flush()
                session.add(TurnClaimRow(message_id=stored.id, claimed_at=inflight.wall_clock()))
            return StoredMessage(stored.id, conv.id, claimed=new,
                                 language=conv.language, marketplace=conv.marketplace,
                                 pending_intent=conv.pending_intent)

    def _start_embedding(self, msg: InboundMessage) -> None:
        """Start the message's embedding, where the model has a process of its own and nothing
        else to do, and return: the vector that reads its intent (by meaning) and searches a
        product's page is then worked out beside the storing of the message (a commit, a disk
        flush). Only a head start: a failure here is left to the turn, which stores the
        message before anything is decided."""
        try:
            self.index.prepare(meaning_text(msg.text.strip()), if_idle=True)
        except Exception:  # noqa: BLE001 - embedded again, and reported, after storing
            log.warning("message embedded only after storing", exc_info=True)

    def _understand(self, msg: InboundMessage, stored: StoredMessage, kept: list[str]
                    ) -> Understood:
        """The message's language and intent, and for a product question its search
        embedded, before the turn takes the write lock (on SQLite every other turn's write
        waits for it). The turn uses them while the conversation's language is still the one
        they were worked out from."""
        text = msg.text.strip()
        understood = _understood(
            text, default_language(stored.language, msg.marketplace or stored.marketplace),
            None, self.vectors, kept)
        if "product_question" in (understood.intent, stored.pending_intent):
            self.index.prepare(meaning_text(text))  # a no-op when started early
        return understood

    def _turn(self, session: Session, conv: ConversationRow, msg: InboundMessage,
              message_id: int, now: datetime, understood: Understood,
              kept: list[str]) -> Reply:
        text = msg.text.strip()
        # Worked out again only if the conversation's language changed since (another turn).
        understood = _understood(
            text, default_language(conv.language, msg.marketplace or conv.marketplace),
            understood, self.vectors, kept)
        language = understood.language
        conv.language = language
        order_ids = extract_order_ids(text)
        follow_up = answer_follow_up(self.store, conv, msg, text, language, order_ids)
        parts: list[RequestPart] = []
        if follow_up is not None:
            # A fact of the last answer asked again ("Sendungsnummer?"): told from what that
            # answer was decided from, which stays remembered for the next follow-up.
            intent = follow_up.intent
            turn = Turn(msg=msg, message_id=message_id, conv=conv, session=session,
                        language=language, intent=intent, now=now, order=follow_up.order,
                        citations=follow_up.citations)
            # With the agent's question still open, the turn still waits for its answer.
            result = TurnResult(follow_up.text,
                                "needs_info" if follow_up.still_asked else "answered")
        else:
            reading = read_in_dialogue(self.store, self.index, msg, conv, text, order_ids,
                                       intent=understood.intent, product=understood.product,
                                       rival=understood.rival, embed=self.vectors)
            # Several requests in one message, each decided on its own; never in an answer
            # to what the agent asked, which continues that request, nor in a message about
            # buying ("Gibt es das auch in 14 Zoll, und ist es vorrätig?"): all of it is
            # asked before buying, of the seller.
            several = bool(understood.parts) and not reading.continued \
                and reading.intent != "pre_order_question"
            requests = (read_requests(self.store, self.index, msg, conv, understood.parts,
                                      order_ids, self.vectors) if several else [])
            intent = requests[0].intent if len(requests) > 1 else reading.intent
            turn = Turn(msg=msg, message_id=message_id, conv=conv, session=session,
                        language=language, intent=intent, now=now,
                        continued=reading.continued)
            if len(requests) > 1:
                answered = answer_requests(turn, requests, order_ids, self._services(),
                                           self._act)
                result, parts = answered.result, answered.requests
            else:
                result = self._act(turn, text, order_ids)
            remember_answer(turn, result.outcome)
        record_contact(session, order=turn.order, conversation_id=conv.id, channel=msg.channel,
                       outcome=result.outcome, now=now)
        end_turn(conv, intent, result.outcome,
                 understood=intent != "other" or gives_order_only(text, order_ids))
        reply_text = result.text
        if turn.case is not None and msg.channel == "voice":
            reply_text += " " + render("case_follow_up_sms", language)
        if self.phrasing is not None and result.outcome == "answered" and turn.citations:
            reply_text = self.phrasing.rephrase(reply_text, turn.citations, language)
        return Reply(conversation_id=conv.id, text=reply_text, language=language,
                     outcome=result.outcome, intent=intent, citations=turn.citations,
                     return_decision=turn.decision,
                     case_id=turn.case.id if turn.case else None,
                     case_due=as_utc(turn.case.due_at) if turn.case else None,
                     redirect=result.redirect, requests=parts)

    def _act(self, t: Turn, text: str, order_ids: list[str],
             services: Services | None = None) -> TurnResult:
        """The turn's request decided: redirected, greeted, asked again, or, once the order
        is proven and in scope, its intent's handler (with ``services``, by default the
        agent's)."""
        lang = t.language
        remember_order(t.conv, order_ids)
        if t.intent in REDIRECTS:
            key, where = REDIRECTS[t.intent]
            # The scope rule is the evidence of a redirect, as for orders out of scope.
            t.citations.append(Citation(kind="policy", rule=f"scope.{t.intent}",
                                        text=render(key, lang)))
            return TurnResult(render(key, lang), "redirected", where)
        if says_goodbye(text, lang, t.intent):
            # "Okay danke tschüss" ends the conversation: no offer of more help.
            return TurnResult(render("goodbye", lang), "answered")
        if t.intent == "greeting":
            return TurnResult(render("greeting", lang), "answered")
        if t.intent == "thanks":
            return TurnResult(render("thanks", lang), "answered")
        if t.intent == "other" and gives_order_only(text, order_ids):
            # The order number alone, as a caller types it on the keypad when greeted: kept
            # (above), and the customer asked what it is about.
            return TurnResult(render("order_noted", lang, order_id=order_ids[0]), "needs_info")
        if t.intent == "other" and t.conv.misunderstood + 1 < MISUNDERSTOOD_LIMIT:
            return TurnResult(render("ask_rephrase", lang), "needs_info")
        found = proven_order(self.store, t, order_ids)
        if isinstance(found, TurnResult):
            return found
        order, seller = found
        t.order, t.seller = order, seller
        scope = order_scope(order, seller, enrolment_history(t.session, order.seller_id))
        if not scope.covered:
            key = ("redirect_marketplace" if scope.redirect == "marketplace_support"
                   else "redirect_not_covered")
            t.citations.append(Citation(kind="policy", rule=scope.rule,
                                        text=render(key, lang, order_id=order.order_id)))
            return TurnResult(render(key, lang, order_id=order.order_id), "redirected",
                            scope.redirect)
        assert seller is not None
        services = services or self._services()
        if t.intent == "other":
            return services.escalate(t, "not_understood", [i.asin for i in order.items],
                                     "misunderstood_case")
        return HANDLERS[t.intent](services, t, text)

    def _services(self) -> Services:
        # Built per turn from the agent's current attributes: cheap, and never stale.
        return Services(store=self.store, index=self.index, portal_url=self.portal_url,
                        dense_languages=self.dense_languages, decision=self.decision,
                        vectors=self.vectors)

    # --- seller answers and expiry ----------------------------------------------------------

    def answer_case(self, case_id: str, seller_id: str, answer: str, *,
                    add_to_knowledge: bool, now: datetime,
                    record: Callable[[Session, CaseRow], None] | None = None) -> CaseRow:
        """Record a seller's answer and queue it to the customer on their channel (see
        ``CaseDesk.answer_case``)."""
        return self._case_desk().answer_case(case_id, seller_id, answer,
                                             add_to_knowledge=add_to_knowledge, now=now,
                                             record=record)

    def expire_cases(self, now: datetime) -> list[str]:
        """Cases past their deadline: decide each by its expiry rule and tell the customer."""
        return self._case_desk().expire_cases(now)

    def _case_desk(self) -> CaseDesk:
        # Built on each call from the agent's current store and index, as a turn's services.
        return CaseDesk(self.store, self.index)
