"""Replies made fit to be heard: short parts, ids spelled, no "…", no address read out."""

from __future__ import annotations

from channels.for_the_ear import (
    MAX_SAY_WORDS,
    for_the_ear,
    say_parts,
    spoken_ids,
    without_address,
    without_ellipses,
)


def test_order_and_case_ids_are_spelled_in_groups() -> None:
    assert spoken_ids("Bestellung 028-4306213-9513237 (Fall CS-K7M2Q4P).") == \
        "Bestellung 0 2 8, 4 3 0 6 2 1 3, 9 5 1 3 2 3 7 (Fall C S, K 7 M 2, Q 4 P)."
    assert spoken_ids("2 Lampen für 49,99 €") == "2 Lampen für 49,99 €"


def test_a_cut_title_ends_at_a_whole_word_without_the_ellipsis() -> None:
    assert without_ellipses("Sie können Lumo LED-Lampe mit Qi-Ladefläche, 5… bis zum 3. "
                            "Mai zurückgeben.") == \
        "Sie können Lumo LED-Lampe mit Qi-Ladefläche bis zum 3. Mai zurückgeben."
    assert without_ellipses("Puede devolver Juego de sábanas 100%… hasta el lunes.") == \
        "Puede devolver Juego de sábanas hasta el lunes."
    assert "…" not in "".join(for_the_ear("Ein Titel mit vielen Worten… ist lang."))


def test_the_sentence_with_the_address_is_replaced() -> None:
    text = ("Puede devolverlo hasta el 31 de enero de 2027. Envíelo a: Casa S.L. Devoluciones, "
            "Calle 4, 46015 Valencia, ES. Gastos: a su cargo.")
    assert without_address(text, "Casa S.L. Devoluciones, Calle 4, 46015 Valencia, ES",
                           "Le envío la dirección por SMS.") == (
        "Puede devolverlo hasta el 31 de enero de 2027. Le envío la dirección por SMS. "
        "Gastos: a su cargo.")
    assert without_address("Nichts.", "Straße 1", "SMS.") == "Nichts."


def test_long_replies_are_cut_between_sentences_into_short_parts() -> None:
    sentence = "Das ist ein Satz mit genau zehn Wörtern für den Test."
    parts = say_parts(" ".join([sentence] * 5))
    assert parts == [f"{sentence} {sentence}"] * 2 + [sentence]
    long = ", ".join(["eins zwei drei vier fünf sechs sieben acht"] * 6) + "."
    parts = say_parts(long)
    assert len(parts) > 1 and all(len(p.split()) <= MAX_SAY_WORDS for p in parts)
    assert " ".join(parts).replace(",", "") == long.replace(",", "")
    assert say_parts("Am 7. Dezember 2026 kommt es an.") == ["Am 7. Dezember 2026 kommt es an."]
