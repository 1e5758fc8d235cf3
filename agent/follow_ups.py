"""What an answer was decided from, remembered, and a short follow-up answered from it.

A turn that answered about a proven order leaves in the conversation's ``state`` (key
``answered``) the intent, the order, the item and the facts its reply was decided from, each
with the citations that ground it: who pays return shipping, the return deadline, the refund
and when it follows, how the item goes back (label, address, nothing to send), the order's
tracking, and the case opened. A short message that asks about one of those facts ("muss ich
Porto zahlen?", "tracking number?", "¿hasta cuándo?") is answered in one sentence from them,
cited as the first answer was. The words that ask are data (``agent/data/follow_up_words.json``);
a message asking for a fact the answer did not hold goes through the normal pipeline.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from agent.db import Store
from agent.messages import Citation, InboundMessage, Outcome
from agent.models import ConversationRow
from agent.quantities import read_quantity
from agent.records import Order
from agent.replies import address, day, item_name, money, render
from agent.turn import Turn
from agent.understanding import extract_asins, fold
from agent.verification import is_customer
from base.clock import as_utc
from base.money import Money
from knowledge.policy import load_policy

# The conversation state's key for what the last answer was decided from.
STATE_KEY = "answered"
# The topics a follow-up may ask about, the first that the message names deciding: "bis wann
# ist das Geld auf dem Konto?" names a deadline and the money, and asks about the refund.
TOPICS = ("refund", "who_pays", "tracking", "case", "send_back", "deadline")
# A follow-up is short ("bis wann ist das Geld auf dem Konto?" is seven words); a longer
# message says more than one fact's question and goes through the whole pipeline.
MAX_FOLLOW_UP_WORDS = 8
# The request a topic's answer belongs to, reported as the reply's intent; a deadline or a
# case belongs to the request that was answered.
TOPIC_INTENTS = {"refund": "refund_status", "who_pays": "return_request",
                 "tracking": "order_status", "send_back": "return_request"}
# Only an answer given (or a case opened) is remembered: a redirected order is not the
# service's to speak of, and a question asked leaves nothing decided yet, except when it asks
# only how many units of a line whose return is decided (``Turn.line_decision``).
REMEMBERED_OUTCOMES: frozenset[Outcome] = frozenset({"answered", "escalated"})
# What the agent asked that a follow-up may be asked beside ("Bis wann geht das?" when asked how
# many): the follow-up is answered and the question asked again, still open.
ANSWERED_WHILE_ASKED = "quantity"


@dataclass(frozen=True)
class FollowUp:
    """A follow-up's one-sentence answer, the request it belongs to and its evidence."""

    text: str
    intent: str
    order: Order
    citations: list[Citation]
    # The agent's question still open (how many units), asked again after the answer.
    still_asked: bool = False


@cache
def _topic_patterns() -> dict[str, dict[str, tuple[re.Pattern[str], ...]]]:
    raw = resources.files("agent").joinpath("data/follow_up_words.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(raw)
    return {lang: {topic: tuple(re.compile(p) for p in patterns)
                   for topic, patterns in topics.items()}
            for lang, topics in data.items() if not lang.startswith("_")}


def asked_topic(text: str, language: str) -> str | None:
    """The fact a message asks about, by the follow-up words of its language."""
    folded = fold(text)
    patterns = _topic_patterns().get(language, {})
    for topic in TOPICS:
        if any(p.search(folded) for p in patterns.get(topic, ())):
            return topic
    return None


def _cited(*citations: Citation) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json", exclude_none=True) for c in citations]


def remember_answer(t: Turn, outcome: Outcome) -> None:
    """Keep in the conversation what the turn's answer was decided from, replacing what an
    earlier answer left; a turn without a proven order in scope keeps nothing."""
    order = t.order
    asked_units = outcome == "needs_info" and t.line_decision is not None \
        and t.conv.pending == ANSWERED_WHILE_ASKED
    if order is None or (outcome not in REMEMBERED_OUTCOMES and not asked_units):
        return
    facts: dict[str, dict[str, Any]] = {}
    if order.tracking:
        facts["tracking"] = {
            "carrier": order.tracking.carrier, "id": order.tracking.id,
            "cite": _cited(Citation(kind="order", order_id=order.order_id,
                                    field="tracking.carrier", text=order.tracking.carrier),
                           Citation(kind="order", order_id=order.order_id,
                                    field="tracking.id", text=order.tracking.id))}
    decision = t.line_decision if asked_units else t.decision
    if decision is not None and decision.eligible:
        def rule(value: object) -> Citation:
            # The returns engine's rule the first answer cited, with the value it decided:
            # the follow-up's sentence states that value and nothing else.
            return Citation(kind="policy", rule=decision.rule, source=decision.source,
                            text=str(value))

        if decision.return_shipping_paid_by:
            facts["who_pays"] = {"payer": decision.return_shipping_paid_by,
                                 "cite": _cited(rule(decision.return_shipping_paid_by))}
        # The sentences that name the item cite it, as the first answer cited the order.
        item = Citation(kind="order", order_id=order.order_id, field="items",
                        text=t.conv.asin or ", ".join(i.asin for i in order.items))
        if decision.return_by:
            delivered = ([Citation(kind="order", order_id=order.order_id,
                                   field="delivery_date", text=str(order.delivery_date))]
                         if order.delivery_date else [])
            facts["return_by"] = {"date": decision.return_by.isoformat(),
                                  "cite": _cited(rule(decision.return_by.isoformat()),
                                                 *delivered, item)}
        # A returnless refund is already in the ledger: when it was paid is the refund
        # status's to tell from there, not a promise remembered here.
        # The refund depends on the number of units still asked for.
        if decision.refund and decision.method != "returnless_refund" and not asked_units:
            days = (decision.refund_within_business_days
                    or load_policy(order.marketplace).refund_within_business_days)
            timing = Citation(kind="policy", rule=f"{order.marketplace}.refund.timing",
                              text=str(days))
            refund = decision.refund
            facts["refund"] = {"amount": str(refund.amount), "currency": refund.currency,
                               "days": days,
                               "cite": _cited(rule(f"{refund.amount} {refund.currency}"),
                                              timing)}
        if decision.method and not decision.needs_case:
            shown = address(decision.return_address)
            facts["send_back"] = {"method": decision.method, "address": shown,
                                  "cite": _cited(rule(shown or decision.method), item)}
    if t.case is not None:
        due = as_utc(t.case.due_at).date()
        facts["case"] = {"id": t.case.id, "due": due.isoformat(),
                         "cite": _cited(Citation(kind="order", order_id=order.order_id,
                                                 field="case", case_id=t.case.id,
                                                 text=f"{t.case.id} {due.isoformat()}"))}
    held: dict[str, Any] = {"intent": t.intent, "order_id": order.order_id,
                            "asin": t.conv.asin if decision is not None else None,
                            "facts": facts}
    if asked_units:
        held["asked"] = {"pending": ANSWERED_WHILE_ASKED}
    t.conv.state = {**(t.conv.state or {}), STATE_KEY: held}


def last_answered_intent(conv: ConversationRow) -> str | None:
    """The request the conversation's last remembered answer (or case) was about."""
    held = (conv.state or {}).get(STATE_KEY)
    intent = held.get("intent") if isinstance(held, dict) else None
    return intent if isinstance(intent, str) else None


def _held(topic: str, facts: dict[str, Any]) -> str | None:
    """The remembered fact that answers a topic, if the answer held one."""
    if topic == "deadline":
        # "bis wann?": the day a case opened is answered by (its reply ends on that day),
        # else the return's deadline.
        return next((f for f in ("case", "return_by") if f in facts), None)
    return topic if topic in facts else None


def answer_follow_up(store: Store, conv: ConversationRow, msg: InboundMessage, text: str,
                     language: str, order_ids: list[str]) -> FollowUp | None:
    """The one-sentence answer to a short follow-up about a fact of the last answer, or
    None when the message is not one (or asks what that answer did not hold)."""
    held = (conv.state or {}).get(STATE_KEY)
    if not isinstance(held, dict) or len(text.split()) > MAX_FOLLOW_UP_WORDS:
        return None
    asked = held.get("asked")
    # While the agent waits for an answer, only the question those facts were kept beside
    # lets a follow-up through: the answer to anything else continues the request.
    still_asked = isinstance(asked, dict) and conv.pending == ANSWERED_WHILE_ASKED \
        and asked.get("pending") == ANSWERED_WHILE_ASKED
    if conv.pending and not still_asked:
        return None
    if still_asked and read_quantity(text, language, answer=True) is not None:
        return None  # "beide, und bis wann?": the number answers the question first
    order_id = held.get("order_id")
    # Another order or another item named: a new request, not a follow-up.
    if order_id != conv.order_id or any(o != order_id for o in order_ids):
        return None
    asins = extract_asins(text)
    if asins and held.get("asin") not in asins:
        return None
    topic = asked_topic(text, language)
    facts: dict[str, Any] = held.get("facts") or {}
    fact = _held(topic, facts) if topic else None
    if topic is None or fact is None:
        return None
    order = store.order(str(order_id))
    # Proven as every turn's order is: by the code typed here or the channel's contact.
    if order is None or not (conv.verified_order_id == order.order_id
                             or is_customer(order, msg.verified_contact)):
        return None
    value = facts[fact]
    asin = held.get("asin")
    item = item_name(store.page(asin, order.marketplace), asin) if asin else ""
    text_out = _sentence(fact, value, order, item, language)
    citations = [Citation.model_validate(c) for c in value.get("cite", [])]
    intent = TOPIC_INTENTS.get(topic) or str(held.get("intent") or "other")
    if still_asked:
        # How many the line holds is the order's to say, read here as the question was.
        ordered = next((i.quantity for i in order.items if i.asin == asin), None)
        text_out += " " + render("ask_quantity_again", language, ordered=ordered)
    return FollowUp(text_out, intent, order, citations, still_asked=still_asked)


def _sentence(fact: str, value: dict[str, Any], order: Order, item: str,
              language: str) -> str:
    """The remembered fact as one sentence in the conversation's language."""
    if fact == "who_pays":
        return render(f"follow_up_who_pays_{value['payer']}", language)
    if fact == "tracking":
        return render("follow_up_tracking", language, order_id=order.order_id,
                      carrier=value["carrier"], tracking=value["id"])
    if fact == "refund":
        refund = Money(amount=Decimal(value["amount"]), currency=value["currency"])
        return render("follow_up_refund", language, refund=money(refund, language),
                      days=value["days"])
    if fact == "return_by":
        return render("follow_up_return_by", language, item=item,
                      return_by=day(date.fromisoformat(value["date"]), language))
    if fact == "send_back":
        key = {"prepaid_label": "follow_up_label",
               "returnless_refund": "follow_up_returnless"}.get(value["method"],
                                                                "follow_up_address")
        return render(key, language, item=item, address=value["address"])
    return render("follow_up_case", language, case_id=value["id"],
                  due=day(date.fromisoformat(value["due"]), language))
