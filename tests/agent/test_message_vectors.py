"""One embedding per message: the intent, the return reason, the closeness to an ordered
product and the search read the vector the index embeds for the search (agent/message_vectors.py),
and nothing of the message is kept past its turn. Through the real agent and the real e5
engine on the demo data; what the engine is asked to embed is recorded, not replaced."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from agent.understanding import meaning_text
from knowledge.e5 import E5Embeddings
from tests.agent.conftest import Say
from tests.support.scenarios import DELIVERED_DESK_LAMP_DE


@pytest.fixture()
def embedded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every text any e5 engine of this process embeds (the index's and the meaning reader's)."""
    texts: list[str] = []
    encode = E5Embeddings._encode

    def recording(self: E5Embeddings, batch: Sequence[str], *, query: bool) -> list[list[float]]:
        texts.extend(batch)
        return encode(self, batch, query=query)

    monkeypatch.setattr(E5Embeddings, "_encode", recording)
    yield texts


def ask(say: Say, text: str, message_id: str | None = None) -> str:
    order_id, email = DELIVERED_DESK_LAMP_DE.order_id, DELIVERED_DESK_LAMP_DE.customer_email
    message = f"{text} ({order_id})"
    reply = say(message, sender=email, message_id=message_id)
    assert reply.intent in {"product_question", "return_request", "item_problem"}
    return message


@pytest.mark.slow
def test_a_product_question_is_embedded_once_for_its_intent_and_its_search(
        say: Say, embedded: list[str]) -> None:
    message = ask(say, "Wie viel wiegt die Lampe?")
    assert embedded == [meaning_text(message)]


@pytest.mark.slow
def test_a_return_reason_read_clause_by_clause_embeds_the_message_once(
        say: Say, embedded: list[str]) -> None:
    message = ask(say, "Die Lampe kam mit abgebrochenem Fuß an. Ich möchte sie zurückgeben.")
    # The intent's vector serves the reason; only its two clauses are embedded anew.
    assert embedded == [meaning_text(message), "Die Lampe kam mit abgebrochenem Fuß an",
                        "Ich möchte sie zurückgeben"]


@pytest.mark.slow
def test_nothing_of_a_message_is_kept_past_its_turn(say: Say, embedded: list[str]) -> None:
    """The same words in a new message are embedded again: the vector kept for the turn's
    search went with the turn (a question never searched, a return, included)."""
    for text in ("Wie viel wiegt die Lampe?", "Ich möchte die Lampe zurückgeben."):
        first = ask(say, text)
        ask(say, text)
        assert embedded.count(meaning_text(first)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("text", [
    "Die Lampe kam mit einem Sprung im Fuß an, was jetzt?",
    "Das Licht ist viel schwächer als beschrieben, kann ich sie zurückgeben?",
])
def test_a_reason_read_twice_in_a_turn_embeds_each_clause_once(
        say: Say, embedded: list[str], text: str) -> None:
    """A problem told as a question is read for a reason twice: whether it states a problem
    at all, then the problem's own reason. The clauses' vectors are kept for the turn."""
    message = ask(say, text)
    assert embedded.count(meaning_text(message)) == 1
    assert len(embedded) > 1, "the reason was read clause by clause"
    assert len(embedded) == len(set(embedded)), embedded
