"""Properties that hold for every input, not only for the examples the unit tests chose.

- The returns engine: every decision names the rule that made it; a refund never exceeds what
  the customer paid for the line plus the shipping they paid; a cross-border return never
  charges the buyer return shipping; a return allowed on a day was allowed on every earlier
  day after delivery (the window only closes) and its last day does not depend on today.
- The email parser: any bytes give a parsed message or an ``UnreadableEmail``, never another
  exception, and a parsed message keeps to its bounds.
- The fee engine: a higher contacts-per-unit rate never costs less, per unit or in total.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agent.messages import MAX_TEXT_CHARS
from agent.records import Order, Seller
from agent.returns import RETURN_REASONS, ReturnDecision, decide_return
from channels.mime import MAX_MESSAGE_ID_CHARS, ParsedEmail, UnreadableEmail, parse_email
from knowledge.pages import ProductPage
from knowledge.policy import MarketplacePolicy, load_policy, policy_marketplaces
from seller.fees import CpuBasis, fee_tier, monthly_fee
from seller.months import Month
from seller.terms import fee_schedule

# Enough runs to reach every branch of the engine; bounded so the suite stays quick.
PROPERTY = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
CURRENCY = {"DE": "EUR", "ES": "EUR", "FR": "EUR", "IT": "EUR", "UK": "GBP", "US": "USD",
            "JP": "JPY"}
ASIN, OTHER_ASIN = "B0PROPERTY", "B0OTHERITM"
MARKETPLACES = policy_marketplaces()
SELLER_COUNTRIES = ["DE", "ES", "FR", "IT", "UK", "GB", "US", "JP", "CN"]
REASONS = [None, *sorted(RETURN_REASONS)]


def amount(mp: str, low: float, high: float) -> st.SearchStrategy[float]:
    """A price in the currency's smallest unit (yen have no decimals)."""
    scale = 1 if CURRENCY[mp] == "JPY" else 100
    smallest = max(1, int(low * scale)) if low > 0 else 0
    return st.integers(smallest, int(high * scale)).map(lambda n: n / scale)


def money(mp: str, value: float) -> dict[str, Any]:
    return {"amount": value, "currency": CURRENCY[mp]}


@st.composite
def return_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A consistent order, seller, page and policy: anything the engine may be asked."""
    mp = draw(st.sampled_from(MARKETPLACES))
    policy = load_policy(mp)
    price = draw(amount(mp, 0.01, 3000))
    quantity = draw(st.integers(1, 5))
    purchased = draw(st.dates(date(2025, 1, 1), date(2027, 6, 30)))
    status = draw(st.sampled_from(["delivered", "delivered", "shipped", "pending", "cancelled"]))
    delivered = (purchased + timedelta(days=draw(st.integers(0, 40)))
                 if status == "delivered" and draw(st.integers(0, 9)) else None)
    estimated = draw(st.none() | st.just(purchased + timedelta(days=draw(st.integers(1, 20)))))
    if status == "delivered" and delivered is None and estimated is None:
        estimated = purchased + timedelta(days=3)  # a record must say one of the two
    items = [{"asin": ASIN, "quantity": quantity, "unit_price": money(mp, price),
              "customized": draw(st.booleans())}]
    if draw(st.booleans()):
        items.append({"asin": OTHER_ASIN, "quantity": draw(st.integers(1, 3)),
                      "unit_price": money(mp, draw(amount(mp, 0.01, 500)))})
    shipping = draw(st.none() | amount(mp, 0, 60))
    order = Order.model_validate({
        "order_id": "028-0000000-0000001", "marketplace": mp, "seller_id": "APROPSELLER",
        "fulfillment_channel": "MFN", "status": status, "purchase_date": purchased,
        "ship_date": purchased, "estimated_delivery_date": estimated,
        "delivery_date": delivered, "ship_to_country": "GB" if mp == "UK" else mp,
        "items": items, "shipping_paid": None if shipping is None else money(mp, shipping)})
    address = {"name": "Returns", "street": "Weg 1", "postal_code": "1000", "city": "Stadt",
               "country": mp}
    seller = Seller.model_validate({
        "seller_id": "APROPSELLER", "name": "Property Seller",
        "country": draw(st.sampled_from([mp, *SELLER_COUNTRIES])), "email": "ops@seller.example",
        "return_addresses": {mp: address} if draw(st.booleans()) else {},
        "returns": {"prepaid_label": draw(st.booleans()),
                    "returnless_refund_max": money(mp, draw(amount(mp, 0, 100)))},
        "csba": {"status": "active", "enrolled_on": "2025-01-01"}})
    categories = sorted({"standard", *policy.non_returnable_categories,
                         *policy.unopened_only_categories})
    page = ProductPage.model_validate({
        "asin": ASIN, "marketplace": mp, "language": "en", "seller_id": "APROPSELLER",
        "title": "Property item", "price": money(mp, price),
        "return_category": draw(st.sampled_from(categories)), "hazmat": draw(st.booleans())})
    return {"order": order, "seller": seller, "policy": policy,
            "page": draw(st.none() | st.just(page)), "reason": draw(st.sampled_from(REASONS)),
            "start": delivered or estimated or purchased}


def decide(case: dict[str, Any], today: date) -> ReturnDecision:
    return decide_return(order=case["order"], asin=ASIN, reason=case["reason"],
                         seller=case["seller"], page=case["page"], policy=case["policy"],
                         today=today)


def paid_for_line(order: Order) -> Decimal:
    """What the customer paid for the line and all of the order's shipping: the ceiling."""
    line = next(i for i in order.items if i.asin == ASIN)
    shipping = Decimal(str(order.shipping_paid.amount)) if order.shipping_paid else Decimal(0)
    return Decimal(str(line.unit_price.amount)) * line.quantity + shipping


@PROPERTY
@given(case=return_cases(), offset=st.integers(-5, 400))
def test_a_return_decision_names_its_rule_and_stays_within_what_was_paid(
        case: dict[str, Any], offset: int) -> None:
    decision = decide(case, case["start"] + timedelta(days=offset))
    policy: MarketplacePolicy = case["policy"]
    assert decision.rule.startswith(f"{policy.marketplace}.") and decision.rule in decision.rules
    if decision.refund is not None:
        assert decision.eligible
        assert decision.refund.currency == CURRENCY[policy.marketplace]
        assert 0 < Decimal(str(decision.refund.amount)) <= paid_for_line(case["order"])
    else:
        assert not decision.eligible
    if decision.cross_border:
        assert decision.return_shipping_paid_by in (None, "seller")
    if decision.eligible:
        assert decision.return_shipping_paid_by is not None and decision.reason is not None


@PROPERTY
@given(case=return_cases(), first=st.integers(-5, 400), later=st.integers(0, 400))
def test_the_return_window_only_closes(case: dict[str, Any], first: int, later: int) -> None:
    early_day = case["start"] + timedelta(days=first)
    early, late = decide(case, early_day), decide(case, early_day + timedelta(days=later))
    assert not (late.eligible and not early.eligible), (early.rule, late.rule)
    assert early.return_by == late.return_by  # the last day is the order's, not today's
    if late.return_by is not None and early_day + timedelta(days=later) <= late.return_by:
        assert late.rule != f"{case['policy'].marketplace}.window.expired"


# --- the email parser -----------------------------------------------------------------------

HEADER_LINES = [
    b"From: Kunde <kunde@example.de>", b"From: <>", b"From: =?utf-8?q?=E2=82=AC?= <a@b.c>",
    b"From: \"unterminated <x@y.z>", b"From: @@@", b"Message-ID: <m1@example.de>",
    b"Message-ID: <>", b"Message-ID: " + b"x" * 300, b"Message-Id: plain-id@example",
    b"In-Reply-To: <a@b> <c@d>", b"References: <" + b"r" * 400 + b">",
    b"Subject: =?iso-8859-1?q?Fr=E4ge?=", b"Subject: =?unknown-8bit?b?/w==?=",
    b"Subject: line\r\n\tfolded", b"Content-Type: text/plain; charset=x-unknown",
    b"Content-Type: text/plain; charset=utf-8", b"Content-Type: text/html; charset=latin-1",
    b"Content-Type: multipart/mixed; boundary=\"b\"", b"Content-Type: multipart/alternative",
    b"Content-Type: message/rfc822", b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable", b"Content-Transfer-Encoding: x-uuencode",
    b"Auto-Submitted: auto-replied", b"MIME-Version: 1.0", b"Date: not a date",
    b"\xff\xfe: \x00\x01", b"X-Header-Without-Colon",
]
BODY_PARTS = [
    b"Hallo, wo ist meine Bestellung?", b"--b\r\nContent-Type: text/plain\r\n\r\nHi\r\n--b--",
    b"--b\r\nContent-Type: multipart/mixed; boundary=\"c\"\r\n\r\n--c\r\n\r\nx\r\n",
    b"=E4=F6=FC=\r\n=ZZ", b"SGVsbG8gd29ybGQ=", b"!!!not base64!!!", b"<html><p>Hola</p>",
    b"> quoted\r\nOn Mon, 1 Jan 2026 wrote:", b"\x00\x01\x02\xff", "Grüße €".encode("utf-16"),
]


@st.composite
def hostile_mails(draw: st.DrawFn) -> bytes:
    """Header soup and body fragments: deeper into the parser than uniform random bytes."""
    headers = draw(st.lists(st.sampled_from(HEADER_LINES) | st.binary(max_size=60),
                            max_size=12))
    if draw(st.booleans()):
        # A readable sender and id, so the body and the MIME tree get parsed too.
        for line in (b"From: kunde@example.de", b"Message-ID: <t@example.de>"):
            headers.insert(draw(st.integers(0, len(headers))), line)
    body = draw(st.lists(st.sampled_from(BODY_PARTS) | st.binary(max_size=80), max_size=6))
    separator = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    return separator.join(headers) + separator * 2 + separator.join(body)


@settings(max_examples=500, deadline=None, database=None)
@given(raw=st.binary(max_size=2000) | hostile_mails())
def test_any_bytes_are_parsed_or_refused_clearly(raw: bytes) -> None:
    try:
        parsed = parse_email(raw)
    except UnreadableEmail as exc:
        assert str(exc), "a refusal says what is missing"
        return
    assert isinstance(parsed, ParsedEmail)
    assert "@" in parsed.sender and parsed.text and len(parsed.text) <= MAX_TEXT_CHARS
    assert len(parsed.message_id) <= MAX_MESSAGE_ID_CHARS
    assert all(len(ref) <= MAX_MESSAGE_ID_CHARS for ref in parsed.references)


# --- the fee engine -------------------------------------------------------------------------

@settings(max_examples=400, deadline=None, database=None)
@given(mp=st.sampled_from(["DE", "US", "JP", "UK", "ES", "FR", "IT"]),
       units=st.tuples(st.integers(1, 5000), st.integers(1, 5000)),
       contacts=st.tuples(st.integers(0, 3000), st.integers(0, 3000)),
       shipped=st.integers(0, 2000), trial=st.integers(0, 2000),
       vtr=st.none() | st.decimals(Decimal(0), Decimal(1), places=3))
def test_a_higher_contact_rate_never_costs_less(
        mp: str, units: tuple[int, int], contacts: tuple[int, int], shipped: int, trial: int,
        vtr: Decimal | None) -> None:
    schedule = fee_schedule(mp)
    minimum = schedule.table.min_units_for_cpu
    assume(min(units) >= minimum)  # below it the CPU is unknown: a fee of its own, no rate
    low, high = sorted((CpuBasis(Month(2026, 8), Month(2026, 10), u, c)
                        for u, c in zip(units, contacts, strict=True)),
                       key=lambda b: Decimal(b.contacts) / b.units)
    assert fee_tier(schedule, low).fee_per_unit <= fee_tier(schedule, high).fee_per_unit
    in_trial = min(trial, shipped)
    cheap = monthly_fee(schedule, low, units_shipped=shipped, units_in_trial=in_trial,
                        valid_tracking_rate=vtr)
    dear = monthly_fee(schedule, high, units_shipped=shipped, units_in_trial=in_trial,
                       valid_tracking_rate=vtr)
    assert Decimal(0) <= cheap.total <= dear.total
    assert cheap.total <= cheap.subtotal
