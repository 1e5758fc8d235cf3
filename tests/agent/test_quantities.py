"""The units a customer names: "one of the two lamps" is one lamp, in every language."""

from __future__ import annotations

import pytest

from agent.quantities import ALL, read_quantity
from tests.support.scenarios import DELIVERED_POWER_STRIPS_DE


@pytest.mark.parametrize(("text", "language", "units"), [
    ("One of the two lamps is broken", "en", 1),
    ("Eine der zwei Lampen ist kaputt", "de", 1),
    ("Una de las dos lámparas llegó rota", "es", 1),
    ("Une des deux lampes est arrivée cassée", "fr", 1),
    ("Una delle due lampade è rotta", "it", 1),
    ("2 of the 3 glasses arrived broken", "en", 2),
    ("Zwei von 3 Gläsern sind zerbrochen", "de", 2),
    ("Dos de las 4 tazas llegaron rotas", "es", 2),
    ("One lamp is broken", "en", 1),
    ("I want to return 2 lamps", "en", 2),
    ("Beide Lampen sind kaputt", "de", ALL),
    ("Ambas lámparas llegaron rotas", "es", ALL),
])
def test_the_number_the_customer_names_is_read(text: str, language: str,
                                               units: int | str) -> None:
    assert read_quantity(text, language) == units


@pytest.mark.parametrize(("text", "language"), [
    ("Die Lampe ist kaputt", "de"),  # "die": no number said
    ("Eine Lampe ist kaputt", "de"),  # "eine" is the article as much as the number
    ("La lámpara llegó rota el 2 de noviembre", "es"),  # a date
    ("It broke after 2 days", "en"),  # a duration
    ("It cost 24,99 € and the LW-TL45 is broken", "en"),  # a price and a model
    ("This one is broken", "en"),  # a pronoun
    ("I ordered 3 lamps and 2 arrived broken", "en"),  # two numbers that disagree
    # The count ordered beside an article-or-number "one": perhaps one broken, perhaps two.
    ("Ich habe 2 Lampen bestellt, eine ist kaputt", "de"),
    ("Pedí 2 lámparas y una llegó rota", "es"),
    ("J'ai commandé 2 lampes, une est cassée", "fr"),
    ("Ho ordinato 2 lampade, una è rotta", "it"),
    (f"Ich möchte die Lampen zurückgeben ({DELIVERED_POWER_STRIPS_DE.order_id})",
     "de"),  # an order number
])
def test_a_message_that_does_not_say_how_many_reads_as_unsaid(text: str,
                                                              language: str) -> None:
    assert read_quantity(text, language) is None


@pytest.mark.parametrize(("text", "language", "units"), [
    ("1", "de", 1), ("eine", "de", 1), ("nur eine", "de", 1), ("una", "es", 1),
    ("one", "en", 1), ("zwei", "de", 2), ("alle", "de", ALL), ("todas", "es", ALL),
    ("all of them", "en", ALL), ("tous", "fr", ALL), ("tutti", "it", ALL),
])
def test_the_answer_to_how_many_is_a_number_or_all(text: str, language: str,
                                                   units: int | str) -> None:
    assert read_quantity(text, language, answer=True) == units
