"""Where an order is: from the order record, cited field by field. An order not delivered
some days after its estimate (the case rules say how many), or one shown as delivered that the
customer did not receive, is a shipment case for the seller to investigate: one case per
order, told with an apology and the refund the customer gets if the seller does not account
for the parcel in time."""

from __future__ import annotations

from decimal import Decimal

from agent.cases import open_case_of
from agent.expiry import line_refunds, undelivered_refunds
from agent.messages import Citation
from agent.replies import day, money, render
from agent.turn import Services, Turn, TurnResult, cite_order
from agent.understanding import states_not_received
from base.clock import as_utc
from base.money import Money
from knowledge.case_rules import load_case_rules
from knowledge.policy import load_policy

SHIPMENT = "shipment"
NOT_RECEIVED = "not_received"  # the case reason of a parcel shown delivered, not received


def reports_missing_parcel(t: Turn, text: str) -> bool:
    """Whether, for this order, the message is a report of a parcel that did not come: the
    order is shipped and past the day the seller must investigate, or shown delivered and the
    message says nothing arrived. "I want my money back" about such an order asks for the
    refund a shipment case gives, not for the state of a refund that was never started."""
    order = t.order
    assert order is not None
    if order.status == "delivered":
        return states_not_received(text)
    if order.status != "shipped" or order.estimated_delivery_date is None:
        return False
    overdue = load_case_rules().shipment_overdue
    return t.today >= order.estimated_delivery_date + overdue.after


def order_status(services: Services, t: Turn, text: str) -> TurnResult:
    order, lang = t.order, t.language
    assert order is not None
    slots: dict[str, object] = {"order_id": order.order_id}
    cite_order(t, "status", order.status)
    if order.status == "cancelled":
        return TurnResult(render("status_cancelled", lang, **slots), "answered")
    if order.status == "delivered":
        delivered = order.delivery_date or order.estimated_delivery_date
        assert delivered is not None
        cite_order(t, "delivery_date", delivered)
        slots["delivery_date"] = day(delivered, lang)
        # Once reported, the parcel's whereabouts are the open case's: "where is it?" is
        # told that case, not "delivered" again.
        if states_not_received(text) or open_case_of(
                t.session, conversation_id=t.conv.id, order_id=order.order_id,
                category=SHIPMENT) is not None:
            return _shipment_case(services, t, slots, not_received=True)
        return TurnResult(render("status_delivered", lang, **slots), "answered")
    estimated = order.estimated_delivery_date
    if estimated:
        cite_order(t, "estimated_delivery_date", estimated)
        slots["estimated"] = day(estimated, lang)
    if order.status == "pending":
        key = "status_pending" if estimated else "status_pending_no_date"
        return TurnResult(render(key, lang, **slots), "answered")
    tracking = order.tracking
    slots |= {"carrier": tracking.carrier if tracking else "-",
              "tracking": tracking.id if tracking else "-",
              "ship_date": day(order.ship_date, lang) if order.ship_date else "-"}
    if tracking:
        cite_order(t, "tracking.carrier", tracking.carrier)
        cite_order(t, "tracking.id", tracking.id)
    if order.ship_date:
        cite_order(t, "ship_date", order.ship_date)
    overdue = load_case_rules().shipment_overdue
    # Not delivered N days after the estimate: on that day the seller investigates.
    investigate_from = estimated + overdue.after if estimated else None
    if investigate_from and t.today >= investigate_from:
        return _shipment_case(services, t, slots, not_received=False)
    if estimated and investigate_from and t.today > estimated:
        slots["investigate_from"] = day(investigate_from, lang)
        t.citations.append(Citation(
            kind="policy", source=overdue.source,
            rule=f"status.investigate_after_{overdue.days_after_estimate}_days",
            text=investigate_from.isoformat()))
        return TurnResult(render("status_shipped_late", lang, **slots), "answered")
    if not estimated:
        slots["estimated"] = "-"
    return TurnResult(render("status_shipped", lang, **slots), "answered")


def _shipment_case(services: Services, t: Turn, slots: dict[str, object], *,
                   not_received: bool) -> TurnResult:
    """The order's one shipment case (opened now, or the one already open: told so, not
    opened twice) and the refund its expiry rule gives if the seller does not account for
    the parcel by the case's deadline, both cited."""
    order, lang = t.order, t.language
    assert order is not None
    open_before = open_case_of(t.session, conversation_id=t.conv.id, order_id=order.order_id,
                               category=SHIPMENT)
    reason = NOT_RECEIVED if not_received else None
    rule = load_case_rules().for_case(SHIPMENT, reason)
    decimals = load_policy(order.marketplace).money_decimals
    lines = (line_refunds(order, decimals) if rule.on_expiry == "refund_lines_not_received"
             else undelivered_refunds(order, decimals))
    slots["refund"] = money(Money(amount=sum((m.amount for _, m in lines), Decimal(0)),
                                  currency=order.items[0].unit_price.currency), lang)
    t.citations.append(Citation(kind="policy", rule=rule.id, source=rule.source,
                                text=str(slots["refund"])))
    asins = [i.asin for i in order.items]
    if open_before is not None:
        t.case = open_before
        cite_order(t, "items", ", ".join(asins))
        return TurnResult(render("status_case_open", lang, case_id=open_before.id,
                                 due=day(as_utc(open_before.due_at).date(), lang), **slots),
                          "escalated")
    if not_received:
        return services.escalate(t, SHIPMENT, asins, "status_not_received_case",
                                 question=render("seller_question_not_received", "en",
                                                 **_seller_slots(t)),
                                 needs=render("seller_needs_not_received", "en"),
                                 case_reason=NOT_RECEIVED, slots=slots)
    # The tracking number lets the customer follow the parcel while the seller investigates.
    key = "status_overdue_case_tracked" if order.tracking else "status_overdue_case"
    return services.escalate(t, SHIPMENT, asins, key, slots=slots)


def _seller_slots(t: Turn) -> dict[str, str]:
    assert t.order is not None
    tracking = t.order.tracking
    return {"order_id": t.order.order_id,
            "delivered": str(t.order.delivery_date or t.order.estimated_delivery_date or "-"),
            "carrier": tracking.carrier if tracking else "-",
            "tracking": tracking.id if tracking else "-"}
