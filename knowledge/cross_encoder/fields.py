"""What the cross-encoder reads of a page field: light, so a caller need not load torch."""

from __future__ import annotations

from knowledge.labels import label_for


def field_text(field: str, text: str, language: str) -> str:
    """A page field as the model reads it: an attribute with its label ("Gewicht: 1,2 kg"),
    as the index embeds it (``knowledge/chunks.py``); any other field as written."""
    if field.startswith("attributes."):
        return f"{label_for(field.removeprefix('attributes.'), language)}: {text}"
    return text
