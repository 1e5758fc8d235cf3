"""Splitting a product page into citable chunks with stable ids.

One chunk per field (title, brand, each bullet, each description paragraph, each attribute);
a long paragraph is split further but keeps its field name. A chunk's id hashes what is
embedded, so an unchanged page re-embeds nothing and a changed bullet re-embeds one chunk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from knowledge.labels import label_for, terms_for
from knowledge.pages import ProductPage
from knowledge.text import tokens

# Sized for all-MiniLM-L6-v2, which truncates at 256 word pieces (about 1000 characters).
MAX_CHUNK_CHARS = 600
_splitter = RecursiveCharacterTextSplitter(chunk_size=MAX_CHUNK_CHARS, chunk_overlap=60)
_TITLE_CONTEXT_WORDS = 8


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a piece of page text comes from: what a citation names. Indexed chunks and
    retrieved evidence both carry it."""

    chunk_id: str
    asin: str
    marketplace: str
    language: str
    seller_id: str
    field: str
    text: str  # exactly what the page says: the text a citation quotes


@dataclass(frozen=True, slots=True)
class Chunk(Provenance):
    index_text: str  # what is embedded: the text with the product and field named
    terms: str  # lexical-leg tokens of the field, space separated
    context_terms: str  # lexical-leg tokens of the product (title, brand), weighted lower

    def metadata(self) -> dict[str, str]:
        return {"asin": self.asin, "marketplace": self.marketplace, "language": self.language,
                "seller_id": self.seller_id, "field": self.field, "text": self.text}


def _short_title(title: str) -> str:
    return " ".join(title.split()[:_TITLE_CONTEXT_WORDS])


def chunk_id(asin: str, marketplace: str, field: str, index_text: str, terms: str) -> str:
    key = "\x1f".join((asin, marketplace, field, index_text, terms))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def chunk_page(page: ProductPage) -> list[Chunk]:
    context = _short_title(page.title)
    context_terms = " ".join(tokens(f"{page.title} {page.brand or ''}", page.language))
    chunks: list[Chunk] = []
    for field, text in page.fields():
        extra_terms: list[str] = []
        if field.startswith("attributes."):
            key = field.removeprefix("attributes.")
            label = label_for(key, page.language)
            pieces = [f"{label}: {text}"]
            # Customers ask "wie schwer", not "Artikelgewicht": their words find the value.
            extra_terms = terms_for(key, page.language) + [key.replace("_", " ")]
        elif field.startswith("description["):
            pieces = _splitter.split_text(text)
        else:
            pieces = [text]
        for piece in pieces:
            index_text = piece if field == "title" else f"{context}: {piece}"
            terms = " ".join(tokens(" ".join([piece, *extra_terms]), page.language))
            chunks.append(Chunk(
                chunk_id=chunk_id(page.asin, page.marketplace, field, index_text, terms),
                asin=page.asin, marketplace=page.marketplace, language=page.language,
                seller_id=page.seller_id, field=field,
                text=text if len(pieces) == 1 else piece,
                index_text=index_text, terms=terms, context_terms=context_terms,
            ))
    return chunks
