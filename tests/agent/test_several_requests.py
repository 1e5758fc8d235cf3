"""Several requests in one message: each understood and decided on its own, answered in one
reply, and what stays open one case for the seller."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agent.db import Store
from agent.messages import Reply
from agent.models import CaseRow, OutboxRow
from agent.request_split import cut_requests, names_something, request_parts
from agent.several_requests import GOES_ON, Request, requests_in
from tests.agent.conftest import Say, ask
from tests.support.scenarios import (
    DELIVERED_DESK_LAMP_DE,
    DELIVERED_HEADLAMP_US,
    DELIVERED_SHEETS_ES,
    DESK_LAMP_AND_LED_STRIPS_DE,
    OVERDUE_BEDDING_DE,
    Scenario,
)

# --- by form: where a message is cut (no model) ----------------------------------------------


@pytest.mark.parametrize(("text", "language", "parts"), [
    ("Wie schwer ist sie, und lädt sie ein iPhone 15?", "de",
     ["Wie schwer ist sie", "lädt sie ein iPhone 15?"]),
    ("¿Dónde está mi pedido? Y además quiero devolver la lámpara", "es",
     ["Dónde está mi pedido?", "quiero devolver la lámpara"]),
    ("Where is my order and how do I return the lamp?", "en",
     ["Where is my order", "how do I return the lamp?"]),
    ("What does it weigh and is it dishwasher safe?", "en",
     ["What does it weigh", "is it dishwasher safe?"]),
    ("Combien pèse-t-elle et peut-on la laver au lave-vaisselle ?", "fr",
     ["Combien pèse-t-elle", "peut-on la laver au lave-vaisselle ?"]),
    ("Quanto pesa e si può lavare in lavastoviglie?", "it",
     ["Quanto pesa", "si può lavare in lavastoviglie?"]),
    # What happened stays with the request that follows it.
    ("Hallo! Die Lampe kam kaputt an. Ich möchte sie zurückgeben. Wie schwer ist sie?", "de",
     ["Hallo! Die Lampe kam kaputt an. Ich möchte sie zurückgeben.", "Wie schwer ist sie?"]),
    # A lead-in before a colon introduces the requests and goes with the first of them.
    ("Guten Tag, kurz zu meiner Lampe: Ist sie schon unterwegs, und kann ich sie umtauschen?",
     "de", ["Guten Tag, kurz zu meiner Lampe: Ist sie schon unterwegs",
            "kann ich sie umtauschen?"]),
    ("Dos dudas sobre las sábanas: ¿cuándo llegaron y puedo devolverlas?", "es",
     ["Dos dudas sobre las sábanas: ¿cuándo llegaron", "puedo devolverlas?"]),
    ("Quick question re my headlamp: where is it, and how do I send it back?", "en",
     ["Quick question re my headlamp: where is it", "how do I send it back?"]),
])
def test_a_message_is_cut_where_each_side_asks_on_its_own(
        text: str, language: str, parts: list[str]) -> None:
    assert request_parts(text, language) == parts


@pytest.mark.parametrize(("text", "language"), [
    ("die Lampe kam kaputt an, ich möchte sie zurückgeben", "de"),
    ("Die Lampe kam kaputt an und ich möchte sie zurückgeben.", "de"),
    ("Hallo! Wo ist meine Bestellung?", "de"),
    ("Hi, I ordered the lamp last week. Is it dimmable? Thanks", "en"),
    ("Is it black and white?", "en"),
    ("¿Tienen la sábana en blanco y en gris?", "es"),
])
def test_one_request_with_two_clauses_is_not_cut(text: str, language: str) -> None:
    assert request_parts(text, language) == [text]


def test_a_sentence_asks_by_its_question_mark_or_a_request_phrase() -> None:
    # "Quiero saber si…" makes a request; "Es que no sé…" (a question word without the
    # mark) tells, and stays with the question before it.
    cuts = cut_requests("¿Cuánto miden las grandes? Quiero saber si me sirven para la playa",
                        "es")
    assert [(c.text, c.question) for c in cuts] == [
        ("Cuánto miden las grandes?", True),
        ("Quiero saber si me sirven para la playa", False)]
    assert request_parts("¿Cuántos minutos tarda? Es que no sé si la uso bien", "es") == [
        "¿Cuántos minutos tarda? Es que no sé si la uso bien"]


def test_parts_that_are_no_request_or_the_same_one_are_joined() -> None:
    found = requests_in([
        ("Hallo?", "greeting"), ("Wo ist meine Bestellung?", "order_status"),
        ("Wann kommt sie an?", "order_status"), ("Wie schwer ist sie?", "product_question"),
        ("Hat sie einen Timer?", "product_question"), ("Die Lampe ist kaputt.", "item_problem"),
        ("Ich möchte sie zurückgeben.", "return_request"), ("Danke!", "thanks")])
    assert found == [
        Request("Hallo? Wo ist meine Bestellung? Wann kommt sie an?", "order_status"),
        Request("Wie schwer ist sie?", "product_question"),
        Request("Hat sie einen Timer?", "product_question"),
        Request("Die Lampe ist kaputt. Ich möchte sie zurückgeben. Danke!", "return_request")]


def test_a_question_that_names_nothing_goes_on_with_the_one_before() -> None:
    assert not names_something("Wie lange?", "de") and not names_something("¿Y cuánto?", "es")
    assert names_something("Mit welchem Gewicht?", "de")
    assert requests_in([("Gibt es auf den Diffuser Garantie?", "product_question"),
                        ("Wie lange?", GOES_ON)]) == [
        Request("Gibt es auf den Diffuser Garantie? Wie lange?", "product_question")]


# --- through the agent ------------------------------------------------------------------------


def cases_of(store: Store, reply: Reply) -> list[CaseRow]:
    with store.sessions() as s:
        return list(s.scalars(select(CaseRow).where(
            CaseRow.conversation_id == reply.conversation_id)))


@pytest.mark.slow
def test_two_product_questions_are_each_answered_from_the_page(say: Say, store: Store) -> None:
    # The message: each question alone was answered, together neither was.
    reply = ask(say, DESK_LAMP_AND_LED_STRIPS_DE,
                "Wie schwer ist sie, und lädt sie ein iPhone 15?")
    assert (reply.outcome, reply.intent, reply.case_id) == ("answered", "product_question",
                                                            None), reply.text
    assert [(p.intent, p.outcome) for p in reply.requests] == [
        ("product_question", "answered"), ("product_question", "answered")]
    # In the customer's order: the weight first, then the charging.
    assert reply.text.index("1,35 kg") < reply.text.index("iPhone 12 bis 15")
    fields = [c.field for c in reply.citations if c.kind == "product_page"]
    assert "attributes.item_weight" in fields and "bullet_points[1]" in fields
    assert not cases_of(store, reply)


@pytest.mark.slow
def test_one_part_answered_and_the_other_opens_one_case(say: Say, store: Store) -> None:
    reply = ask(say, DESK_LAMP_AND_LED_STRIPS_DE,
                "Wie schwer ist sie, und hält sie einen Sturz aus drei Metern aus?")
    assert [(p.intent, p.outcome) for p in reply.requests] == [
        ("product_question", "answered"), ("product_question", "escalated")], reply.text
    assert reply.outcome == "escalated" and reply.case_id and reply.case_due
    assert "1,35 kg" in reply.text and reply.case_id in reply.text
    [case] = cases_of(store, reply)
    assert case.id == reply.case_id and case.category == "product_question"
    assert "Sturz" in case.question and "Nina" not in case.question


@pytest.mark.slow
def test_what_stays_open_in_several_requests_is_one_case(say: Say, store: Store) -> None:
    # An overdue parcel and a question its page is silent on: one case, one notification,
    # every question in it; its category the one the seller must act on.
    reply = ask(say, OVERDUE_BEDDING_DE,
                "Wo bleibt meine Bestellung, und ist die Bettwäsche mulesingfrei?")
    assert [(p.intent, p.outcome) for p in reply.requests] == [
        ("order_status", "escalated"), ("product_question", "escalated")], reply.text
    [case] = cases_of(store, reply)
    assert case.id == reply.case_id and case.category == "shipment"
    assert case.question.startswith("1. ") and "\n2. " in case.question
    assert "mulesingfrei" in case.question
    assert reply.text.count(case.id) == 2  # each part's answer names the one case
    with store.sessions() as s:
        notices = list(s.scalars(select(OutboxRow).where(
            OutboxRow.meta["kind"].as_string() == "seller_notification")))
    assert len(notices) == 1 and "mulesingfrei" in notices[0].body


@pytest.mark.slow
@pytest.mark.parametrize(("order", "text", "delivered"), [
    (DELIVERED_HEADLAMP_US,
     "Hello, a couple of things: when did the headlamp arrive, and how do I return it?",
     "17 November 2026"),
    (DELIVERED_SHEETS_ES,
     "Buenas, dos dudas: ¿cuándo se entregaron las sábanas? ¿Y cómo las devuelvo?",
     "7 de noviembre de 2026"),
])
def test_requests_after_a_lead_in_are_each_answered(say: Say, order: Scenario, text: str,
                                                    delivered: str) -> None:
    # The lead-in before the colon asks nothing: the day it was delivered is answered as
    # well as the return, not the return alone.
    reply = ask(say, order, text)
    assert [p.intent for p in reply.requests] == ["order_status", "return_request"], reply.text
    assert delivered in reply.text, reply.text


@pytest.mark.slow
def test_order_status_and_a_return_in_spanish(say: Say) -> None:
    reply = ask(say, DELIVERED_SHEETS_ES,
                "¿Dónde está mi pedido? Y además quiero devolver las sábanas.")
    assert reply.language == "es" and reply.outcome == "answered", reply.text
    assert [p.intent for p in reply.requests] == ["order_status", "return_request"]
    assert reply.return_decision is not None and reply.return_decision.eligible
    kinds = {(c.kind, c.field or c.rule) for c in reply.citations}
    assert ("order", "status") in kinds and any(kind == "policy" for kind, _ in kinds)
    # Where the order is, then how to return it.
    assert reply.text.index("entregó") < reply.text.index("devolver")


@pytest.mark.slow
@pytest.mark.parametrize(("text", "intents", "shown"), [
    ("Where is my order and how do I return the headlamp?",
     ["order_status", "return_request"], ["delivered"]),
    ("What does it weigh and is it waterproof?",
     ["product_question", "product_question"], ["79 g", "IPX6"]),
])
def test_several_requests_in_english(say: Say, text: str, intents: list[str],
                                     shown: list[str]) -> None:
    reply = ask(say, DELIVERED_HEADLAMP_US, text)
    assert [p.intent for p in reply.requests] == intents, reply.text
    assert all(p.outcome == "answered" for p in reply.requests), reply.text
    assert all(s in reply.text for s in shown), reply.text


@pytest.mark.slow
@pytest.mark.parametrize(("order", "text", "intent"), [
    (DELIVERED_DESK_LAMP_DE, "Die Lampe kam kaputt an, ich möchte sie zurückgeben.",
     "return_request"),
    (DELIVERED_DESK_LAMP_DE, "Die Lampe kam kaputt an. Ich möchte sie zurückgeben.",
     "return_request"),
    (DELIVERED_HEADLAMP_US, "Hi there! Where is my order?", "order_status"),
    (DELIVERED_HEADLAMP_US, "My order number: where is it?", "order_status"),
    (DELIVERED_SHEETS_ES, "¿Dónde está mi pedido? ¿Cuándo llega mi pedido?", "order_status"),
    # A wish says why the question is asked: not a second question for the page.
    (DELIVERED_SHEETS_ES, "¿Sirven para cama de 150? Quiero ponerlas en la cama de invitados.",
     None),
    # About buying, all of it: asked of the seller before buying, whole.
    (DELIVERED_DESK_LAMP_DE, "Gibt es die Lampe auch in Weiß, und ist sie gerade vorrätig?",
     "pre_order_question"),
])
def test_one_request_stays_one(say: Say, order: Scenario, text: str,
                               intent: str | None) -> None:
    reply = ask(say, order, text)
    # Read whole, as a message of one request always was (``None``: however that reads).
    assert reply.requests == [] and reply.intent == (intent or reply.intent), reply.text
    if intent == "return_request":
        # The problem is the return's reason: the seller pays for sending it back.
        assert reply.return_decision is not None
        assert reply.return_decision.return_shipping_paid_by == "seller"


@pytest.mark.slow
def test_a_stranger_asking_twice_learns_nothing_and_is_asked_once(say: Say) -> None:
    reply = say(f"Where is order {DELIVERED_HEADLAMP_US.order_id} and how do I return "
                "the headlamp?", channel="chat", sender="session-x")
    assert reply.outcome == "needs_info" and reply.case_id is None
    assert not [c for c in reply.citations if c.kind == "order"]
    assert "delivered" not in reply.text.lower()
