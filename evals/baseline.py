"""The plain-retrieval baseline: the top dense chunk of the marketplace's product pages.

No scope check, no identity check, no policy, no cases: what a bare retrieval bot would say.
Scored on the same dataset as the agent, it shows what the agent adds. It must not borrow any
of the agent's decisions, or the comparison says nothing.
"""

from __future__ import annotations

from agent.messages import Citation, InboundMessage, Reply
from agent.records import Order
from agent.understanding import extract_order_ids
from base.money import MARKETPLACE_LANGUAGE
from knowledge.index import KnowledgeIndex

NOTHING_FOUND = "No product information found."


class PlainRetrieval:
    """Answers every message with the best dense match among the order's marketplace pages."""

    def __init__(self, index: KnowledgeIndex, orders: dict[str, Order]) -> None:
        self.index = index
        self.orders = orders

    def _marketplace(self, msg: InboundMessage) -> str | None:
        for order_id in [*extract_order_ids(msg.text), msg.order_id]:
            if order_id and order_id in self.orders:
                return self.orders[order_id].marketplace
        return msg.marketplace

    def handle(self, msg: InboundMessage) -> Reply:
        marketplace = self._marketplace(msg)
        hits = self.index.plain_search(msg.text, k=1, marketplace=marketplace)
        conversation = f"baseline:{msg.channel}:{msg.thread_key}"
        if not hits:
            return Reply(conversation_id=conversation, text=NOTHING_FOUND,
                         language=MARKETPLACE_LANGUAGE.get(marketplace or "", "en"),
                         outcome="answered", intent="product_question")
        hit = hits[0]
        return Reply(conversation_id=conversation, text=hit.text, language=hit.language,
                     outcome="answered", intent="product_question",
                     citations=[Citation(kind="product_page", asin=hit.asin,
                                         field=hit.field, text=hit.text)])
