"""Attribute labels and the words customers use for them, per language (data, not code).

``item_weight`` becomes "Artikelgewicht" on a German page, and a German question saying
"schwer" or "wiegt" should find it: the lexical leg indexes these terms beside the value.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from importlib import resources
from typing import TypedDict


class LabelEntry(TypedDict):
    label: str
    terms: list[str]


Glossary = dict[str, dict[str, LabelEntry]]


@cache
def glossary() -> Glossary:
    text = resources.files("knowledge").joinpath("data/attribute_labels.json").read_text("utf-8")
    data: Glossary = json.loads(text)
    return data


def _humanize(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def label_for(key: str, language: str) -> str:
    entry = glossary().get(key, {})
    found = entry.get(language) or entry.get("en")
    return found["label"] if found else _humanize(key)


def terms_for(key: str, language: str) -> list[str]:
    entry = glossary().get(key, {}).get(language)
    return list(entry["terms"]) if entry else []


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_") or "attribute"


@cache
def _label_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for key, per_language in glossary().items():
        index[slug(key)] = key
        for entry in per_language.values():
            index.setdefault(slug(entry["label"]), key)
    return index


def key_for_label(label: str) -> str:
    """A page's table label ("Artikelgewicht", "Item Weight") -> the contract key, else a slug."""
    return _label_index().get(slug(label), slug(label))
