"""Which links, addresses and numbers of page or seller text a customer may see."""

from __future__ import annotations

import pytest

from agent.contact_filter import ContactFilter, contact_filter
from agent.records import Enrolment, Seller

SHOWN = ContactFilter(own_domains=("amazon.de",), seller_email="Service@Lichtwerk-Home.example",
                      seller_phone="+49 30 1234567")


@pytest.mark.parametrize("text", [
    "Details: https://www.amazon.de/dp/B0DE4LT7K2?th=1 und https://amazon.de/hilfe.",
    "Fragen an service@lichtwerk-home.example oder SERVICE@lichtwerk-home.example",
    "Telefon +49 30 1234567, 0049 30 1234567 oder 030 1234567",
    "EAN 4006381333931, Modell LW-TL45, 1200-1800 mAh, 140 x 200 cm, 24,99 €",
    "Geliefert am 05/11/2026 oder 2026-11-05, Version 1.5.2, z.B. Art.Nr. 5",
])
def test_the_marketplaces_site_the_sellers_contact_and_plain_numbers_stay(text: str) -> None:
    assert SHOWN.clean(text, "de") == text


@pytest.mark.parametrize(("text", "expected"), [
    ("Registrieren: https://lichtwerk-garantie.top/login.",
     "Registrieren: [Link entfernt]."),
    ("Login: https://amazon.de.evil.example/x or https://amazon.de@evil.example/x",
     "Login: [Link entfernt] or [Link entfernt]"),
    ("Siehe www.lichtwerk-deals.com oder bit.ly/3xYz!",
     "Siehe [Link entfernt] oder [Link entfernt]!"),
    ("Mail an hilfe@lichtwerk-support.ru", "Mail an [Kontaktangabe entfernt]"),
    ("Hotline +44 20 7946 0958 oder 0900 123 4567", "Hotline [Kontaktangabe entfernt] oder "
     "[Kontaktangabe entfernt]"),
    ("Call (555) 123-4567", "Call [Kontaktangabe entfernt]"),
])
def test_any_other_link_address_or_number_becomes_a_marker(text: str, expected: str) -> None:
    assert SHOWN.clean(text, "de") == expected


def test_the_marker_speaks_the_customers_language() -> None:
    text = "https://evil.example.com/x +44 20 7946 0958"
    assert SHOWN.clean(text, "es") == "[enlace eliminado] [dato de contacto eliminado]"
    assert SHOWN.clean(text, "en") == "[link removed] [contact detail removed]"


def test_the_filter_is_built_from_the_marketplaces_data_and_the_seller_record() -> None:
    seller = Seller(seller_id="A1", name="L", country="DE", email="ops@l.example",
                    phone="+49 30 1234567",
                    csba=Enrolment(status="active", enrolled_on="2026-10-01"))  # type: ignore[arg-type]
    built = contact_filter("UK", seller)
    assert built.own_domains == ("amazon.co.uk",)
    assert built.clean("https://www.amazon.co.uk/x https://www.amazon.de/x ops@l.example",
                       "en") == "https://www.amazon.co.uk/x [link removed] ops@l.example"
    assert contact_filter("DE", None).clean("ops@l.example", "de") == "[Kontaktangabe entfernt]"
