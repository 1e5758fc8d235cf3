"""Order numbers spoken word by word, in each of the five languages, as the agent reads them."""

from __future__ import annotations

import pytest

from agent.understanding import extract_order_ids
from channels.spoken_digits import spoken_order_numbers
from channels.voice import keypad_text, spoken_text

ORDER = "028-4306213-9513237"
DOUBLES = "404-1122334-5566778"


@pytest.mark.parametrize(("spoken", "expected"), [
    ("Meine Bestellnummer ist null zwei acht vier drei null sechs zwei eins drei neun fünf "
     "eins drei zwei drei sieben.", f"Meine Bestellnummer ist {ORDER}."),
    ("null zwo acht Strich vier drei null sechs zwo eins drei Strich neun fünf eins drei zwo "
     "drei sieben", ORDER),
    ("Bestellung vier null vier, eins eins zwei zwei drei drei vier, fünf fünf sechs sechs "
     "sieben sieben acht", f"Bestellung {DOUBLES}"),
    ("vier null vier doppel eins doppel zwei doppel drei vier doppel fünf doppel sechs "
     "doppel sieben acht", DOUBLES),
    ("Mi pedido es el cero dos ocho cuatro tres cero seis dos uno tres nueve cinco uno tres "
     "dos tres siete", f"Mi pedido es el {ORDER}"),
    ("cuatro cero cuatro, doble uno doble dos doble tres cuatro, doble cinco doble seis "
     "doble siete ocho", DOUBLES),
    ("My order is zero two eight, four three oh six two one three, nine five one three two "
     "three seven", f"My order is {ORDER}"),
    ("four oh four double one double two double three four double five double six double "
     "seven eight", DOUBLES),
    ("Ma commande est zéro deux huit quatre trois zéro six deux un trois neuf cinq un trois "
     "deux trois sept", f"Ma commande est {ORDER}"),
    ("un zéro deux huit tiret quatre trois zéro six deux un trois tiret neuf cinq un trois "
     "deux trois sept", f"un {ORDER}"),  # "un" is the article here: the number has 17 digits
    ("Il mio ordine è zero due otto quattro tre zero sei due uno tre nove cinque uno tre due "
     "tre sette", f"Il mio ordine è {ORDER}"),
    ("quattro zero quattro doppio uno doppio due doppio tre quattro doppio cinque doppio sei "
     "doppio sette otto", DOUBLES),
    # what recognisers also write: digit groups, and numerals mixed with words
    ("Bestellung 028 4306 213 9513 237 bitte", f"Bestellung {ORDER} bitte"),
    ("028 vier drei null sechs zwei eins drei 951 3237", ORDER),
])
def test_a_spoken_order_number_becomes_one(spoken: str, expected: str) -> None:
    assert spoken_order_numbers(spoken) == expected
    assert spoken_text(spoken) == expected
    assert extract_order_ids(spoken_text(spoken)) == [ORDER if ORDER in expected else DOUBLES]


@pytest.mark.parametrize("spoken", [
    "Ich möchte eins zurückgeben",
    "I ordered two lamps on the 3rd",
    "Quiero devolver uno de los dos",
    "zero due otto",  # too short for an order number
    "null zwei acht vier drei null sechs zwei eins drei neun fünf eins drei zwei drei sieben "
    "acht",  # 18 digits: not an order number, left as spoken
    "Meine Telefonnummer ist 0151 23456789",
])
def test_other_numbers_are_left_as_spoken(spoken: str) -> None:
    assert spoken_order_numbers(spoken) == spoken


@pytest.mark.parametrize(("keys", "expected"), [
    ("02843062139513237", ORDER),
    ("02843062139513237#", ORDER),
    ("028*4306213*9513237", ORDER),
    ("*028*4306213*9513237#", ORDER),
    ("1234", "1234"),
    ("", ""),
])
def test_keypad_digits_are_an_order_number(keys: str, expected: str) -> None:
    assert keypad_text(keys) == expected
