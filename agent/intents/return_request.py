"""A return: which item and how many units, the reason stated (or stated before the agent
asked), the returns engine's decision, and the reply that carries it out: a label, an
address, a returnless refund recorded in the ledger, or a case when the seller must act."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import cast

from sqlalchemy.orm import Session

from agent.cases import SellerText
from agent.intents.cancel import cancel_order
from agent.item_names import line_by_place, named_line
from agent.messages import Citation
from agent.quantities import ALL, names_the_others, read_quantity
from agent.records import Order, OrderItem
from agent.refunds import RecordedRefund, message_cause, record_refund, refunded_units
from agent.replies import address, day, item_name, money, render
from agent.returns import RETURN_REASONS, ReturnDecision, ReturnReason, decide_return
from agent.turn import Services, Turn, TurnResult, ask, cite_order
from agent.understanding import extract_asins, extract_return_reason, states_withdrawal
from knowledge.policy import load_policy


def return_request(services: Services, t: Turn, text: str) -> TurnResult:
    assert t.order is not None
    withdrawal = states_withdrawal(text)
    if withdrawal and t.order.status != "delivered":
        # Withdrawing before delivery is cancelling: the order's status answers it (the
        # seller cancels what has not shipped).
        return cancel_order(services, t, text)
    # The model form's formal words lie near no reason's examples, yet nearest to some: a
    # withdrawal states a reason only in words the patterns know.
    reason = stated_reason(services, t, text, by_meaning=not withdrawal)
    item = pick_item(services, t, text)
    if isinstance(item, TurnResult):
        return item
    result = answer_return(services, t, item, reason, text)
    return with_withdrawal(t, result) if withdrawal else result


def with_withdrawal(t: Turn, result: TurnResult) -> TurnResult:
    """A declared withdrawal is told why it is decided as a return: the legal right lies
    inside the returns window (the marketplace's policy says how many days each)."""
    assert t.order is not None
    policy = load_policy(t.order.marketplace)
    right = policy.withdrawal
    if right is None or t.decision is None or not t.decision.eligible:
        return result
    said = render("return_withdrawal", t.language, days=right.days, window=policy.window.days)
    t.citations.append(Citation(kind="policy", source=right.source,
                                rule=f"{t.order.marketplace}.withdrawal.within_returns",
                                text=f"{right.days} / {policy.window.days}"))
    return replace(result, text=f"{result.text} {said}")


def stated_reason(services: Services, t: Turn, text: str, *,
                  by_meaning: bool = True) -> ReturnReason | None:
    """The reason this message states, else the one stated before the agent asked which
    item or how many (the answer continues that request); kept for the next turn. Without
    ``by_meaning`` only the reason patterns read it."""
    reason = extract_return_reason(text, t.language, by_meaning=by_meaning and not t.continued,
                                   embed=services.vectors)
    earlier = t.conv.pending_reason
    if reason is None and t.continued and earlier in RETURN_REASONS:
        reason = cast(ReturnReason, earlier)
    t.conv.pending_reason = reason
    return reason


def pick_item(services: Services, t: Turn, text: str) -> OrderItem | TurnResult:
    """The order line the message is about: the one named by ASIN, the only one, the one
    named by its place ("the second item"), whose product the message names
    (agent/item_names.py), another than the one dealt with
    ("the other item is broken too"), or the one the conversation was about; when none
    stands out, the customer is asked which."""
    order = t.order
    assert order is not None
    named = set(extract_asins(text))
    items = [i for i in order.items if i.asin in named] or order.items
    place = line_by_place(text, len(order.items)) if not named else None
    if place is not None:
        # "Only the second item, I keep the lamp": the place names the line, whatever
        # product the rest of the message mentions.
        return order.items[place]
    if len(items) == 1:
        return items[0]
    in_view = next((i for i in items if i.asin == t.conv.asin), None)
    if in_view is not None and in_view.quantity == 1 and names_the_others(text, t.language):
        # The line in view has one unit, so "the other" is another line: the one in view was
        # dealt with, and deciding it again would answer what was not asked.
        items = [i for i in items if i is not in_view]
        in_view = None
        if len(items) == 1:
            return items[0]
    pages = {i.asin: services.page(order, i.asin) for i in items}
    titled = named_line(text, {asin: page.title for asin, page in pages.items() if page})
    if titled is not None:
        return next(i for i in items if i.asin == titled)
    if in_view is not None:
        return in_view
    names = "; ".join(item_name(pages[i.asin], i.asin) for i in items)
    cite_order(t, "items", ", ".join(i.asin for i in items))
    return ask(t, "ask_item", "item", items=names)


def _units(t: Turn, text: str, item: OrderItem, name: str) -> int | TurnResult:
    """How many units of the line the customer means: the number they name, else asked
    ("One of the two lamps is broken" is one lamp, not the line)."""
    answering = t.continued and t.conv.pending == "quantity"
    named = read_quantity(text, t.language, answer=answering)
    if named == ALL:
        return item.quantity
    if isinstance(named, int) and 1 <= named <= item.quantity:
        return named
    if named is None and names_the_others(text, t.language):
        # "The other lamp is broken too": the units not refunded yet, when some were.
        assert t.order is not None
        refunded = refunded_units(t.session, order_id=t.order.order_id, asin=item.asin,
                                  ordered=item.quantity)
        if 0 < refunded < item.quantity:
            return item.quantity - refunded
    t.conv.asin = item.asin  # the answer is about this line
    cite_order(t, "items.quantity", f"{item.asin}: {item.quantity}")
    # The price of one unit helps the customer say how many (and what comes back for them).
    cite_order(t, "items.unit_price",
               f"{item.asin}: {item.unit_price.amount} {item.unit_price.currency}")
    return ask(t, "ask_quantity", "quantity", item=name, ordered=item.quantity,
               unit_price=money(item.unit_price, t.language))


def answer_return(services: Services, t: Turn, item: OrderItem, reason: ReturnReason | None,
                  text: str) -> TurnResult:
    """The returns engine's decision for the line, told to the customer and carried out."""
    order, seller, lang = t.order, t.seller, t.language
    assert order is not None and seller is not None
    page = services.page(order, item.asin)
    policy = load_policy(order.marketplace)
    name = item_name(page, item.asin)
    decision = decide_return(order=order, asin=item.asin, reason=reason, seller=seller,
                             page=page, policy=policy, today=t.today)
    if decision.eligible and item.quantity > 1:
        # What is refused is refused whatever the number; what is decided is decided
        # for the units the customer names.
        units = _units(t, text, item, name)
        if isinstance(units, TurnResult):
            t.line_decision = decision
            return units
        if units != item.quantity:
            decision = decide_return(order=order, asin=item.asin, reason=reason,
                                     seller=seller, page=page, policy=policy,
                                     today=t.today, quantity=units)
    t.decision = decision
    t.conv.asin = item.asin
    if decision.eligible and item.quantity > 1 and decision.quantity:
        name = f"{decision.quantity} × {name}"
    slots: dict[str, object] = {
        "item": name, "order_id": order.order_id,
        "return_by": day(decision.return_by, lang) if decision.return_by else "-",
        "refund": money(decision.refund, lang) if decision.refund else "-",
        "days": decision.refund_within_business_days or policy.refund_within_business_days,
        "who_pays": render(f"who_pays_{decision.return_shipping_paid_by or 'seller'}", lang),
        "address": address(decision.return_address, lang, order.marketplace),
    }
    t.citations.append(Citation(kind="policy", rule=decision.rule, source=decision.source,
                                text=", ".join(decision.rules)))
    if order.delivery_date:
        cite_order(t, "delivery_date", order.delivery_date)
    if decision.needs_case:
        case_key = {"hazmat_manual_authorisation": "return_hazmat_case",
                    "cross_border_no_method": "return_no_method_case",
                    "non_returnable_seller_fault": "return_category_case",
                    "outside_window_seller_fault": "return_expired_case",
                    }.get(decision.case_reason or "", "return_seller_case")
        question = SellerText("seller_question_return", {
            "title": page.title if page else item.asin, "asin": item.asin,
            "order_id": order.order_id, "reason": decision.reason or "-",
            "rule": decision.rule, "quantity": decision.quantity or item.quantity,
            "ordered": item.quantity})
        needs = SellerText(f"seller_needs_{decision.case_reason}",
                           {"method_due": str(decision.seller_method_due or "-")})
        return services.escalate(t, "return", [item.asin], case_key, question=question,
                                 needs=needs, slots=slots, decision=decision)
    if not decision.eligible:
        rule = decision.rule.split(".", 1)[1]
        key: str | None = {
            "not_delivered": "return_not_delivered", "cancelled": "status_cancelled",
            "window.expired": "return_expired",
            "customized.not_returnable": "return_customized"}.get(rule)
        if key is None and rule.startswith("category."):
            key = f"return_category_{rule.split('.')[1]}"
        return TurnResult(render(key or "return_expired", lang, **slots), "answered")
    if decision.method == "returnless_refund":
        recorded = _issue_refund(t.session, order, item, decision, t.now,
                                 message_cause(t.message_id))
        if not recorded.issued:
            # The line's units were refunded already (an earlier message): no refund is
            # promised, the customer is told what was refunded, and the reply carries no
            # decision that would read as one.
            t.decision = None
            cite_order(t, "refunds.units", f"{item.asin}: {recorded.refunded_units}")
            return TurnResult(render("return_line_refunded", lang,
                                     item=item_name(page, item.asin),
                                     order_id=order.order_id,
                                     refunded=recorded.refunded_units,
                                     ordered=item.quantity), "answered")
        text = render("return_returnless", lang, **slots)
    elif decision.method == "prepaid_label":
        text = render("return_prepaid_label", lang, **slots)
    else:
        text = render("return_to_address", lang, **slots)
    seller_fault = decision.reason in policy.seller_fault_reasons
    # "Send it back unused" makes no sense to someone returning a broken item, nor to
    # someone who keeps it (a returnless refund sends nothing back).
    if decision.condition and not (
            (seller_fault or decision.method == "returnless_refund")
            and decision.condition == "unused_complete"):
        text += " " + render(f"condition_{decision.condition}", lang)
    return TurnResult(text, "answered")


def _issue_refund(session: Session, order: Order, item: OrderItem,
                  decision: ReturnDecision, now: datetime, cause: str) -> RecordedRefund:
    assert decision.refund is not None
    return record_refund(session, order_id=order.order_id, asin=item.asin,
                         seller_id=order.seller_id, amount=decision.refund.amount,
                         currency=decision.refund.currency, kind="returnless_refund",
                         reason=decision.reason, rule=decision.rule, issued_at=now,
                         units=decision.quantity or item.quantity, ordered=item.quantity,
                         cause=cause)
