"""A problem with a delivered item: missing parts or a wish for a replacement is the seller's
to solve (a case carrying the refund the returns policy gives today, paid if the seller does
not act in time); any other problem is a return for a seller-fault reason."""

from __future__ import annotations

import re

from agent.cases import SellerText
from agent.intents.return_request import answer_return, pick_item, stated_reason
from agent.replies import item_name
from agent.returns import decide_return
from agent.turn import Services, Turn, TurnResult
from knowledge.policy import load_policy

_REPLACEMENT = re.compile(r"\b(ersatz|austausch|replace|replacement|exchange|sustituci|cambi|"
                          r"reemplaz|remplacement|échange|sostituzion)", re.IGNORECASE)


def item_problem(services: Services, t: Turn, text: str) -> TurnResult:
    reason = stated_reason(services, t, text)
    item = pick_item(services, t, text)
    if isinstance(item, TurnResult):
        return item
    assert t.order is not None
    page = services.page(t.order, item.asin)
    slots = {"title": page.title if page else item.asin, "asin": item.asin,
             "order_id": t.order.order_id, "reason": reason or "defective"}
    name = item_name(page, item.asin)
    if reason == "missing_parts" or _REPLACEMENT.search(text):
        # What the returns policy gives for this problem today: carried out if the seller
        # sends neither the parts nor a replacement in time.
        seller = t.seller
        assert seller is not None
        promised = decide_return(order=t.order, asin=item.asin,
                                 reason=reason or "defective", seller=seller, page=page,
                                 policy=load_policy(t.order.marketplace), today=t.today)
        category = "missing_parts" if reason == "missing_parts" else "replacement"
        return services.escalate(t, category, [item.asin], f"{category}_case",
                                 question=SellerText(f"seller_question_{category}", slots),
                                 item=name, decision=promised)
    return answer_return(services, t, item, reason or "defective", text)
