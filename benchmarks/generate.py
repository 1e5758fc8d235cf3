"""A seeded generator of product pages for benchmarks, at any catalog size.

Every page recombines the demo catalog (``data/demo/catalog.jsonl``): a template page of the
same language gives the structure (which fields, which attribute keys), and its title,
bullets, paragraphs and attribute values are mixed with those of other pages of the same
language and category, under a new brand, a new model number, and new numbers (sizes,
weights, capacities) written as that language writes them. A page has about as many chunks as
a demo page (about 19), so a catalog of N chunks is about N / 19 pages.

Page ``i`` depends only on ``(seed, i)``: the catalog of 1,000 chunks is the start of the
catalog of 100,000, and the same seed always gives the same pages.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from base.jsonl import read_jsonl
from knowledge.chunks import chunk_page
from knowledge.pages import ProductPage

DEMO_CATALOG = Path(__file__).resolve().parent.parent / "data" / "demo" / "catalog.jsonl"
DEFAULT_SEED = 7
# Where pages are sold and in which language, with the share of pages in each.
MARKETPLACES: tuple[tuple[str, str, str, float], ...] = (
    ("DE", "de", "EUR", 0.30), ("ES", "es", "EUR", 0.20),
    ("UK", "en", "GBP", 0.20), ("US", "en", "USD", 0.30),
)
_ASIN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_MEASURE = re.compile(r"(\d+)(?:([.,])(\d+))?")
# Attributes whose numbers move together: a page is bigger or heavier as a whole.
_MEASURES = frozenset({"item_weight", "dimensions", "net_weight", "capacity", "volume",
                       "cable_length", "packed_size", "size"})
_SYLLABLES = ("ka", "lo", "mer", "vi", "tan", "sol", "rix", "no", "bel", "tor", "ama", "zen",
              "pra", "lu", "dor", "qui", "sen", "var", "ox", "fel", "mi", "ro", "sta", "ny")
_LINE_NAMES = ("Aero", "Nova", "Prime", "Flex", "Terra", "Pulse", "Vista", "Orbit", "Lumen",
               "Core", "Nimbus", "Atlas", "Echo", "Sierra", "Vento", "Mare", "Polar", "Zest")


@dataclass(slots=True)
class _Pool:
    """The demo catalog's text of one language, to draw from."""

    pages: list[ProductPage] = field(default_factory=list)
    by_category: dict[str, list[ProductPage]] = field(default_factory=lambda: defaultdict(list))
    bullets: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    paragraphs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    values: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))


@cache
def _pools() -> dict[str, _Pool]:
    pools: dict[str, _Pool] = defaultdict(_Pool)
    for page in read_jsonl(DEMO_CATALOG, ProductPage):
        pool = pools[page.language]
        pool.pages.append(page)
        pool.by_category[page.category].append(page)
        pool.bullets[page.category] += page.bullet_points
        pool.paragraphs[page.category] += page.description_paragraphs()
        for key, value in page.attributes.items():
            pool.values[(page.category, key)].append(value)
    return dict(pools)


@cache
def _brands() -> tuple[str, ...]:
    demo = sorted({p.brand for pool in _pools().values() for p in pool.pages if p.brand})
    rng = random.Random("brands")
    made = {"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
            for _ in range(400)}
    return tuple(demo) + tuple(sorted(made))


def _asin(seed: int, index: int) -> str:
    """A unique, valid ASIN for page ``index`` (ten characters of [A-Z0-9])."""
    value = index * 7919 + seed * 104729 + 1_000_003  # spread neighbours apart
    digits = []
    for _ in range(8):
        value, rest = divmod(value, 36)
        digits.append(_ASIN_ALPHABET[rest])
    # Unique while index < 36**8 / 7919; the benchmarks stay far below.
    return "B9" + "".join(reversed(digits))


def _model_number(rng: random.Random, brand: str) -> str:
    letters = "".join(c for c in brand.upper() if c.isalpha())[:2] or "XX"
    series = "".join(rng.choice("ABCDEFGHKLMNPRSTVWX") for _ in range(rng.randint(0, 2)))
    number = rng.randint(10, 9999)
    suffix = rng.choice(("", "", "", "P", "S", "X", "-B", "-W", "-2"))
    return f"{letters}-{series}{number}{suffix}"


def _renumber(text: str, rng: random.Random, share: float = 0.4) -> str:
    """Change some numbers (sizes, weights, counts), keeping their form ("1,35" -> "2,10")."""

    def new(match: re.Match[str]) -> str:
        old = match.group()
        if rng.random() > share:
            return old
        out = []
        for i, c in enumerate(old):
            if c.isdigit():
                low = 1 if i == 0 and len(old) > 1 and old[1].isdigit() else 0
                out.append(str(rng.randint(low, 9)))
            else:
                out.append(c)
        return "".join(out)

    return _NUMBER.sub(new, text)


def _rename(text: str, old: tuple[str, ...], new: tuple[str, ...]) -> str:
    for before, after in zip(old, new, strict=True):
        if before:
            text = text.replace(before, after)
    return text


def _scale(text: str, rng: random.Random) -> str:
    """Scale every measure in ``text`` by one factor ("1,35 kg" -> "1,62 kg"), keeping its form."""
    factor = rng.uniform(0.55, 1.8)

    def new(match: re.Match[str]) -> str:
        whole, sep, decimals = match.group(1), match.group(2), match.group(3)
        if sep and len(decimals) == 3:  # a thousands separator ("50.000"): leave it
            return match.group()
        if not sep:
            return str(max(1, round(int(whole) * factor)))
        value = float(f"{whole}.{decimals}") * factor
        return f"{value:.{len(decimals)}f}".replace(".", sep)

    return _MEASURE.sub(new, text)


def generate_page(index: int, seed: int = DEFAULT_SEED) -> ProductPage:
    """Page number ``index`` of the catalog of ``seed`` (independent of the catalog's size)."""
    rng = random.Random(f"csba-bench:{seed}:{index}")
    weights = [m[3] for m in MARKETPLACES]
    marketplace, language, currency, _ = rng.choices(MARKETPLACES, weights=weights)[0]
    pool = _pools()[language]
    template = rng.choice(pool.pages)
    category = template.category
    neighbours = pool.by_category[category]
    brand = rng.choice(_brands())
    line = rng.choice(_LINE_NAMES) + rng.choice(("", "", " Plus", " Mini", " Max", " 2"))
    model = _model_number(rng, brand)
    old_model = template.attributes.get("model_number", "")
    old_names = (template.brand or "", old_model)
    new_names = (brand, model)

    def recast(text: str) -> str:
        return _renumber(_rename(text, old_names, new_names), rng)

    # Title: the template's product words under the new brand, line and model.
    title = recast(template.title)
    if brand not in title:
        title = f"{brand} {title}"
    title = title.replace(brand, f"{brand} {line}", 1)
    if model not in title and rng.random() < 0.5:
        title = f"{title}, {model}"

    # Bullets: most from the template, some from other pages of the same category.
    bullets = rng.sample(template.bullet_points,
                         k=max(1, len(template.bullet_points) - rng.randint(0, 2))) \
        if template.bullet_points else []
    for _ in range(rng.randint(0, 2)):
        if pool.bullets[category]:
            bullets.insert(rng.randrange(len(bullets) + 1), rng.choice(pool.bullets[category]))
    bullets = [recast(b) for b in bullets]

    paragraphs = template.description_paragraphs()
    if paragraphs and rng.random() < 0.5:
        paragraphs[rng.randrange(len(paragraphs))] = rng.choice(pool.paragraphs[category])
    description = "\n\n".join(recast(p) for p in paragraphs)

    attributes: dict[str, str] = {}
    for key, value in template.attributes.items():
        if key == "model_number":
            attributes[key] = model
        elif key in _MEASURES:
            attributes[key] = _scale(value, rng)
        else:
            choices = pool.values.get((category, key)) or [value]
            attributes[key] = recast(value if rng.random() < 0.5 else rng.choice(choices))

    other = rng.choice(neighbours)
    return ProductPage.model_validate({
        "asin": _asin(seed, index),
        "marketplace": marketplace,
        "language": language,
        "seller_id": f"A{rng.randint(0, 249):03d}BENCH{seed % 1000:03d}",
        "title": title,
        "brand": brand,
        "category": category,
        "bullet_points": bullets,
        "description": description,
        "attributes": attributes,
        # Amounts are Decimals: the factor is drawn as before, so seeds keep their pages.
        "price": {"amount": round(rng.uniform(0.6, 1.6) * float(other.price.amount), 2),
                  "currency": currency},
        "customizable": template.customizable,
        "hazmat": template.hazmat,
        "return_category": template.return_category,
    })


def generate_pages(count: int, seed: int = DEFAULT_SEED, start: int = 0) -> list[ProductPage]:
    """Pages ``start`` .. ``start + count - 1`` of the catalog of ``seed``."""
    return [generate_page(i, seed) for i in range(start, start + count)]


def iter_pages(seed: int = DEFAULT_SEED, start: int = 0) -> Iterator[ProductPage]:
    index = start
    while True:
        yield generate_page(index, seed)
        index += 1


def catalog(chunks: int, seed: int = DEFAULT_SEED, start: int = 0) -> list[ProductPage]:
    """The first pages (from ``start``) that together have at least ``chunks`` chunks."""
    pages: list[ProductPage] = []
    total = 0
    for page in iter_pages(seed, start):
        if total >= chunks:
            break
        pages.append(page)
        total += len(chunk_page(page))
    return pages


def catalog_batches(chunks: int, seed: int = DEFAULT_SEED, pages_per_batch: int = 2000
                    ) -> Iterator[list[ProductPage]]:
    """``catalog(chunks, seed)`` in lists of at most ``pages_per_batch`` pages, made as they
    are asked for: a catalog of a million chunks (some 52,000 pages) is never held at once."""
    batch: list[ProductPage] = []
    total = 0
    for page in iter_pages(seed):
        if total >= chunks:
            break
        batch.append(page)
        total += len(chunk_page(page))
        if len(batch) == pages_per_batch:
            yield batch
            batch = []
    if batch:
        yield batch
