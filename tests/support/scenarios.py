"""The demo orders the tests stand on, named for what each one is.

Every order here is a line of ``data/demo/orders.jsonl``; its comment takes the wording of the
scenario row in ``data/demo/ORDERS.md`` (dates relative to 2026-11-25), and ``index_rows`` names
those rows. ``tests/test_demo_data.py`` checks each constant against both files, so a test that
uses ``DELIVERED_BEDDING_DE.customer_email`` asks for what the demo data really holds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """One demo order: who bought it, from which seller, where, and what."""

    order_id: str
    customer_name: str
    customer_email: str
    customer_phone: str | None
    seller_id: str
    marketplace: str
    asins: tuple[str, ...]
    index_rows: tuple[str, ...]  # the rows of data/demo/ORDERS.md that list the order

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
DELIVERED_BEDDING_DE = Scenario(
    order_id="028-4306213-9513237", customer_name="Miriam Koch",
    customer_email="miriam.koch@example.de", customer_phone="+4917680351976",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE6BW3R9",), index_rows=("1",))

#: MFN delivered within the last 30 days, domestic seller: Jana Becker's Lumo desk lamp (12 Nov).
DELIVERED_DESK_LAMP_DE = Scenario(
    order_id="028-0578308-6271497", customer_name="Jana Becker",
    customer_email="jana.becker@example.de", customer_phone="+4915112345678",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE4LT7K2",), index_rows=("1", "19"))

#: MFN delivered within the last 30 days, domestic seller: Lukas Schneider's ceiling light.
DELIVERED_CEILING_LIGHT_DE = Scenario(
    order_id="028-3465355-4950597", customer_name="Lukas Schneider",
    customer_email="lukas.schneider@example.de", customer_phone="+4917623418807",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE3DL6N8",), index_rows=("1", "19"))

#: MFN delivered within the last 30 days, domestic seller: Sabine Müller's two power strips.
DELIVERED_POWER_STRIPS_DE = Scenario(
    order_id="028-0574709-2253529", customer_name="Sabine Müller",
    customer_email="sabine.mueller@example.de", customer_phone="+4916094417235",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE8SL2P7",), index_rows=("1", "19"))

#: MFN delivered more than 30 days ago: Jana Becker's bed linen (7 Oct).
EXPIRED_BEDDING_DE = Scenario(
    order_id="028-8914675-8314958", customer_name="Jana Becker",
    customer_email="jana.becker@example.de", customer_phone="+4915112345678",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE6BW3R9",), index_rows=("2",))

#: MFN delivered more than 30 days ago: Sabine Müller's floor lamp (7 Sep).
EXPIRED_FLOOR_LAMP_DE = Scenario(
    order_id="028-2361862-1797361", customer_name="Sabine Müller",
    customer_email="sabine.mueller@example.de", customer_phone="+4916094417235",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE2FL8H6",), index_rows=("2",))

#: MFN shipped, estimated delivery passed by 1-2 days: Anna Weber's power strip (est. 24 Nov).
LATE_POWER_STRIP_DE = Scenario(
    order_id="028-7407148-0233125", customer_name="Anna Weber",
    customer_email="anna.weber@example.de", customer_phone="+4917645129034",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE8SL2P7",), index_rows=("5",))

#: MFN shipped, estimated delivery passed by more than 3 days: Michael Fischer's bed linen.
OVERDUE_BEDDING_DE = Scenario(
    order_id="028-0896128-0106538", customer_name="Michael Fischer",
    customer_email="michael.fischer@example.de", customer_phone="+4915901873362",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE6BW3R9",), index_rows=("6",))

#: MFN pending: Lea Zimmermann's ceiling light (no phone on the order).
PENDING_CEILING_LIGHT_DE = Scenario(
    order_id="028-1343574-7969438", customer_name="Lea Zimmermann",
    customer_email="lea.zimmermann@example.de", customer_phone=None,
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE3DL6N8",), index_rows=("7",))

#: AFN: Jonas Krüger's desk lamp, fulfilled by the marketplace.
AFN_DESK_LAMP_DE = Scenario(
    order_id="028-9644962-5370824", customer_name="Jonas Krüger",
    customer_email="jonas.krueger@example.de", customer_phone="+4917312094458",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE4LT7K2",), index_rows=("9",))

#: Seller Fulfilled Prime: Florian Richter's kettle.
SFP_KETTLE_DE = Scenario(
    order_id="028-4724138-2123980", customer_name="Florian Richter",
    customer_email="florian.richter@example.de", customer_phone="+4915142208875",
    seller_id="A1LICHTWERK", marketplace="DE", asins=("B0DE5WK1T4",), index_rows=("10",))

#: Cross-border, delivered recently, under the low-value line: Ursula Lehmann's smart plug
#: (19.99 EUR, CN seller, no phone on the order).
CN_LOW_VALUE_SMART_PLUG_DE = Scenario(
    order_id="028-7606645-0237256", customer_name="Ursula Lehmann",
    customer_email="ursula.lehmann@example.de", customer_phone=None,
    seller_id="A3BRIGHTWAY", marketplace="DE", asins=("B0DE2SP4K8",), index_rows=("11",))

#: Cross-border, delivered recently, over the low-value line; customized item, delivered:
#: Katharina Hoffmann's monogrammed blanket.
CUSTOM_BLANKET_DE = Scenario(
    order_id="028-2214841-7231226", customer_name="Katharina Hoffmann",
    customer_email="katharina.hoffmann@example.de", customer_phone="+4917158602913",
    seller_id="A6THISTLELOOM", marketplace="DE", asins=("B0DE8MB5D3",), index_rows=("12", "13"))

#: Cross-border, delivered recently, over the low-value line; hygiene-sealed item, delivered
#: recently: Felix Schulz's earbuds.
HYGIENE_EARBUDS_DE = Scenario(
    order_id="028-9222128-1881221", customer_name="Felix Schulz",
    customer_email="felix.schulz88@example.de", customer_phone="+4915737720581",
    seller_id="A3BRIGHTWAY", marketplace="DE", asins=("B0DE5EB9Z4",), index_rows=("12", "16"))

#: Cross-border, delivered recently, over the low-value line; hazmat item, delivered recently:
#: Lukas Schneider's power bank (39.99 EUR).
HAZMAT_POWER_BANK_DE = Scenario(
    order_id="028-0016742-6477937", customer_name="Lukas Schneider",
    customer_email="lukas.schneider@example.de", customer_phone="+4917623418807",
    seller_id="A3BRIGHTWAY", marketplace="DE", asins=("B0DE7PB2Q5",), index_rows=("12", "14"))

#: Perishable (A7DELIZIE), placed on/after 2026-10-15 (opted out, not covered): Tobias Wagner's
#: coffee, placed on the opt-out day.
OPTED_OUT_COFFEE_DE = Scenario(
    order_id="028-5608796-9335880", customer_name="Tobias Wagner",
    customer_email="t.wagner@example.de", customer_phone="+4915228930146",
    seller_id="A7DELIZIE", marketplace="DE", asins=("B0DE5DZ6E2",), index_rows=("15b",))

# --- Spain (171-) -----------------------------------------------------------------------------

#: MFN delivered within the last 30 days, domestic seller: Lucía García's bed sheets.
DELIVERED_SHEETS_ES = Scenario(
    order_id="171-1186829-5973794", customer_name="Lucía García",
    customer_email="lucia.garcia@example.es", customer_phone="+34612345678",
    seller_id="A2CASASOLEADA", marketplace="ES", asins=("B0ES8S2P5N",), index_rows=("1", "19"))

#: MFN delivered more than 30 days ago: Carmen López's dinnerware (18 Sep).
EXPIRED_DINNERWARE_ES = Scenario(
    order_id="171-0943775-0920519", customer_name="Carmen López",
    customer_email="carmen.lopez@example.es", customer_phone="+34690473321",
    seller_id="A2CASASOLEADA", marketplace="ES", asins=("B0ES3V7K1D",), index_rows=("2",))

#: Cross-border, delivered recently, under the low-value line: Raúl Domínguez's USB-C cables.
CN_LOW_VALUE_CABLES_ES = Scenario(
    order_id="171-5997124-0244126", customer_name="Raúl Domínguez",
    customer_email="raul.dominguez@example.es", customer_phone="+34628815063",
    seller_id="A3BRIGHTWAY", marketplace="ES", asins=("B0ES3C8U1X",), index_rows=("11",))

#: Cross-border, delivered recently, over the low-value line; hazmat item, delivered recently:
#: Javier Martínez's power bank (45.99 EUR).
HAZMAT_POWER_BANK_ES = Scenario(
    order_id="171-8096664-2874288", customer_name="Javier Martínez",
    customer_email="javier.martinez@example.es", customer_phone="+34655218904",
    seller_id="A3BRIGHTWAY", marketplace="ES", asins=("B0ES9P3K0Z",), index_rows=("12", "14"))

# --- United Kingdom (026-) --------------------------------------------------------------------

#: MFN delivered within the last 30 days, domestic seller; several ASINs: Fiona MacLeod's
#: scarf and jumper.
SCARF_AND_JUMPER_UK = Scenario(
    order_id="026-1073094-3593565", customer_name="Fiona MacLeod",
    customer_email="fiona.macleod@example.co.uk", customer_phone="+447700900730",
    seller_id="A6THISTLELOOM", marketplace="UK", asins=("B0UKTL4S01", "B0UKTL7J22"),
    index_rows=("1", "18", "19"))

#: Cross-border, delivered recently, over the low-value line: Amelia Khan's magnetic tiles
#: (29.99 GBP, CN seller).
CN_HIGH_VALUE_TILES_UK = Scenario(
    order_id="026-3123995-6747954", customer_name="Amelia Khan",
    customer_email="amelia.khan@example.co.uk", customer_phone="+447700900958",
    seller_id="A4HAPPYKIDS", marketplace="UK", asins=("B0UKHK5M64",), index_rows=("12",))

#: Cross-border, delivered recently, under the low-value line; hazmat item; quantity 2:
#: Harry Patel's two gas canisters.
HAZMAT_GAS_CANISTERS_UK = Scenario(
    order_id="026-9813107-1493242", customer_name="Harry Patel",
    customer_email="harry.patel@example.co.uk", customer_phone="+447700900275",
    seller_id="A5RIDGELINE", marketplace="UK", asins=("B0UKRL4B23",),
    index_rows=("11", "14", "18"))

# --- United States (111-) ---------------------------------------------------------------------

#: MFN delivered within the last 30 days, domestic seller: Michael Rodriguez's headlamp.
DELIVERED_HEADLAMP_US = Scenario(
    order_id="111-0182947-4168020", customer_name="Michael Rodriguez",
    customer_email="michael.rodriguez@example.com", customer_phone="+17205550187",
    seller_id="A5RIDGELINE", marketplace="US", asins=("B0USRL3HL4",), index_rows=("1", "19"))

#: MFN shipped, estimated delivery passed by 1-2 days: Marcus Washington's headlamp.
LATE_HEADLAMP_US = Scenario(
    order_id="111-2146541-9938725", customer_name="Marcus Washington",
    customer_email="marcus.washington@example.com", customer_phone="+14045550127",
    seller_id="A5RIDGELINE", marketplace="US", asins=("B0USRL3HL4",), index_rows=("5",))

#: Seller Fulfilled Prime: Brian Nguyen's headlamp.
SFP_HEADLAMP_US = Scenario(
    order_id="111-7281796-6186488", customer_name="Brian Nguyen",
    customer_email="brian.nguyen@example.com", customer_phone="+14085550166",
    seller_id="A5RIDGELINE", marketplace="US", asins=("B0USRL3HL4",), index_rows=("10",))

#: Cross-border, delivered recently, under the low-value line: Tyler Anderson's HDMI cable
#: (9.99 USD, CN seller).
CN_LOW_VALUE_HDMI_US = Scenario(
    order_id="111-8795486-0976655", customer_name="Tyler Anderson",
    customer_email="tyler.anderson@example.com", customer_phone="+16125550174",
    seller_id="A3BRIGHTWAY", marketplace="US", asins=("B0USBW8HD1",), index_rows=("11",))

#: Cross-border, delivered recently, over the low-value line: Jessica Martinez's charger.
CN_HIGH_VALUE_CHARGER_US = Scenario(
    order_id="111-9577502-9650758", customer_name="Jessica Martinez",
    customer_email="jessica.martinez@example.com", customer_phone="+12145550109",
    seller_id="A3BRIGHTWAY", marketplace="US", asins=("B0USBW3C65",), index_rows=("12",))

#: Cross-border, delivered recently, over the low-value line; hazmat item, delivered recently:
#: Rachel Goldberg's laptop power bank.
HAZMAT_POWER_BANK_US = Scenario(
    order_id="111-0919112-2666058", customer_name="Rachel Goldberg",
    customer_email="rachel.goldberg@example.com", customer_phone="+19175550153",
    seller_id="A3BRIGHTWAY", marketplace="US", asins=("B0USBW26PB",), index_rows=("12", "14"))

#: Quantity 2-3 or several ASINs: Brian Nguyen's two smart plugs and an HDMI cable (CN seller).
SMART_PLUGS_AND_HDMI_US = Scenario(
    order_id="111-8085565-9051677", customer_name="Brian Nguyen",
    customer_email="brian.nguyen@example.com", customer_phone="+14085550166",
    seller_id="A3BRIGHTWAY", marketplace="US", asins=("B0USBW5SP2", "B0USBW8HD1"),
    index_rows=("18",))

#: Placed before the seller's CSBA enrolment (not covered): Jessica Martinez's charger (Jan).
PRE_ENROLMENT_CHARGER_US = Scenario(
    order_id="111-7891505-5929917", customer_name="Jessica Martinez",
    customer_email="jessica.martinez@example.com", customer_phone="+12145550109",
    seller_id="A3BRIGHTWAY", marketplace="US", asins=("B0USBW3C65",), index_rows=("20",))

#: Placed before the seller's CSBA enrolment (not covered): Tyler Anderson's backpack (Apr).
PRE_ENROLMENT_BACKPACK_US = Scenario(
    order_id="111-6467546-3609092", customer_name="Tyler Anderson",
    customer_email="tyler.anderson@example.com", customer_phone="+16125550174",
    seller_id="A5RIDGELINE", marketplace="US", asins=("B0USRL45BP",), index_rows=("20",))

ALL: tuple[Scenario, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Scenario))
