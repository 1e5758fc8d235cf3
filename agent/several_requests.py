"""A message that makes several requests ("Wie schwer ist sie, und lädt sie ein iPhone 15?"):
each request understood and decided on its own, the answers joined in order, and what stays
open one case for the seller.

The parts come from ``agent.request_split``; here each is read in the conversation
(``agent.dialogue``), the parts that are no request of their own are joined to one that is,
and each request is acted on by its handler as a turn of its own would be. The cases the
parts need are gathered (``Services.gathered``) and opened as one: the seller gets one
notification with every open question, the customer one case id and one deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from agent.cases import CaseRequest, SellerText, open_case, seller_text
from agent.db import Store
from agent.dialogue import read_in_dialogue
from agent.meaning import Embed, embed
from agent.messages import InboundMessage, Outcome, RequestPart
from agent.models import ConversationRow
from agent.replies import day
from agent.request_split import PartReading, names_something
from agent.turn import CASE_MARK, DUE_MARK, GatheredCase, Services, Turn, TurnResult
from base.clock import as_utc
from knowledge.retriever import Retriever

# Read as these, a part asks nothing the agent acts on: it goes with the request beside it
# ("Hallo?", "Danke!", a sentence the models cannot place).
NOT_A_REQUEST = frozenset({"other", "greeting", "thanks"})
# Two requests of these intents side by side are one: the problem is the return's reason
# ("Die Lampe kam kaputt an? Ich möchte sie zurückgeben."), and the return decides both.
ONE_REQUEST: dict[frozenset[str], str] = {
    frozenset({"item_problem", "return_request"}): "return_request",
}
# A part made as a request, not asked as a question, stands on its own only when it asks for
# one of these: any other reading of a sentence that states a wish ("Quiero plantar perejil",
# "Quiero ponerlas en la cama de invitados") tells why the question beside it is asked.
REQUESTED_ACTIONS = frozenset({"order_status", "return_request", "refund_status",
                               "item_problem", "cancel_order", "ask_for_person", "invoice"})
# A part that goes on with the request before it ("Gibt es Garantie? Wie lange?").
GOES_ON = "goes_on"
# Two questions about a product are two questions (each its own field of the page); two
# parts asking where the order is are one request.
DISTINCT_EACH_TIME = frozenset({"product_question"})
# How a turn ends, by what its requests ended with: a question asked back keeps the
# conversation waiting for the customer's answer; else a case opened; else answered.
_OUTCOME_ORDER: tuple[Outcome, ...] = ("needs_info", "escalated", "answered", "redirected")

Act = Callable[[Turn, str, list[str], Services], TurnResult]


@dataclass(frozen=True)
class Request:
    """One request of the message: its words (with what came with them) and its intent."""

    text: str
    intent: str


def requests_in(parts: Sequence[tuple[str, str]]) -> list[Request]:
    """The requests a message's parts (each text with its intent, read in the conversation)
    make, in order: a part that is no request goes with the next request (or, at the end,
    the one before), one that goes on with the one before (``GOES_ON``) with that; two
    side by side that are one request are joined."""
    pending: list[str] = []
    requests: list[Request] = []
    for text, intent in parts:
        if intent == GOES_ON and requests:
            last = requests[-1]
            requests[-1] = Request(" ".join([last.text, *pending, text]), last.intent)
            pending = []
            continue
        if intent in NOT_A_REQUEST or intent == GOES_ON:
            pending.append(text)
            continue
        words = " ".join([*pending, text])
        pending = []
        if requests:
            last = requests[-1]
            joined = ONE_REQUEST.get(frozenset({last.intent, intent}))
            if intent == last.intent and intent not in DISTINCT_EACH_TIME:
                joined = intent
            if joined is not None:
                requests[-1] = Request(f"{last.text} {words}", joined)
                continue
        requests.append(Request(words, intent))
    if pending and requests:
        last = requests[-1]
        requests[-1] = Request(" ".join([last.text, *pending]), last.intent)
    return requests


def read_requests(store: Store, index: Retriever, msg: InboundMessage,
                  conv: ConversationRow, parts: Sequence[PartReading],
                  order_ids: list[str], vectors: Embed = embed) -> list[Request]:
    """The requests of a message's parts, each part read in the conversation as a message of
    its own would be (a question about an ordered product is one, whatever the models
    said), but never as the answer to what the agent asked: the message as a whole was not."""
    routed = []
    for part in parts:
        reading = read_in_dialogue(store, index, msg, conv, part.text, order_ids,
                                   intent=part.intent, product=part.product,
                                   rival=part.rival, embed=vectors)
        intent = part.intent if reading.continued else reading.intent
        if not part.question and intent not in REQUESTED_ACTIONS:
            intent = "other"  # it says why the question beside it is asked
        elif intent == "product_question" and not names_something(part.text, conv.language
                                                                  or "en"):
            intent = GOES_ON  # "Wie lange?": of what the question before it asked about
        routed.append((part.text, intent))
    return requests_in(routed)


@dataclass(frozen=True)
class SeveralAnswered:
    """The turn's result over all its requests, and how each request ended."""

    result: TurnResult
    requests: list[RequestPart]


def one_case(gathered: Sequence[GatheredCase]) -> CaseRequest:
    """The one case for everything the requests left open: every question and what the
    seller must do, numbered in the customer's order. Its category (so its deadline and what
    happens when it expires) is the first request's that asks the seller to act (a
    shipment, a return); a product question's only asks for an answer."""
    requests = [g.request for g in gathered]
    if len(requests) == 1:
        return requests[0]
    lead = next((r for r in requests if r.category != "product_question"), requests[0])
    return CaseRequest(
        category=lead.category,
        # Written in the seller's language when the case opens, as each part's would be.
        question=SellerText("seller_joined", {"text": lambda language: "\n".join(
            f"{n}. {seller_text(r.question, language)}" for n, r in enumerate(requests, 1))}),
        needs=SellerText("seller_joined", {"text": lambda language: " ".join(dict.fromkeys(
            seller_text(r.needs, language) for r in requests))}),
        asins=list(dict.fromkeys(a for r in requests for a in r.asins)),
        topic=next((r.topic for r in requests if r.topic), None),
        case_reason=lead.case_reason, decision=lead.decision)


def answer_requests(main: Turn, requests: Sequence[Request], order_ids: list[str],
                    services: Services, act: Act) -> SeveralAnswered:
    """Each request acted on by its handler, in order, into one reply: the answers joined,
    the citations, the return decision and the order of all of them on ``main``, and the
    cases they need opened as one (``main.case``)."""
    gathered: list[GatheredCase] = []
    gathering = replace(services, gathered=gathered)
    done: list[tuple[Request, TurnResult]] = []
    for request in requests:
        part = Turn(msg=main.msg, message_id=main.message_id, conv=main.conv,
                    session=main.session, language=main.language, intent=request.intent,
                    now=main.now)
        result = act(part, request.text, order_ids, gathering)
        main.citations += part.citations
        main.decision = main.decision or part.decision
        main.order, main.seller = main.order or part.order, main.seller or part.seller
        done.append((request, result))
        if part.order is None and result.outcome == "needs_info":
            # The order is not proven yet (its number or the code is asked): the other
            # requests would ask the same. The customer answers that first.
            break
    texts = [result.text for _, result in done]
    if gathered:
        assert main.order is not None and main.seller is not None
        main.case = open_case(main.session, request=one_case(gathered), order=main.order,
                              seller=main.seller, conversation=main.conv,
                              language=main.language, now=main.now,
                              portal_url=services.portal_url)
        due = day(as_utc(main.case.due_at).date(), main.language)
        texts = [t.replace(CASE_MARK, main.case.id).replace(DUE_MARK, due) for t in texts]
    outcomes = {result.outcome for _, result in done}
    outcome = next(o for o in _OUTCOME_ORDER if o in outcomes)
    redirect = next((r.redirect for _, r in done if r.redirect), None)
    # Two requests may end in the same words (an order out of scope says so once).
    text = " ".join(dict.fromkeys(texts))
    return SeveralAnswered(
        TurnResult(text, outcome, redirect),
        [RequestPart(intent=request.intent, outcome=result.outcome, redirect=result.redirect)
         for request, result in done])
