from knowledge.chunks import chunk_page
from knowledge.pages import ProductPage
from knowledge.text import tokens


def test_codes_are_kept_whole_and_in_parts() -> None:
    out = tokens("Passt das LW-TL45 Netzteil?", "de")
    assert {"lwtl45", "lw", "tl45"} <= set(out)


def test_dimensions_match_with_or_without_spaces() -> None:
    assert "140x200" in tokens("Bezug 140 x 200 cm", "de")
    assert "140x200" in tokens("140x200", "en")


def test_stems_and_accents_fold_per_language() -> None:
    assert tokens("Batería", "es") == tokens("bateria", "es")
    assert tokens("chargers", "en") == tokens("charger", "en")
    assert tokens("Lampen", "de") == tokens("Lampe", "de")


def test_german_compounds_are_indexed_by_their_tails() -> None:
    assert "waschbar" in tokens("maschinenwaschbar", "de")
    assert not [t for t in tokens("machine washable", "en") if t.startswith("hine")]


PAGE = ProductPage.model_validate({
    "asin": "B0TEST0001", "marketplace": "DE", "language": "de", "seller_id": "S1",
    "title": "Lichtwerk Testlampe", "bullet_points": ["Erster Punkt.", "Zweiter Punkt."],
    "description": "Absatz eins.\n\nAbsatz zwei.", "attributes": {"item_weight": "320 g"},
    "price": {"amount": 10, "currency": "EUR"}})


def test_one_chunk_per_field_with_provenance() -> None:
    chunks = chunk_page(PAGE)
    assert [c.field for c in chunks] == ["title", "bullet_points[0]", "bullet_points[1]",
                                         "description[0]", "description[1]",
                                         "attributes.item_weight"]
    weight = chunks[-1]
    assert weight.text == "320 g"  # a citation quotes the page, not the indexed text
    assert weight.index_text == "Lichtwerk Testlampe: Artikelgewicht: 320 g"
    assert "schwer" in weight.terms.split()  # the customer's word for the attribute


def test_changing_one_bullet_changes_one_chunk_id() -> None:
    before = {c.field: c.chunk_id for c in chunk_page(PAGE)}
    changed = PAGE.model_copy(update={"bullet_points": ["Erster Punkt.", "Neuer Punkt."]})
    after = {c.field: c.chunk_id for c in chunk_page(changed)}
    assert [f for f in before if before[f] != after[f]] == ["bullet_points[1]"]
    assert before == {c.field: c.chunk_id for c in chunk_page(PAGE)}


def test_long_paragraph_is_split_but_keeps_its_field() -> None:
    long = " ".join(f"Satz Nummer {i} beschreibt die Lampe genauer." for i in range(60))
    page = PAGE.model_copy(update={"description": long})
    parts = [c for c in chunk_page(page) if c.field == "description[0]"]
    assert len(parts) > 1 and all(len(c.text) <= 600 for c in parts)
    assert len({c.chunk_id for c in parts}) == len(parts)
