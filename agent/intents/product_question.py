"""A question about an ordered product: answered from its page (and its seller's published
answers) when a field answers it, else a case asking the seller, with the question's content
words only."""

from __future__ import annotations

import re

from agent.case_summary import product_question_summary, short_title, topic_words
from agent.cases import SellerText
from agent.contact_filter import contact_filter
from agent.messages import Citation
from agent.named_item import named_item
from agent.product_answers import ProductAnswer, answer_product_question
from agent.replies import item_name, render
from agent.turn import Services, Turn, TurnResult
from agent.understanding import extract_asins, meaning_text


def product_question(services: Services, t: Turn, text: str) -> TurnResult:
    order, lang = t.order, t.language
    assert order is not None
    named = extract_asins(text)
    if named and not set(named) & {i.asin for i in order.items}:
        # A question about a product the customer has not ordered is a pre-order one.
        return TurnResult(render("redirect_pre_order", lang), "redirected", "seller_messaging")
    asins = [a for a in named if a in {i.asin for i in order.items}] or \
        [i.asin for i in order.items]
    pages = {a: services.page(order, a) for a in asins}
    names = " ".join(p.title for p in pages.values() if p)
    question = meaning_text(text)
    found: ProductAnswer = answer_product_question(
        services.index, question, language=lang, marketplace=order.marketplace, asins=asins,
        product_names=names, dense_languages=services.dense_languages,
        decision=services.decision)
    if found.answered:
        first = found.facts[0][0]
        t.conv.asin = first.asin
        # Page and seller text reaches the customer here: with no link, address or
        # number but the marketplace's own and the seller's registered ones.
        shown = contact_filter(order.marketplace, t.seller or services.store.seller(
            order.seller_id))
        for hit, _ in found.facts:
            t.citations.append(Citation(
                kind="seller_answer" if hit.field.startswith("seller_answers")
                else "product_page", asin=hit.asin, field=hit.field,
                text=shown.clean(hit.text, lang)))
        quotes = [shown.clean(q, lang) for _, q in found.facts]
        item = item_name(pages.get(first.asin), first.asin)
        if any(hit.language != lang for hit, _ in found.facts):
            # The page is quoted as it is written, never translated: the customer's
            # language frames it and the quote marks show where the page's words are.
            quoted = " ".join(f"«{q}»" for q in quotes)
            return TurnResult(render("product_answer_quoted", lang, item=item,
                                     facts=quoted), "answered")
        facts = " ".join(q if q.endswith((".", "!", "?", "…")) else q + "."
                         for q in quotes)
        return TurnResult(render("product_answer", lang, item=item, facts=facts),
                          "answered")
    # Filed under the item the question names (by title words, else the closest page),
    # not the order's first.
    asin = named_item(question, lang, {a: p.title for a, p in pages.items() if p}) \
        or (found.closest_asin if found.closest_asin in asins else None) or asins[0]
    page = pages.get(asin)
    # The seller reads a sentence of what was understood, never the message or who asked.
    keywords = topic_words(found.keywords, language=lang,
                           private=re.findall(r"\w+", order.customer.name or ""),
                           title=short_title(page, asin))
    summary = product_question_summary(page=page, asin=asin, topic=found.topic,
                                       keywords=keywords)
    return services.escalate(t, "product_question", [asin], "product_unknown_case",
                             question=summary, needs=SellerText("seller_needs_product"),
                             topic=found.topic, item=item_name(page, asin))
