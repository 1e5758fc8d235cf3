"""The demo orders the tests stand on, named for what each one is.

A scenario is an order id and the rows of ``data/demo/ORDERS.md`` that list it; its comment
takes that row's wording (dates relative to 2026-11-25). Who bought it, where and what are
read from ``data/demo/orders.jsonl`` itself, never copied here, and
``tests/test_demo_data.py`` checks every order exists and is listed in those rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from agent.records import Order
from base.jsonl import read_jsonl
from seller.ingest import DEMO_DATA_DIR


@cache
def demo_orders() -> dict[str, Order]:
    return {o.order_id: o for o in read_jsonl(DEMO_DATA_DIR / "orders.jsonl", Order)}


@dataclass(frozen=True)
class Scenario:
    """One demo order, by id: who bought it, from which seller, where and what, as the demo
    data says."""

    order_id: str
    index_rows: tuple[str, ...]  # the rows of data/demo/ORDERS.md that list the order

    @property
    def order(self) -> Order:
        return demo_orders()[self.order_id]

    @property
    def customer_name(self) -> str:
        return self.order.customer.name or ""

    @property
    def customer_email(self) -> str:
        return self.order.customer.email or ""

    @property
    def customer_phone(self) -> str | None:
        return self.order.customer.phone

    @property
    def seller_id(self) -> str:
        return self.order.seller_id

    @property
    def marketplace(self) -> str:
        return self.order.marketplace

    @property
    def asins(self) -> tuple[str, ...]:
        return tuple(item.asin for item in self.order.items)

    @property
    def asin(self) -> str:
        """The order's first (for most demo orders, only) item."""
        return self.asins[0]

    @property
    def phone(self) -> str:
        """The customer's phone number, for the scenarios whose order has one."""
        if self.customer_phone is None:
            raise ValueError(f"order {self.order_id} has no customer phone")
        return self.customer_phone


# An order id in the marketplaces' format that no demo order has.
NO_SUCH_ORDER_ID = "028-0000000-0000000"

# --- Germany (028-) ---------------------------------------------------------------------------

#: MFN delivered within the last 30 days, domestic seller: Miriam Koch's bed linen (7 Nov).
DELIVERED_BEDDING_DE = Scenario("028-4306213-9513237", index_rows=("1",))

#: MFN delivered within the last 30 days, domestic seller: Jana Becker's Lumo desk lamp (12 Nov).
DELIVERED_DESK_LAMP_DE = Scenario("028-0578308-6271497", index_rows=("1", "19"))

#: MFN delivered within the last 30 days, several ASINs, delivered and purchased in November:
#: Nina Wolf's desk lamp and two LED strips (14 Nov).
DESK_LAMP_AND_LED_STRIPS_DE = Scenario("028-4997942-8538113", index_rows=("1", "18", "19"))

#: MFN delivered within the last 30 days, domestic seller: Lukas Schneider's ceiling light.
DELIVERED_CEILING_LIGHT_DE = Scenario("028-3465355-4950597", index_rows=("1", "19"))

#: MFN delivered within the last 30 days, domestic seller: Sabine Müller's two power strips.
DELIVERED_POWER_STRIPS_DE = Scenario("028-0574709-2253529", index_rows=("1", "19"))


#: MFN delivered more than 30 days ago: Jana Becker's bed linen (7 Oct).
EXPIRED_BEDDING_DE = Scenario("028-8914675-8314958", index_rows=("2",))

#: MFN delivered more than 30 days ago: Sabine Müller's floor lamp (7 Sep).
EXPIRED_FLOOR_LAMP_DE = Scenario("028-2361862-1797361", index_rows=("2",))

#: MFN shipped, estimated delivery passed by 1-2 days: Anna Weber's power strip (est. 24 Nov).
LATE_POWER_STRIP_DE = Scenario("028-7407148-0233125", index_rows=("5",))

#: MFN shipped, estimated delivery passed by more than 3 days: Michael Fischer's bed linen.
OVERDUE_BEDDING_DE = Scenario("028-0896128-0106538", index_rows=("6",))


#: MFN pending: Lea Zimmermann's ceiling light (no phone on the order).
PENDING_CEILING_LIGHT_DE = Scenario("028-1343574-7969438", index_rows=("7",))

#: AFN: Jonas Krüger's desk lamp, fulfilled by the marketplace.
AFN_DESK_LAMP_DE = Scenario("028-9644962-5370824", index_rows=("9",))

#: Seller Fulfilled Prime: Florian Richter's kettle.
SFP_KETTLE_DE = Scenario("028-4724138-2123980", index_rows=("10",))

#: Cross-border, delivered recently, under the low-value line: Ursula Lehmann's smart plug
#: (19.99 EUR, CN seller, no phone on the order).
CN_LOW_VALUE_SMART_PLUG_DE = Scenario("028-7606645-0237256", index_rows=("11",))

#: Cross-border, delivered recently, over the low-value line; customized item, delivered:
#: Katharina Hoffmann's monogrammed blanket.
CUSTOM_BLANKET_DE = Scenario("028-2214841-7231226", index_rows=("12", "13"))

#: Cross-border, delivered recently, over the low-value line; hygiene-sealed item, delivered
#: recently: Felix Schulz's earbuds.
HYGIENE_EARBUDS_DE = Scenario("028-9222128-1881221", index_rows=("12", "16"))

#: Cross-border, delivered recently, over the low-value line; hazmat item, delivered recently:
#: Lukas Schneider's power bank (39.99 EUR).
HAZMAT_POWER_BANK_DE = Scenario("028-0016742-6477937", index_rows=("12", "14"))

#: Perishable (A7DELIZIE), placed on/after 2026-10-15 (opted out, not covered): Tobias Wagner's
#: coffee, placed on the opt-out day.
OPTED_OUT_COFFEE_DE = Scenario("028-5608796-9335880", index_rows=("15b",))

# --- Spain (171-) -----------------------------------------------------------------------------

#: MFN delivered within the last 30 days, domestic seller: Lucía García's bed sheets.
DELIVERED_SHEETS_ES = Scenario("171-1186829-5973794", index_rows=("1", "19"))

#: MFN shipped, estimated delivery passed by more than 3 days: Marta Jiménez's order
#: (expected 14 Nov, Correos).
OVERDUE_ORDER_ES = Scenario("171-8233681-3114020", index_rows=("6",))

#: MFN delivered more than 30 days ago: Carmen López's dinnerware (18 Sep).
EXPIRED_DINNERWARE_ES = Scenario("171-0943775-0920519", index_rows=("2",))

#: Cross-border, delivered recently, under the low-value line: Raúl Domínguez's USB-C cables.
CN_LOW_VALUE_CABLES_ES = Scenario("171-5997124-0244126", index_rows=("11",))

#: Cross-border, delivered recently, over the low-value line; hazmat item, delivered recently:
#: Javier Martínez's power bank (45.99 EUR).
HAZMAT_POWER_BANK_ES = Scenario("171-8096664-2874288", index_rows=("12", "14"))

# --- United Kingdom (026-) --------------------------------------------------------------------

#: MFN delivered within the last 30 days, domestic seller; several ASINs: Fiona MacLeod's
#: scarf and jumper.
SCARF_AND_JUMPER_UK = Scenario("026-1073094-3593565", index_rows=("1", "18", "19"))

#: MFN shipped, estimated delivery passed by more than 3 days: George Davies's order
#: (expected 14 Nov, UPS).
OVERDUE_ORDER_UK = Scenario("026-1481181-2355491", index_rows=("6",))

#: Cross-border, delivered recently, over the low-value line: Amelia Khan's magnetic tiles
#: (29.99 GBP, CN seller).
CN_HIGH_VALUE_TILES_UK = Scenario("026-3123995-6747954", index_rows=("12",))

#: Cross-border, delivered recently, under the low-value line; hazmat item; quantity 2:
#: Harry Patel's two gas canisters.
HAZMAT_GAS_CANISTERS_UK = Scenario("026-9813107-1493242", index_rows=("11", "14", "18"))

# --- United States (111-) ---------------------------------------------------------------------

#: MFN delivered within the last 30 days, domestic seller: Michael Rodriguez's headlamp.
DELIVERED_HEADLAMP_US = Scenario("111-0182947-4168020", index_rows=("1", "19"))

#: MFN shipped, estimated delivery passed by 1-2 days: Marcus Washington's headlamp.
LATE_HEADLAMP_US = Scenario("111-2146541-9938725", index_rows=("5",))

#: MFN shipped, estimated delivery passed by more than 3 days: Kevin O'Connor's USB-C charger
#: (expected 16 Nov).
OVERDUE_CHARGER_US = Scenario("111-4219587-3551462", index_rows=("6",))

#: Seller Fulfilled Prime: Brian Nguyen's headlamp.
SFP_HEADLAMP_US = Scenario("111-7281796-6186488", index_rows=("10",))

#: Cross-border, delivered recently, under the low-value line: Tyler Anderson's HDMI cable
#: (9.99 USD, CN seller).
CN_LOW_VALUE_HDMI_US = Scenario("111-8795486-0976655", index_rows=("11",))

#: Cross-border, delivered recently, over the low-value line: Jessica Martinez's charger.
CN_HIGH_VALUE_CHARGER_US = Scenario("111-9577502-9650758", index_rows=("12",))

#: Cross-border, delivered recently, over the low-value line; hazmat item, delivered recently:
#: Rachel Goldberg's laptop power bank.
HAZMAT_POWER_BANK_US = Scenario("111-0919112-2666058", index_rows=("12", "14"))

#: Quantity 2-3 or several ASINs: Brian Nguyen's two smart plugs and an HDMI cable (CN seller).
SMART_PLUGS_AND_HDMI_US = Scenario("111-8085565-9051677", index_rows=("18",))

#: Placed before the seller's CSBA enrolment (not covered): Jessica Martinez's charger (Jan).
PRE_ENROLMENT_CHARGER_US = Scenario("111-7891505-5929917", index_rows=("20",))

#: Placed before the seller's CSBA enrolment (not covered): Tyler Anderson's backpack (Apr).
PRE_ENROLMENT_BACKPACK_US = Scenario("111-6467546-3609092", index_rows=("20",))

ALL: tuple[Scenario, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Scenario))
