"""Product detail page loaders: the JSONL contract, HTML product pages, SP-API catalog items.

Each loader validates everything before returning anything, and every error names the file,
the line (or element) and the field. HTML pages and SP-API items do not always say who sells
them or where; the caller supplies ``seller_id``/``marketplace`` for what the file lacks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from bs4 import BeautifulSoup, Tag
from pydantic import ValidationError

from base.jsonl import DataFileError, describe_validation_error, read_jsonl
from base.money import MARKETPLACE_LANGUAGE
from knowledge.labels import key_for_label
from knowledge.pages import ProductPage

# SP-API marketplace ids (public, stable) and the storefront hosts of each marketplace.
SPAPI_MARKETPLACE_IDS: dict[str, str] = {
    "A1PA6795UKMFR9": "DE", "A1RKKUPIHCS9HS": "ES", "A13V1IB3VIYZZH": "FR",
    "APJ6JRA9NG5V4": "IT", "A1F83G8C2ARO7P": "UK", "ATVPDKIKX0DER": "US",
    "A1VC38T7YXB528": "JP",
}
_HOST_MARKETPLACE = {
    "de": "DE", "es": "ES", "fr": "FR", "it": "IT", "co.uk": "UK", "com": "US", "co.jp": "JP",
}
_CURRENCY_SIGNS = {"€": "EUR", "£": "GBP", "$": "USD", "¥": "JPY", "￥": "JPY"}
# Table rows that describe the listing rather than the product; they are not attributes.
_NOT_ATTRIBUTES = {"asin", "customer_reviews", "best_sellers_rank", "kundenrezensionen",
                   "amazon_bestseller_rang", "opiniones_de_los_clientes", "date_first_available",
                   "im_angebot_von_amazon_de_seit", "producto_en_amazon_es_desde"}
HTML_SUFFIXES = {".html", ".htm"}
_DETAIL_ROWS = ("table.prodDetTable tr, #productDetails_techSpec_section_1 tr, "
                "#productDetails_detailBullets_sections1 tr, #technicalSpecifications tr")


def load_catalog(
    path: Path, *, seller_id: str | None = None, marketplace: str | None = None
) -> list[ProductPage]:
    """Load one catalog file, choosing the format by its suffix."""
    if path.suffix == ".jsonl":
        return read_jsonl(path, ProductPage)
    if path.suffix in HTML_SUFFIXES:
        return [load_html_page(path, seller_id=seller_id, marketplace=marketplace)]
    if path.suffix == ".json":
        return load_spapi_items(path, seller_id=seller_id, marketplace=marketplace)
    raise DataFileError(path, [f"{path}: unknown catalog format {path.suffix!r} "
                               "(expected .jsonl, .html or SP-API .json)"])


def load_catalogs(
    paths: Iterable[Path], *, seller_id: str | None = None, marketplace: str | None = None
) -> list[ProductPage]:
    """Several files (or folders of them) at once; a page in two files is an error."""
    pages: list[ProductPage] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in _expand(paths):
        for page in load_catalog(path, seller_id=seller_id, marketplace=marketplace):
            if page.key in seen:
                raise DataFileError(path, [f"{path}: page {page.asin}/{page.marketplace} "
                                           f"is already in {seen[page.key]}"])
            seen[page.key] = path
            pages.append(page)
    return pages


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir()
                          if p.suffix in {".jsonl", ".json", *HTML_SUFFIXES})
        else:
            out.append(path)
    return out


def _build(path: Path, where: str, raw: dict[str, Any]) -> ProductPage:
    try:
        return ProductPage.model_validate(raw)
    except ValidationError as exc:
        raise DataFileError(path, describe_validation_error(where, exc)) from exc


# --- HTML product pages ---------------------------------------------------------------------

def _text(node: Tag | None) -> str:
    return " ".join(node.get_text(" ", strip=True).split()) if node else ""


def parse_price(text: str) -> dict[str, Any] | None:
    """'24,99 €' / '£12.99' / '$1,299.00' -> Money fields; None when no price is shown."""
    currency = next((code for sign, code in _CURRENCY_SIGNS.items() if sign in text), None)
    match = re.search(r"\d[\d.,\s]*", text)
    if not currency or not match:
        return None
    digits = match.group().replace(" ", "").strip(".,")
    if re.search(r",\d{2}$", digits):  # decimal comma: 1.299,00
        digits = digits.replace(".", "").replace(",", ".")
    else:
        digits = digits.replace(",", "")
    return {"amount": float(digits), "currency": currency}


def _html_marketplace(soup: BeautifulSoup) -> str | None:
    link = soup.find("link", rel="canonical")
    href = link.get("href") if isinstance(link, Tag) else None
    if isinstance(href, str):
        host = urlparse(href).hostname or ""
        for suffix, code in sorted(_HOST_MARKETPLACE.items(), key=lambda kv: -len(kv[0])):
            if host.endswith("." + suffix):
                return code
    return None


def _html_seller(soup: BeautifulSoup) -> str | None:
    for anchor in soup.select("#merchant-info a[href], #sellerProfileTriggerId[href]"):
        seller = parse_qs(urlparse(str(anchor["href"])).query).get("seller")
        if seller:
            return seller[0]
    node = soup.select_one("[data-seller-id]")
    return str(node["data-seller-id"]) if node else None


def _html_attribute_rows(soup: BeautifulSoup) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for tr in soup.select(_DETAIL_ROWS):
        th, td = tr.find("th"), tr.find("td")
        if isinstance(th, Tag) and isinstance(td, Tag):
            rows.append((_text(th), _text(td)))
    for li in soup.select("#detailBullets_feature_div li"):
        parts = [_text(s) for s in li.select("span > span")]
        if len(parts) >= 2:
            rows.append((parts[0].rstrip(" :\u200f\u200e"), parts[1]))
    return rows


def load_html_page(
    path: Path, *, seller_id: str | None = None, marketplace: str | None = None
) -> ProductPage:
    try:
        soup = BeautifulSoup(path.read_bytes(), "lxml")
    except OSError as exc:
        raise DataFileError(path, [f"{path}: cannot read: {exc.strerror}"]) from exc
    attributes: dict[str, str] = {}
    asin: str | None = None
    brand_row: str | None = None
    for label, value in _html_attribute_rows(soup):
        key = key_for_label(label)
        if key == "asin":
            asin = value
        elif key == "brand":
            brand_row = value
        elif key not in _NOT_ATTRIBUTES and value:
            attributes[key] = value
    asin_input = soup.select_one("input#ASIN[value], [data-asin]")
    if asin_input is not None:
        asin = str(asin_input.get("value") or asin_input.get("data-asin"))
    market = marketplace or _html_marketplace(soup)
    html_tag = soup.find("html")
    lang_attr = html_tag.get("lang") if isinstance(html_tag, Tag) else None
    language = (str(lang_attr)[:2].lower() if lang_attr
                else MARKETPLACE_LANGUAGE.get(market or "", None))
    byline = _text(soup.select_one("#bylineInfo"))
    brand = brand_row or re.sub(r"^(Brand|Marke|Marca|Marque|Visit the|Besuche den)\W*", "",
                                byline).removesuffix(" Store").removesuffix("-Store") or None
    description = "\n\n".join(
        t for t in (_text(p) for p in soup.select("#productDescription p")) if t
    ) or _text(soup.select_one("#productDescription"))
    price_node = soup.select_one(".a-price .a-offscreen, #priceblock_ourprice, [data-price]")
    raw: dict[str, Any] = {
        "asin": asin,
        "marketplace": market,
        "language": language,
        "seller_id": seller_id or _html_seller(soup),
        "title": _text(soup.select_one("#productTitle")) or _text(soup.find("h1")),
        "brand": brand,
        "bullet_points": [t for t in (_text(li) for li in soup.select("#feature-bullets li")) if t],
        "description": description,
        "attributes": attributes,
        "price": parse_price(_text(price_node)) if price_node else None,
        "customizable": soup.select_one("#gestalt-customization, [data-customizable]") is not None,
    }
    return _build(path, f"{path}", raw)


# --- SP-API catalog items (Catalog Items API 2022-04-01) ------------------------------------

def _spapi_values(entries: Any, marketplace_id: str | None) -> list[Any]:
    """One attribute's entries for the wanted marketplace (entries naming none apply to all)."""
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict)
            and (marketplace_id is None or e.get("marketplace_id") in (None, marketplace_id))]


def _spapi_text(entry: dict[str, Any]) -> str:
    value = entry.get("value")
    if isinstance(value, dict | list):
        return ""
    if value is not None:
        unit = entry.get("unit")
        return f"{value} {unit.replace('_', ' ')}" if unit else str(value)
    # Dimensions arrive as {"length": {...}, "width": {...}, "height": {...}}.
    parts = [entry[d] for d in ("length", "width", "height") if isinstance(entry.get(d), dict)]
    if parts:
        unit = parts[0].get("unit", "")
        return " x ".join(str(p.get("value")) for p in parts) + (f" {unit}" if unit else "")
    return ""


_SPAPI_PAGE_FIELDS = {"item_name", "brand", "bullet_point", "product_description", "list_price",
                      "purchasable_offer", "externally_assigned_product_identifier",
                      "supplier_declared_dg_hz_regulation", "item_type_keyword"}


def _spapi_item(
    item: dict[str, Any], *, seller_id: str | None, marketplace: str | None
) -> dict[str, Any]:
    summaries = item.get("summaries") or [{}]
    market_ids = {v: k for k, v in SPAPI_MARKETPLACE_IDS.items()}
    market = marketplace or SPAPI_MARKETPLACE_IDS.get(str(summaries[0].get("marketplaceId")))
    market_id = market_ids.get(market or "")
    summary = next((s for s in summaries if s.get("marketplaceId") == market_id), summaries[0])
    attrs: dict[str, Any] = item.get("attributes") or {}

    def texts(name: str) -> list[str]:
        return [t for t in (_spapi_text(e) for e in _spapi_values(attrs.get(name), market_id)) if t]

    names = _spapi_values(attrs.get("item_name"), market_id)
    language_tag = (names[0].get("language_tag") if names else None) or ""
    price = next(iter(_spapi_values(attrs.get("list_price"), market_id)), None)
    hazard = texts("supplier_declared_dg_hz_regulation")
    attributes = {key: ", ".join(values) for key in sorted(attrs)
                  if key not in _SPAPI_PAGE_FIELDS and (values := texts(key))}
    return {
        "asin": item.get("asin"),
        "marketplace": market,
        "language": language_tag[:2].lower() or MARKETPLACE_LANGUAGE.get(market or "", None),
        "seller_id": seller_id or item.get("seller_id"),
        "title": next(iter(texts("item_name")), None) or summary.get("itemName"),
        "brand": next(iter(texts("brand")), None) or summary.get("brand"),
        "bullet_points": texts("bullet_point"),
        "description": "\n\n".join(texts("product_description")),
        "attributes": attributes,
        "price": ({"amount": price.get("value_with_tax", price.get("value")),
                   "currency": price.get("currency")} if price else None),
        "hazmat": any(h.lower() != "not_applicable" for h in hazard),
    }


def load_spapi_items(
    path: Path, *, seller_id: str | None = None, marketplace: str | None = None
) -> list[ProductPage]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(path, [f"{path}: not a readable JSON file: {exc}"]) from exc
    items = data.get("items", [data]) if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise DataFileError(path, [f"{path}: expected a catalog item or {{'items': [...]}}"])
    pages: list[ProductPage] = []
    problems: list[str] = []
    for number, item in enumerate(items):
        where = f"{path}: items[{number}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected an object")
            continue
        try:
            pages.append(ProductPage.model_validate(
                _spapi_item(item, seller_id=seller_id, marketplace=marketplace)))
        except ValidationError as exc:
            problems += describe_validation_error(where, exc)
    if problems:
        raise DataFileError(path, problems)
    return pages
