"""What a seller reads of a case: in the seller's language, as a sentence of what was
understood (never the customer's message), under the item the question names, and one
case per late parcel however often it is asked about."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from agent.case_summary import product_question_summary, topic_words
from agent.cases import SELLER_NOTIFICATION, seller_language
from agent.core import Agent
from agent.db import Store
from agent.models import CaseRow, OutboxRow
from agent.records import Seller
from channels.seller_mail import case_in_subject, read_answer
from seller.handover_desk import seller_text, taken_over_text
from tests.agent.conftest import ask
from tests.conftest import Say
from tests.support.scenarios import (
    DELIVERED_SHEETS_ES,
    DESK_LAMP_AND_LED_STRIPS_DE,
    OVERDUE_BEDDING_DE,
)

LAMP, STRIP = DESK_LAMP_AND_LED_STRIPS_DE.asins



def notification(store: Store, case_id: str) -> OutboxRow:
    with store.sessions() as s:
        row = s.scalar(select(OutboxRow).where(
            OutboxRow.meta["case_id"].as_string() == case_id,
            OutboxRow.meta["kind"].as_string() == SELLER_NOTIFICATION))
        assert row is not None
        return row


def case_of(store: Store, case_id: str) -> CaseRow:
    with store.sessions() as s:
        return s.get_one(CaseRow, case_id)


# --- without the agent -----------------------------------------------------------------------

@pytest.mark.parametrize(("languages", "expected"), [
    (["de", "en"], "de"), (["es", "en"], "es"), (["it", "en"], "it"), (["en", "zh"], "en"),
    (["zh", "fr"], "fr"), (["zh"], "en"), ([], "en"), (["DE-at"], "de"),
])
def test_the_sellers_language_is_the_first_one_the_service_writes(
        languages: list[str], expected: str) -> None:
    seller = Seller.model_validate({
        "seller_id": "A0", "name": "Test", "country": "DE", "email": "s@example.com",
        "languages": languages, "csba": {"status": "active", "enrolled_on": "2026-01-01"}})
    assert seller_language(seller) == expected


@pytest.mark.parametrize(("subject", "line"), [
    ("Fall CS-ABCDEFG: shipment zu Bestellung 1", "ZUR SEITE HINZUFÜGEN: ja"),
    ("AW: Caso CS-ABCDEFG: product_question del pedido 1", "AÑADIR A LA PÁGINA: sí"),
    ("RE : Cas CS-ABCDEFG : product_question pour la commande 1", "AJOUTER À LA PAGE : oui"),
    ("R: Caso CS-ABCDEFG: product_question per l'ordine 1", "AGGIUNGI ALLA PAGINA: sì"),
])
def test_a_reply_to_a_notification_in_any_seller_language_is_read(subject: str,
                                                                   line: str) -> None:
    assert case_in_subject(subject) == "CS-ABCDEFG"
    assert read_answer(f"Ja, das geht.\n{line}") == ("Ja, das geht.", True)


def test_hand_over_answers_are_written_in_the_sellers_language() -> None:
    german = seller_text("scope.invoice", "de", order_id="028-1")
    spanish = taken_over_text("171-1", "HO-1", answered_by="email", case_id="CS-ABCDEFG",
                              outcome="escalated", language="es")
    assert german.startswith("Wir haben die Nachricht zu Bestellung 028-1 nicht übernommen")
    assert spanish.startswith("Nos hemos hecho cargo") and "CS-ABCDEFG" in spanish
    assert seller_text("scope.invoice", order_id="028-1").startswith("We did not take over")


def test_a_product_question_is_summarised_as_a_sentence_in_each_language() -> None:
    summary = product_question_summary(page=None, asin="B0DE4LT7K2",
                                       topic="attributes.item_weight", keywords=["schwer"])
    assert summary.text("en") == ("The customer asks about the item weight of B0DE4LT7K2 "
                                  "(B0DE4LT7K2), in these words: schwer; the product page "
                                  "does not say.")
    assert summary.text("de").startswith("Der Kunde fragt nach „Artikelgewicht“ von")
    assert "«Peso del producto»" in summary.text("es")
    general = product_question_summary(page=None, asin="B0X", topic=None, keywords=[])
    assert general.text("fr").startswith("Le client a une question sur B0X (B0X)")


def test_the_topic_words_leave_out_greetings_numbers_names_and_the_title() -> None:
    words = ["Hallo", "Nina", "Wand", "montieren", "028", "Bestellung", "wand", "Lumo"]
    assert topic_words(words, language="de", private=["Nina", "Wolf"],
                       title="Lichtwerk Lumo LED-Schreibtischlampe") == ["Wand", "montieren"]


# --- through the agent -----------------------------------------------------------------------

@pytest.mark.slow
def test_a_german_seller_is_told_of_a_late_parcel_in_german(say: Say, store: Store) -> None:
    reply = ask(say, OVERDUE_BEDDING_DE, "Wo ist meine Bestellung? Sie ist immer noch nicht da.")
    assert reply.outcome == "escalated" and reply.case_id
    sent = notification(store, reply.case_id)
    assert sent.subject is not None and sent.subject.startswith(f"Fall {reply.case_id}: ")
    assert case_in_subject(f"AW: {sent.subject}") == reply.case_id  # its reply is matched
    assert "Was wir von Ihnen brauchen:" in sent.body and "Bitte antworten Sie bis" in sent.body
    case = case_of(store, reply.case_id)
    assert case.question.startswith(f"Bestellung {OVERDUE_BEDDING_DE.order_id} sollte am")
    assert case.needs.startswith("Bitte prüfen Sie die Sendung")
    assert "Please" not in sent.body and "Question:" not in sent.body


@pytest.mark.slow
def test_a_spanish_seller_is_asked_in_spanish(say: Say, store: Store) -> None:
    reply = ask(say, DELIVERED_SHEETS_ES, "Quiero hablar con una persona, por favor.")
    assert reply.outcome == "escalated" and reply.case_id
    sent = notification(store, reply.case_id)
    assert sent.subject is not None and sent.subject.startswith(f"Caso {reply.case_id}: ")
    assert "Lo que necesitamos de usted:" in sent.body
    assert (f"El cliente pide hablar con una persona sobre el pedido "
            f"{DELIVERED_SHEETS_ES.order_id}.") in sent.body
    # The customer's own words and contact never reach the seller.
    assert "por favor" not in sent.body and DELIVERED_SHEETS_ES.customer_email not in sent.body


@pytest.mark.slow
def test_a_product_question_is_filed_under_the_item_it_names_as_a_sentence(
        say: Say, store: Store) -> None:
    name = DESK_LAMP_AND_LED_STRIPS_DE.customer_name
    text = (f"Hallo, hier ist {name}. Kann man den LED-Streifen an einem Fahrradrahmen "
            "befestigen? Danke!")
    reply = ask(say, DESK_LAMP_AND_LED_STRIPS_DE, text)
    assert reply.outcome == "escalated" and reply.case_id
    case = case_of(store, reply.case_id)
    # The strip is the order's second item: the question named it, not the first.
    assert case.asins == [STRIP] != [DESK_LAMP_AND_LED_STRIPS_DE.asin]
    assert case.question.startswith("Der Kunde hat eine Frage zu Lichtwerk Glimmer LED-Streifen")
    assert f"({STRIP})" in case.question
    assert "die die Produktseite nicht beantwortet" in case.question
    assert "Fahrradrahmen" in case.question and "befestigen" in case.question
    sent = notification(store, reply.case_id)
    for private in ("Hallo", "Danke", "Bestellung " + DESK_LAMP_AND_LED_STRIPS_DE.order_id, text,
                    *name.split(), DESK_LAMP_AND_LED_STRIPS_DE.customer_email):
        assert private not in case.question and private not in sent.body


@pytest.mark.slow
def test_one_late_parcel_asked_about_twice_is_one_case(say: Say, store: Store) -> None:
    first = ask(say, OVERDUE_BEDDING_DE, "Wo bleibt mein Paket?", thread="mail-1")
    # A second mail, not a reply: another conversation, the same parcel.
    second = ask(say, OVERDUE_BEDDING_DE, "Mein Paket ist immer noch nicht angekommen!",
                 thread="mail-2", at="2026-11-25T11:00:00+00:00")
    assert first.conversation_id != second.conversation_id
    assert first.case_id and second.case_id == first.case_id
    with store.sessions() as s:
        cases = list(s.scalars(select(CaseRow).where(
            CaseRow.order_id == OVERDUE_BEDDING_DE.order_id)))
        notices = list(s.scalars(select(OutboxRow).where(
            OutboxRow.meta["kind"].as_string() == SELLER_NOTIFICATION)))
    assert [(c.category, c.status) for c in cases] == [("shipment", "awaiting_seller")]
    assert len(notices) == 1


@pytest.mark.parametrize("outcome", ["answered", "expired"])
def test_every_conversation_that_joined_a_case_hears_its_outcome(
        say: Say, agent: Agent, store: Store, outcome: str) -> None:
    first = ask(say, OVERDUE_BEDDING_DE, "Wo bleibt mein Paket?", thread="mail-1")
    second = ask(say, OVERDUE_BEDDING_DE, "Mein Paket ist immer noch nicht angekommen!",
                 thread="mail-2", at="2026-11-25T11:00:00+00:00")
    assert first.case_id and second.case_id == first.case_id
    later = datetime.fromisoformat("2026-12-20T12:00:00+00:00")
    if outcome == "answered":
        agent.answer_case(first.case_id, OVERDUE_BEDDING_DE.seller_id,
                          "Das Paket wurde heute neu verschickt.", add_to_knowledge=False,
                          now=later)
    else:
        assert agent.expire_cases(later) == [first.case_id]
    with store.sessions() as s:
        told = list(s.scalars(select(OutboxRow).where(
            OutboxRow.meta["case_id"].as_string() == first.case_id,
            OutboxRow.meta["kind"].as_string() != SELLER_NOTIFICATION)))
    # Each mail thread gets the outcome in its own thread, once.
    assert sorted(row.meta["conversation_id"] for row in told) == sorted(
        [first.conversation_id, second.conversation_id])
    assert {row.recipient for row in told} == {OVERDUE_BEDDING_DE.customer_email}
    assert len({row.body for row in told}) == 1
    if outcome == "answered":
        assert all("neu verschickt" in row.body for row in told)
    # Run again (a retried job): nothing is queued twice.
    if outcome == "expired":
        assert agent.expire_cases(later) == []
