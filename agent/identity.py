"""Who the sender has proven to be, and so which orders and products they may speak of.

A contact the channel proved (``InboundMessage.verified_contact``) is the customer of the
orders that name it; anyone else proves an order is theirs by typing back the one-time code
sent to it (``agent.verification``). Until then nothing of an order is read for them: not its
details, and not which products it holds (a message's closeness to a product would tell). An
order that does not exist and someone else's are answered alike.
"""

from __future__ import annotations

import logging
import re

from agent.db import Store
from agent.messages import InboundMessage
from agent.models import ConversationRow
from agent.records import Order, Seller
from agent.turn import Turn, TurnResult, ask
from agent.understanding import fold
from agent.verification import check_code, extract_code, is_customer, live_code, request_code

log = logging.getLogger(__name__)

# A product is named by the first words of its title (``agent.replies.item_name``'s six).
NAME_WORDS = 6
# A word this long may name a product as the end of a compound word of its name ("Lampe",
# "Schreibtischlampe"); a shorter one only as a whole word.
MIN_COMPOUND_HEAD = 5


def order_in_view(store: Store, msg: InboundMessage, conv: ConversationRow,
                  order_ids: list[str]) -> bool:
    """Whether the conversation has an order to read a product question against: one
    named, remembered, given by the channel, or the proven contact's. Then a question
    about a product read as pre-order, not understood or asking for a person is about
    a product the customer has ("Gibt es eine App für den Saugroboter?"); a product
    named by ASIN outside the order is redirected by the product question itself."""
    if order_ids or conv.order_id or msg.order_id:
        return True
    return bool(msg.verified_contact and store.orders_for_contact(msg.verified_contact))


def proven_products(store: Store, msg: InboundMessage, conv: ConversationRow,
                    order_ids: list[str]) -> list[str]:
    """The ASINs of the orders in view that the requester has proven are theirs: a
    message's closeness to a product must not tell a stranger what an order holds."""
    named = order_ids[:1] or [i for i in (conv.order_id, msg.order_id) if i][:1]
    if named:
        order = store.order(named[0])
        orders = [order] if order is not None and (
            conv.verified_order_id == order.order_id
            or is_customer(order, msg.verified_contact)) else []
    else:
        orders = (store.orders_for_contact(msg.verified_contact)
                  if msg.verified_contact else [])
    return list(dict.fromkeys(item.asin for order in orders for item in order.items))


def _name_words(title: str) -> list[str]:
    """The words a product is called by: its title's head, before the first comma and within
    the six words a reply names it by ("HappyBricks Klemmbausteine Feuerwache 3-in-1", not
    the "612 Teile" after it, which a message about missing parts would match)."""
    head = " ".join(title.split(",", 1)[0].split()[:NAME_WORDS])
    return re.findall(r"[^\W\d_]{3,}", fold(head))


def _names(words: set[str], title: str) -> bool:
    """Whether a message's words name a product: a word of its name, or the end of a
    compound one ("Lampe" in "Schreibtischlampe")."""
    return any(w == n or len(w) >= MIN_COMPOUND_HEAD and n.endswith(w)
               for n in _name_words(title) for w in words)


def orders_naming(store: Store, orders: list[Order], text: str) -> list[Order]:
    """Those of a proven contact's orders holding a product the message names by its
    name's words; all of them when it names none (the customer is then asked which)."""
    words = set(re.findall(r"[^\W\d_]{4,}", fold(text)))
    named = []
    for order in orders:
        pages = (store.page(item.asin, order.marketplace) for item in order.items)
        if any(page is not None and _names(words, page.title) for page in pages):
            named.append(order)
    return named or orders


def proven_order(store: Store, t: Turn, order_ids: list[str]
                 ) -> tuple[Order, Seller | None] | TurnResult:
    """The order this turn is about, once the requester proved it is theirs: their
    channel proved the order's contact, or they typed back the code sent to it here.
    Otherwise what to ask for: the order's number, or the code (sent now, or again)."""
    conv, msg = t.conv, t.msg
    if order_ids and order_ids[0] != conv.order_id:
        conv.order_id = order_ids[0]
    elif not conv.order_id and msg.order_id:
        conv.order_id = msg.order_id
    if not conv.order_id:
        # Only a proven contact's own orders: a typed address proves nothing.
        known = store.orders_for_contact(msg.verified_contact) if msg.verified_contact else []
        if len(known) > 1:
            # "Die Bettwäsche kam kaputt an": the one of their orders holding that product.
            known = orders_naming(store, known, msg.text)
        if len(known) != 1:
            return ask(t, "ask_order_id", "order_id")
        conv.order_id = known[0].order_id
    order_id = conv.order_id
    order = store.order(order_id)
    if order is not None and (conv.verified_order_id == order_id
                              or is_customer(order, msg.verified_contact)):
        conv.marketplace = order.marketplace
        return order, store.seller(order.seller_id)
    # From here on, an order that does not exist and someone else's are answered alike.
    typed = extract_code(msg.text) if conv.pending == "code" and not order_ids else None
    if typed is None:
        if conv.pending == "code" and not order_ids and live_code(t.session, conv, order_id):
            return ask(t, "code_ask", "code", order_id=order_id)
        if not request_code(t.session, conv=conv, order_id=order_id, order=order,
                            language=t.language, now=t.now, deliver=msg.reaches_sender):
            return ask(t, "code_limit", "code", order_id=order_id)
        log.info("one-time code requested in conversation %s", conv.id)
        return ask(t, "code_sent", "code", order_id=order_id)
    checked, left = check_code(t.session, conv=conv, order_id=order_id, typed=typed, now=t.now)
    if checked != "confirmed" or order is None:
        key = {"wrong": "code_wrong", "expired": "code_expired",
               "exhausted": "code_exhausted"}.get(checked, "code_expired")
        return ask(t, key, "code", order_id=order_id, tries=left)
    log.info("one-time code confirmed in conversation %s", conv.id)
    conv.verified_order_id = order_id
    conv.marketplace = order.marketplace
    return order, store.seller(order.seller_id)
