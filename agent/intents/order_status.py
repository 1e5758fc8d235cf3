"""Where an order is: from the order record, cited field by field; an order not delivered
some days after its estimate is a case for the seller to investigate (the case rules say how
many days)."""

from __future__ import annotations

from agent.messages import Citation
from agent.replies import day, render
from agent.turn import Services, Turn, TurnResult, cite_order
from knowledge.case_rules import load_case_rules


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
        return TurnResult(render("status_delivered", lang, delivery_date=day(delivered, lang),
                                 **slots), "answered")
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
        return services.escalate(t, "shipment", [i.asin for i in order.items],
                                 "status_overdue_case", slots=slots)
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
