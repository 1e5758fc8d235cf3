"""Conversations that go somewhere: a short follow-up about a fact of the last answer is
answered in one sentence from what that answer was decided from; a goodbye closes; the
customer's proven identity and the product they name are used, not asked for again."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from agent.closings import says_goodbye
from agent.db import Store
from agent.follow_ups import asked_topic
from agent.messages import Reply
from agent.models import CaseRow, ConversationRow
from agent.replies import render
from evals.groundedness import Records, evidence_for, judge
from knowledge.pages import ProductPage
from tests.agent.conftest import Say
from tests.support.scenarios import (
    DELIVERED_BEDDING_DE,
    DELIVERED_HEADLAMP_US,
    DELIVERED_SHEETS_ES,
    HAZMAT_POWER_BANK_ES,
    Scenario,
    demo_orders,
)

pytestmark = pytest.mark.slow

# A sentence ends at a full stop, question or exclamation mark after a letter or a bracket
# and before the next sentence's capital; "31. Januar" and "135 x…" end none.
_SENTENCE_END = re.compile(r"(?<=[^\W\d_)])[.!?](?=\s+[¿¡]?[A-ZÄÖÜÉ])")


def sentences(text: str) -> int:
    return len(_SENTENCE_END.findall(text)) + 1


def chat(say: Say, order: Scenario, *texts: str, thread: str = "t") -> list[Reply]:
    """The customer's messages in one chat thread, from the contact the channel proved."""
    return [say(text, sender=order.customer_email, channel="chat", thread=thread)
            for text in texts]


def ungrounded(reply: Reply, pages: list[ProductPage]) -> list[str]:
    """The sentences of a reply its own citations do not hold (the dev eval's judge; the
    customer's words are not counted as evidence here)."""
    records = Records.of(pages, demo_orders().values())
    return [s.text for s in judge(reply, evidence_for(reply, records, ())) if not s.grounded]


def policy_rules(reply: Reply) -> set[str | None]:
    return {c.rule for c in reply.citations if c.kind == "policy"}


def order_fields(reply: Reply) -> set[str | None]:
    return {c.field for c in reply.citations if c.kind == "order"}


def test_german_follow_ups_are_answered_from_the_return_decided(
        say: Say, demo_pages: list[ProductPage]) -> None:
    order = DELIVERED_BEDDING_DE.order
    assert order.tracking is not None
    first, porto, tracking, money, where, until, bye = chat(
        say, DELIVERED_BEDDING_DE,
        f"Hallo, meine Bestellung {order.order_id}: die Bettwäsche kam kaputt an, "
        "ich möchte sie zurückgeben.",
        "muss ich Porto zahlen?", "Sendungsnummer?", "bis wann ist das Geld auf dem Konto?",
        "wohin schicke ich es?", "bis wann?", "Okay danke tschüss")
    assert first.intent == "return_request" and first.return_decision is not None
    decision = first.return_decision
    assert decision.return_shipping_paid_by == "seller" and decision.method == "prepaid_label"
    for reply in (porto, tracking, money, where, until):
        assert reply.outcome == "answered" and reply.language == "de", reply
        assert sentences(reply.text) == 1, reply.text
        assert ungrounded(reply, demo_pages) == []
    # Who pays: the seller, grounded in the same returns rule the first answer cited.
    assert porto.intent == "return_request" and "Verkäufer" in porto.text
    assert "Rücksendung" in porto.text and "Erstattung" not in porto.text
    assert decision.rule in policy_rules(porto)
    # The tracking is the order's, carrier and id, cited field by field.
    assert tracking.intent == "order_status"
    assert order.tracking.carrier in tracking.text and order.tracking.id in tracking.text
    assert {"tracking.carrier", "tracking.id"} <= order_fields(tracking)
    assert "zugestellt" not in tracking.text
    # The refund: this return's amount and timing, not the refund status of the order.
    assert money.intent == "refund_status" and "48,94" in money.text
    assert "2 Werktagen" in money.text and "noch nichts erstattet" not in money.text
    assert {decision.rule, "DE.refund.timing"} <= policy_rules(money)
    # Where to: the prepaid label this return was decided with, not a new decision
    # (asked alone, a return without its reason would be at the customer's cost).
    assert "Rücksendeetikett" in where.text and where.return_decision is None
    assert "tragen Sie" not in where.text
    assert "31. Januar 2027" in until.text and "delivery_date" in order_fields(until)
    # The goodbye closes: no question, no offer of more help.
    assert bye.intent == "thanks" and "?" not in bye.text
    assert bye.text == render("goodbye", "de")


def test_spanish_greeting_with_a_request_then_follow_ups(say: Say) -> None:
    order = DELIVERED_SHEETS_ES.order
    assert order.tracking is not None
    # The customer has three orders; the sheets are in one of them, so none is asked for.
    first, pays, tracking, until, money, bye = chat(
        say, DELIVERED_SHEETS_ES,
        "Hola buenas, las sábanas llegaron rotas, quiero devolverlas.",
        "¿y el envío lo pago yo?", "número de seguimiento?", "¿hasta cuándo?",
        "¿cuándo me devuelven el dinero?", "gracias, adiós")
    assert (first.outcome, first.intent) == ("answered", "return_request"), first.text
    assert first.return_decision is not None and first.return_decision.refund is not None
    assert order.order_id in {c.order_id for c in first.citations}
    for reply in (pays, tracking, until, money):
        assert reply.outcome == "answered" and reply.language == "es", reply
        assert sentences(reply.text) == 1, reply.text
    assert "vendedor" in pays.text and pays.intent == "return_request"
    assert order.tracking.id in tracking.text and order.tracking.carrier in tracking.text
    assert first.return_decision.return_by is not None
    assert "de enero de 2027" in until.text or "de diciembre de 2026" in until.text
    amount = f"{first.return_decision.refund.amount:.2f}".replace(".", ",")
    assert amount in money.text and money.intent == "refund_status"
    assert "?" not in bye.text and bye.text == render("goodbye", "es")


def test_english_follow_ups_and_thanks_alone_offers_more(say: Say) -> None:
    order = DELIVERED_HEADLAMP_US.order
    assert order.tracking is not None
    first, postage, tracking, money, thanks, bye = chat(
        say, DELIVERED_HEADLAMP_US,
        "I want to return the headlamp, it stopped working.", "who pays postage?",
        "tracking number?", "when do I get my money?", "Thanks!", "thanks, bye")
    assert (first.outcome, first.intent) == ("answered", "return_request"), first.text
    assert first.return_decision is not None
    assert postage.intent == "return_request" and sentences(postage.text) == 1
    assert "seller pays" in postage.text
    assert order.tracking.id in tracking.text and sentences(tracking.text) == 1
    assert money.intent == "refund_status" and "business days" in money.text
    # Thanks alone may offer more help; a goodbye does not.
    assert thanks.intent == "thanks" and "?" in thanks.text
    assert bye.intent == "thanks" and "?" not in bye.text


def test_a_case_number_and_its_deadline_are_told_again(
        say: Say, store: Store, demo_pages: list[ProductPage]) -> None:
    first, number, until = chat(
        say, DELIVERED_BEDDING_DE,
        f"Ich möchte bitte mit einem Mitarbeiter sprechen ({DELIVERED_BEDDING_DE.order_id}).",
        "und die Fallnummer?", "bis wann?")
    assert first.outcome == "escalated" and first.case_id is not None
    with store.sessions() as s:
        case = s.get(CaseRow, first.case_id)
        assert case is not None
    assert first.case_id in number.text and number.outcome == "answered"
    assert sentences(number.text) == 1 and ungrounded(number, demo_pages) == []
    assert first.case_id in until.text  # after a case, "bis wann?" asks when it is answered
    assert {c.case_id for c in number.citations} == {first.case_id}
    with store.sessions() as s:
        assert s.scalar(select(CaseRow.id).where(CaseRow.id != first.case_id)) is None


def test_a_fact_the_answer_did_not_hold_goes_through_the_pipeline(say: Say) -> None:
    # A delivery answer decided no return: who pays postage is not a fact of it.
    status, porto = chat(say, DELIVERED_BEDDING_DE,
                         f"Wo ist meine Bestellung {DELIVERED_BEDDING_DE.order_id}?",
                         "muss ich Porto zahlen?")
    assert status.intent == "order_status" and status.outcome == "answered"
    assert porto.text != render("follow_up_who_pays_seller", "de")
    assert porto.text != render("follow_up_who_pays_buyer", "de")


def test_no_follow_up_for_someone_else_in_the_thread(say: Say) -> None:
    order = DELIVERED_BEDDING_DE.order
    assert order.tracking is not None
    chat(say, DELIVERED_BEDDING_DE, f"Ich möchte die Bestellung {order.order_id} zurückgeben.")
    other = say("Sendungsnummer?", sender="someone.else@example.de", channel="chat",
                thread="t")
    assert order.tracking.id not in other.text and other.outcome == "needs_info"


def test_the_follow_up_facts_stay_in_the_conversation_state(say: Say, store: Store) -> None:
    [first] = chat(say, DELIVERED_BEDDING_DE,
                   f"Die Bettwäsche aus {DELIVERED_BEDDING_DE.order_id} ist kaputt, "
                   "ich möchte sie zurückgeben.")
    with store.sessions() as s:
        conv = s.get_one(ConversationRow, first.conversation_id)
        held = conv.state["answered"]
    assert held["order_id"] == DELIVERED_BEDDING_DE.order_id
    assert held["intent"] == "return_request" and held["asin"] == DELIVERED_BEDDING_DE.asin
    assert set(held["facts"]) == {"tracking", "who_pays", "return_by", "refund", "send_back"}
    # Facts about the order, never the customer's words.
    assert "kaputt" not in str(held)


def test_the_product_named_picks_the_one_order_holding_it(say: Say) -> None:
    # Miriam has two orders; the bedding is in one of them.
    [reply] = chat(say, DELIVERED_BEDDING_DE, "Ja hallo, die Bettwäsche ist kaputt "
                                              "angekommen, ich möchte sie zurückgeben.")
    assert (reply.outcome, reply.intent) == ("answered", "return_request"), reply.text
    assert DELIVERED_BEDDING_DE.order_id in {c.order_id for c in reply.citations}


def test_a_product_in_several_orders_still_asks_which_order(say: Say) -> None:
    # Javier bought a linen shirt twice: which order is his to say.
    [reply] = chat(say, HAZMAT_POWER_BANK_ES, "Quiero devolver la camisa, no me queda bien.")
    assert (reply.outcome, reply.intent) == ("needs_info", "return_request")
    assert "123-1234567-1234567" in reply.text
    assert not [c for c in reply.citations if c.kind == "order"]


@pytest.mark.parametrize(("text", "language", "topic"), [
    ("muss ich Porto zahlen?", "de", "who_pays"), ("Sendungsnummer?", "de", "tracking"),
    ("bis wann ist das Geld auf dem Konto?", "de", "refund"), ("bis wann?", "de", "deadline"),
    ("wohin schicke ich es?", "de", "send_back"), ("und die Fallnummer?", "de", "case"),
    ("¿y el envío lo pago yo?", "es", "who_pays"), ("número de seguimiento?", "es", "tracking"),
    ("¿hasta cuándo?", "es", "deadline"), ("¿cuándo me devuelven el dinero?", "es", "refund"),
    ("who pays postage?", "en", "who_pays"), ("tracking number?", "en", "tracking"),
    ("when do I get my money?", "en", "refund"), ("where do I send it?", "en", "send_back"),
    ("qui paie les frais de retour ?", "fr", "who_pays"), ("numéro de suivi ?", "fr", "tracking"),
    ("jusqu'à quand ?", "fr", "deadline"), ("chi paga la spedizione?", "it", "who_pays"),
    ("numero di tracciamento?", "it", "tracking"), ("quando arriva il rimborso?", "it", "refund"),
    # Asked as a doubt about the answer just given ("so I don't…?").
    ("Zahle ich den Rückversand?", "de", "who_pays"),
    ("Muss ich sie gar nicht zurückschicken?", "de", "send_back"),
    ("¿O sea que no pago yo los gastos?", "es", "who_pays"),
    ("¿Y no hace falta devolverlo?", "es", "send_back"),
    ("So I don't pay for the return?", "en", "who_pays"),
    ("So I don't need to send it back?", "en", "send_back"),
    # Where it goes, asked with the verb's particle at the end ("wo … hin?").
    ("Und wo bringe ich die Lampe hin?", "de", "send_back"),
    ("An wen sende ich das Paket?", "de", "send_back"),
    ("Where does the parcel go?", "en", "send_back"),
    ("Wo ist mein Paket?", "de", None),
    # "Until when must I send it?" asks for the deadline, not whether to send it.
    ("Bis wann muss ich es zurückschicken?", "de", "deadline"),
    ("¿Hasta cuándo tengo que devolverlo?", "es", "deadline"),
    ("How long do I have to return it?", "en", "deadline"),
    # A product question that shares a word with a follow-up is none.
    ("Hat die Uhr Schlaf-Tracking?", "de", None), ("Ist die App kostenlos?", "de", None),
    ("Does it have sleep tracking?", "en", None), ("¿tiene seguimiento del sueño?", "es", None),
])
def test_the_follow_up_words_name_the_fact_asked(text: str, language: str,
                                                 topic: str | None) -> None:
    assert asked_topic(text, language) == topic


@pytest.mark.parametrize(("text", "language", "intent", "closes"), [
    ("Okay danke tschüss", "de", "thanks", True), ("gracias, adiós", "es", "thanks", True),
    ("thanks, bye", "en", "thanks", True), ("merci au revoir", "fr", "thanks", True),
    ("grazie ciao", "it", "thanks", True), ("Vielen Dank!", "de", "thanks", False),
    # "Ciao" alone greets; a farewell read as a request is answered as the request.
    ("Ciao", "it", "greeting", False), ("bye, wo ist mein Paket?", "de", "order_status", False),
])
def test_a_goodbye_is_told_from_thanks_and_greetings(text: str, language: str, intent: str,
                                                    closes: bool) -> None:
    assert says_goodbye(text, language, intent) is closes


def test_a_goodbye_ends_a_request_the_agent_asked_about(say: Say) -> None:
    asked, bye = [say(text, sender="session-7", channel="chat", thread="t")
                  for text in ("Wo ist mein Paket?", "Okay danke tschüss")]
    assert asked.outcome == "needs_info" and "123-1234567-1234567" in asked.text
    assert (bye.outcome, bye.intent) == ("answered", "thanks")
    assert bye.text == render("goodbye", "de")
