"""Citations as a customer reads them: a label in the page's language and a readable page.

The Reply keeps its citations as the agent made them (``kind``, ``field``, ``rule`` ...); the
chat adds two fields to each: ``label`` ("Produktseite: Technische Daten · Gewicht",
"Returns policy") and, where there is something to read, ``href``: a small HTML page with
the product's title and the cited field's text, or the policy rule in plain words.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from agent.messages import Citation, Reply
from channels.chat_strings import say, strings_for
from knowledge.labels import label_for
from knowledge.policy import load_policy

PRODUCT_VIEW = "/cited/product/{asin}"
POLICY_VIEW = "/cited/policy/{rule}"
RULE_PATTERN = r"^[A-Za-z0-9_.-]{1,120}$"
QUOTE_CHARS = 48  # how much of a bullet point its label shows

_INDEXED = re.compile(r"^(?P<name>[a-z_]+)\[(?P<index>\d+)\]$")
_WINDOW = re.compile(r"\.window\.(?P<days>\d+)d$")
_OVERDUE = re.compile(r"^status\.investigate_after_(?P<days>\d+)_days$")


def _start_of(text: str) -> str:
    """The first words of a text, cut at a word and marked when cut."""
    text = " ".join(text.split())
    if len(text) <= QUOTE_CHARS:
        return text
    cut = text[:QUOTE_CHARS].rsplit(" ", 1)[0].rstrip(",;:.-–")
    return cut + "…"


def field_label(field: str, language: str, text: str = "") -> str:
    """A product page's field as its reader calls it: "Technische Daten · Gewicht"."""
    if field.startswith("attributes."):
        return (f"{say(language, 'cite_technical')} · "
                f"{label_for(field.removeprefix('attributes.'), language)}")
    if field in {"title", "brand"}:
        return say(language, f"cite_{field}")
    indexed = _INDEXED.match(field)
    if indexed:
        number = str(int(indexed["index"]) + 1)
        if indexed["name"] == "bullet_points":
            return say(language, "cite_quote", text=_start_of(text)) if text.strip() \
                else say(language, "cite_bullet", n=number)
        if indexed["name"] == "description":
            return say(language, "cite_description", n=number)
    return field.replace("_", " ")


def rule_family(rule: str) -> tuple[str, str, dict[str, str]]:
    """A policy rule id as (label key, description key, values to fill in)."""
    if rule.startswith("scope."):
        return "policy_scope", "rule_scope", {}
    overdue = _OVERDUE.match(rule)
    if overdue:
        return "policy_delivery", "rule_overdue", {"days": overdue["days"]}
    window = _WINDOW.search(rule)
    if window:
        return "policy_returns", "rule_window", {"days": window["days"]}
    if rule.endswith(".refund.timing"):
        try:
            days = load_policy(rule.split(".", 1)[0]).refund_within_business_days
        except ValueError:  # not a marketplace of ours
            return "policy_refunds", "rule_generic", {}
        return "policy_refunds", "rule_refund", {"days": str(days)}
    parts = rule.split(".")
    families = {
        "window": "rule_window_expired", "holiday": "rule_holiday",
        "customized": "rule_customized", "cross_border": "rule_cross_border",
        "hazmat": "rule_hazmat", "cancelled": "rule_not_delivered",
        "not_delivered": "rule_not_delivered",
    }
    family = parts[1] if len(parts) > 1 else ""
    if family == "category":
        return "policy_returns", "rule_unopened" if parts[-1] == "unopened" \
            else "rule_category", {}
    if family == "domestic":
        return "policy_returns", "rule_buyer_pays" if parts[-1] == "buyer_pays" \
            else "rule_seller_pays", {}
    if family == "seller" and "returnless" in rule:
        return "policy_returns", "rule_returnless", {}
    if family in families:
        return "policy_returns", families[family], {}
    if "refund" in rule:
        return "policy_refunds", "rule_refund_issued", {}
    return "policy_returns", "rule_generic", {}


def rule_description(rule: str, language: str) -> tuple[str, str]:
    """A policy rule's (label, plain description) in ``language``."""
    label, description, values = rule_family(rule)
    return say(language, label), say(language, description, **values)


def label(citation: Citation, language: str) -> str:
    if citation.kind == "policy":
        return say(language, rule_family(citation.rule or "")[0])
    if citation.kind == "order":
        field = (citation.field or "").split(".")[0]
        known = f"order_{field}"
        where = say(language, known) if field and known in strings_for(language) else ""
        return f"{say(language, 'cite_order')}: {where}" if where else say(language, "cite_order")
    if citation.kind == "seller_answer":
        return say(language, "cite_seller_answer")
    field = citation.field or ""
    return f"{say(language, 'cite_product_page')}: {field_label(field, language, citation.text)}"


def href(citation: Citation, language: str) -> str | None:
    """Where the customer reads what is cited; orders are theirs alone and link nowhere."""
    if citation.kind in {"product_page", "seller_answer"} and citation.asin and citation.field:
        return (PRODUCT_VIEW.format(asin=quote(citation.asin, safe="")) + "?"
                + urlencode({"field": citation.field, "lang": language}))
    if citation.kind == "policy" and citation.rule and re.match(RULE_PATTERN, citation.rule):
        return POLICY_VIEW.format(rule=quote(citation.rule, safe="")) + "?" \
            + urlencode({"lang": language})
    return None


def presented(reply: Reply, language: str) -> Reply:
    """The reply with each citation's ``label`` and ``href`` added, nothing else changed."""
    citations = [c.model_copy(update={"label": label(c, language), "href": href(c, language)})
                 for c in reply.citations]
    return reply.model_copy(update={"citations": citations})
