"""What the cross-encoder reads of a question and a page field: light, no torch."""

from __future__ import annotations

from knowledge.labels import label_for


def field_text(field: str, text: str, language: str) -> str:
    """A page field as the model reads it: an attribute with its label ("Gewicht: 1,2 kg"),
    as the index embeds it (``knowledge/chunks.py``); any other field as written."""
    if field.startswith("attributes."):
        return f"{label_for(field.removeprefix('attributes.'), language)}: {text}"
    return text


# A customer's question and a page field are short (99 % of fields under 240 characters); the
# cap keeps a pasted letter or a whole description from costing a long read, and is the same
# for training, torch and the engine, so all three read the same text.
QUESTION_CHARACTERS, FIELD_CHARACTERS = 400, 600


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut


def clipped(question: str, field: str) -> tuple[str, str]:
    """The question and the field as the cross-encoder reads them: each cut at a word to its
    cap, and with no ``</s>`` of their own (the separator between the two)."""
    return (_clip(question.replace("</s>", " "), QUESTION_CHARACTERS),
            _clip(field.replace("</s>", " "), FIELD_CHARACTERS))
