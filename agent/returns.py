"""The returns engine: decides one return by the marketplace's standard policy, cross-border too.

`decide_return` is a pure function of its arguments: it reads no clock, database or network
(today is an argument) and holds no policy number; every number comes from the policy data.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from agent.records import Address, Order, OrderItem, Seller
from base.money import Money, round_money
from knowledge.pages import ProductPage
from knowledge.policy import MarketplacePolicy

ReturnReason = Literal[
    # buyer pays return shipping (EU table)
    "ordered_by_mistake", "better_price", "no_longer_needed", "quality_not_adequate",
    "incompatible", "part_not_compatible", "excessive_installation",
    # seller pays
    "damaged", "damaged_in_delivery", "missed_delivery_date", "missing_parts", "wrong_item",
    "defective", "arrived_in_addition", "unauthorised_purchase", "inaccurate_description",
    "inadequate_packaging",
]
RETURN_REASONS: frozenset[str] = frozenset(get_args(ReturnReason))

# What a customer who gives no reason most likely means; the decision says it was assumed.
DEFAULT_REASON: ReturnReason = "no_longer_needed"

ReturnMethod = Literal[
    "prepaid_label", "local_return_address", "seller_return_address", "returnless_refund",
]
Payer = Literal["buyer", "seller"]
Fault = Literal["buyer", "seller"]


class ReturnDecision(BaseModel):
    """The contract `return_decision` (design.md section 4) plus optional extension fields."""

    # The contract fields.
    eligible: bool
    rule: str
    return_by: date | None = None
    method: ReturnMethod | None = None
    return_shipping_paid_by: Payer | None = None
    refund: Money | None = None
    cross_border: bool = False
    # Extensions: defaults keep a contract-only JSON valid.
    rules: list[str] = Field(default_factory=list)
    reason: ReturnReason | None = None
    reason_assumed: bool = False
    needs_case: bool = False
    case_reason: str | None = None
    seller_method_due: date | None = None
    # The units of the order line decided (the customer's number; the whole line if unsaid).
    quantity: int | None = None
    condition: str | None = None
    return_address: dict[str, Any] | str | None = None
    refund_within_business_days: int | None = None
    source: str | None = None


def _country(code: str) -> str:
    # The marketplace is called "UK" while ISO says "GB"; sellers write either.
    return "UK" if code.upper() == "GB" else code.upper()


def _address_in(seller: Seller, policy: MarketplacePolicy) -> Address | str | None:
    for key in dict.fromkeys((policy.marketplace, policy.country, _country(policy.country))):
        found = seller.return_address(key)
        if found is not None:
            return found
    return None


def _address_json(address: Address | str | None) -> dict[str, Any] | str | None:
    return address.model_dump(mode="json") if isinstance(address, Address) else address


def shipping_share(order: Order, item: OrderItem, quantity: int | None = None) -> Decimal:
    """The part of the shipping the customer paid that falls on ``quantity`` units of the line
    (all of them by default), by their share of the items' value."""
    if order.shipping_paid is None or order.shipping_paid.amount == 0:
        return Decimal(0)
    if order.shipping_paid.currency != item.unit_price.currency:
        raise ValueError(f"order {order.order_id}: shipping and item prices differ in currency")
    total = sum((i.unit_price.amount * i.quantity for i in order.items), Decimal(0))
    if total == 0:
        return Decimal(0)
    units = item.quantity if quantity is None else quantity
    return order.shipping_paid.amount * (item.unit_price.amount * units) / total


def _refund(order: Order, item: OrderItem, policy: MarketplacePolicy, *,
            with_shipping: bool, quantity: int) -> Money:
    # Only the units the customer returns: one broken lamp of two refunds one lamp.
    amount = item.unit_price.amount * quantity
    if with_shipping:
        amount += shipping_share(order, item, quantity)
    return Money(amount=round_money(amount, policy.money_decimals),
                 currency=item.unit_price.currency)


def _covers(limit: Money | None, amount: Money) -> bool:
    """A seller's or policy's money limit covers an amount (same currency, limit above zero)."""
    return (limit is not None and limit.amount > 0 and limit.currency == amount.currency
            and amount.amount <= limit.amount)


def _fault(reason: str, policy: MarketplacePolicy) -> Fault:
    # Read from the policy data, so a change of the reason table is a data change.
    if reason in policy.seller_fault_reasons:
        return "seller"
    if reason in policy.buyer_fault_reasons:
        return "buyer"
    raise ValueError(f"the {policy.marketplace} policy assigns no fault to reason {reason!r}")


def _window_end(order: Order, policy: MarketplacePolicy) -> tuple[date | None, str]:
    """(last day to return, rule id); None when the window's start is unknown."""
    mp = policy.marketplace
    start = order.delivery_date
    if start is None and policy.window.fallback_from == "estimated_delivery":
        start = order.estimated_delivery_date
    if start is None:
        return None, f"{mp}.window.delivery_unknown"
    end = start + timedelta(days=policy.window.days)
    rule = f"{mp}.window.{policy.window.days}d"
    for extension in policy.holiday_extensions:
        if extension.covers(order.purchase_date):
            candidates = [end, extension.return_until]
            if extension.or_days_after_delivery is not None:
                candidates.append(start + timedelta(days=extension.or_days_after_delivery))
            # An extension never shortens the standard window (a late December purchase
            # delivered in January keeps its 30 days).
            end = max(candidates)
            rule = f"{mp}.holiday.{extension.id}"
            break
    return end, rule


def decide_return(*, order: Order, asin: str, reason: ReturnReason | None, seller: Seller,
                  page: ProductPage | None, policy: MarketplacePolicy,
                  today: date, quantity: int | None = None) -> ReturnDecision:
    """Decide the return of ``quantity`` units of one order line (the whole line for None)
    by the marketplace's standard returns policy."""
    mp = policy.marketplace
    # Typed is not enforced at run time: free text (a customer's words, an injection) must
    # never reach the decision, only a known reason code.
    if reason is not None and reason not in RETURN_REASONS:
        raise ValueError(f"unknown return reason {reason!r}")
    if order.marketplace != mp:
        raise ValueError(f"order {order.order_id} is on {order.marketplace}, the policy on {mp}")
    if seller.seller_id != order.seller_id:
        raise ValueError(f"order {order.order_id} is sold by {order.seller_id}, "
                         f"not {seller.seller_id}")
    if page is not None and (page.asin != asin or page.marketplace != mp):
        raise ValueError(f"page {page.asin}/{page.marketplace} is not {asin}/{mp}")
    item = next((i for i in order.items if i.asin == asin), None)
    if item is None:
        raise ValueError(f"{asin} is not an item of order {order.order_id}")
    units = item.quantity if quantity is None else quantity
    if not 1 <= units <= item.quantity:
        raise ValueError(f"order {order.order_id} has {item.quantity} of {asin}, not {units}")

    effective: ReturnReason = reason if reason is not None else DEFAULT_REASON
    fault = _fault(effective, policy)
    cross_border = _country(seller.country) != _country(policy.country)
    rules: list[str] = []

    def sources_for(rule: str) -> str | None:
        group = rule.split(".")[1]
        if group in {"window", "holiday"}:
            if group == "holiday":
                ext = next(e for e in policy.holiday_extensions if rule.endswith(f".{e.id}"))
                return ext.source or policy.source("holiday")
            return policy.window.source
        if group == "cross_border":
            return policy.cross_border.source
        if group == "customized":
            return policy.customized.source
        if group == "hazmat":
            return policy.hazmat.source
        key = {"category": "categories", "domestic": "return_shipping",
               "seller": "seller_returnless", "not_delivered": "order_status",
               "cancelled": "order_status"}.get(group, group)
        return policy.source(key)

    def refuse(rule: str, *, return_by: date | None = None,
               case_reason: str | None = None) -> ReturnDecision:
        rules.append(rule)
        return ReturnDecision(
            eligible=False, rule=rule, return_by=return_by, cross_border=cross_border,
            rules=list(rules), reason=effective, reason_assumed=reason is None,
            needs_case=case_reason is not None, case_reason=case_reason, quantity=units,
            source=sources_for(rule))

    # Not delivered: nothing to return yet; the agent answers with order status or a cancel.
    if order.status == "cancelled":
        return refuse(f"{mp}.cancelled")
    if order.status != "delivered":
        return refuse(f"{mp}.not_delivered")

    # The item's own rules come first: they hold whatever the dates say.
    category = page.return_category if page is not None else "standard"
    if category in policy.non_returnable_categories:
        return refuse(f"{mp}.category.{category}",
                      case_reason="non_returnable_seller_fault" if fault == "seller" else None)
    customized_exception = False
    if item.customized:
        if effective not in policy.customized.returnable_reasons:
            # A seller-fault reason the policy does not except (missing parts, say) is still
            # the seller's to settle, as for the non-returnable categories.
            return refuse(f"{mp}.customized.not_returnable",
                          case_reason="non_returnable_seller_fault" if fault == "seller"
                          else None)
        customized_exception = True
        # The exception reasons are all the seller's fault, whatever the reason table says.
        fault = "seller"
        rules.append(f"{mp}.customized.seller_fault")

    return_by, window_rule = _window_end(order, policy)
    rules.append(window_rule)
    case_reason: str | None = None
    if return_by is None:
        # No date to count from (outside the US fallback): the customer is not refused on a
        # missing record; the seller confirms the delivery through a case.
        case_reason = "delivery_date_unknown"
    elif today > return_by:
        return refuse(f"{mp}.window.expired", return_by=return_by,
                      case_reason="outside_window_seller_fault" if fault == "seller" else None)

    condition = "unused_complete"
    if category in policy.unopened_only_categories:
        condition = "unopened"
        rules.append(f"{mp}.category.{category}.unopened")

    method: ReturnMethod | None
    address: Address | str | None = None
    seller_method_due: date | None = None
    if cross_border:
        # The buyer pays nothing to return across a border, whoever is at fault.
        payer: Payer = "seller"
        refund = _refund(order, item, policy, with_shipping=True, quantity=units)
        local = _address_in(seller, policy)
        if local is None and _covers(policy.cross_border.low_value_max, item.unit_price):
            method, method_rule = "returnless_refund", f"{mp}.cross_border.low_value"
        elif local is not None:
            method, method_rule = "local_return_address", f"{mp}.cross_border.local_return_address"
            address = local
        elif seller.returns.prepaid_label:
            method, method_rule = "prepaid_label", f"{mp}.cross_border.prepaid_label"
        elif _covers(seller.returns.returnless_refund_max, refund):
            method = "returnless_refund"
            method_rule = f"{mp}.cross_border.returnless_seller_rule"
        else:
            method, method_rule = None, f"{mp}.cross_border.no_method_5d"
            case_reason = case_reason or "cross_border_no_method"
            seller_method_due = today + timedelta(days=policy.cross_border.seller_method_days)
    else:
        payer = fault
        refund = _refund(order, item, policy, with_shipping=fault == "seller", quantity=units)
        own = _address_in(seller, policy)
        if _covers(seller.returns.returnless_refund_max, refund):
            # Nothing travels back, so the buyer pays nothing either way.
            method, method_rule = "returnless_refund", f"{mp}.seller.returnless_rule"
            payer = "seller"
        elif fault == "buyer":
            method, method_rule = "seller_return_address", f"{mp}.domestic.buyer_pays"
            address = own
        else:
            method_rule = f"{mp}.domestic.seller_pays"
            if seller.returns.prepaid_label:
                method = "prepaid_label"
            else:
                method, address = "seller_return_address", own
        if method == "seller_return_address" and own is None:
            case_reason = case_reason or "no_return_address"
    rules.append(method_rule)
    decisive = f"{mp}.customized.seller_fault" if customized_exception else method_rule

    # A hazardous item may not travel on the label and the seller authorises its return by
    # hand; a returnless refund ships nothing, so it stands as it is.
    if page is not None and page.hazmat and not policy.hazmat.prepaid_label \
            and method != "returnless_refund":
        method, address = None, None
        decisive = f"{mp}.hazmat.manual_authorisation"
        rules.append(decisive)
        # The seller's authorisation is what the case must settle first; a cross-border
        # seller's 5-day deadline (seller_method_due) still runs.
        case_reason = "hazmat_manual_authorisation"

    return ReturnDecision(
        eligible=True, rule=decisive, return_by=return_by, method=method,
        return_shipping_paid_by=payer, refund=refund, cross_border=cross_border,
        rules=rules, reason=effective, reason_assumed=reason is None,
        needs_case=case_reason is not None, case_reason=case_reason,
        seller_method_due=seller_method_due, quantity=units, condition=condition,
        return_address=_address_json(address),
        refund_within_business_days=policy.refund_within_business_days,
        source=sources_for(decisive))
