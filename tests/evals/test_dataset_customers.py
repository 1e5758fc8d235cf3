"""A case's customer may be its order's own (``{"from_order": true}``): filled from the orders
the dataset runs on, so a dataset names orders and never copies their contacts by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.records import Order
from base.jsonl import DataFileError
from csba.cli import app
from evals.dataset import EvalCase, fill_customers, read_dataset
from evals.runner import messages
from seller.ingest import DEMO_DATA_DIR, read_inputs
from tests.support.scenarios import DELIVERED_BEDDING_DE, NO_SUCH_ORDER_ID

ROOT = Path(__file__).resolve().parents[2]
BED = DELIVERED_BEDDING_DE  # Miriam Koch's, with an email and a phone on the order


def case(channel: str = "email", order_id: str = BED.order_id, **customer: object) -> EvalCase:
    return EvalCase.model_validate({
        "id": f"c-{channel}", "now": "2026-11-25T10:00:00Z", "channel": channel,
        "marketplace": "DE", "order_id": order_id, "customer": customer,
        "turns": ["Wo ist meine Bestellung?"]})


def demo_orders() -> list[Order]:
    return read_inputs(orders=DEMO_DATA_DIR / "orders.jsonl").orders


def test_the_orders_customer_is_the_sender_on_each_channel() -> None:
    cases = fill_customers([case("email", from_order=True), case("sms", from_order=True),
                            case("whatsapp", from_order=True)], demo_orders())
    senders = [next(messages(c)).sender for c in cases]
    assert senders == [BED.customer_email, BED.phone, f"whatsapp:{BED.phone}"]


def test_a_customer_the_case_gives_is_kept_as_it_is() -> None:
    stranger = case(email="someone.else@example.de")
    assert fill_customers([stranger], demo_orders()) == [stranger]


def test_an_order_the_orders_do_not_hold_is_named() -> None:
    with pytest.raises(DataFileError, match=r"case 'c-email': field 'customer': from_order "
                                            rf"needs the order, and {NO_SUCH_ORDER_ID} is "
                                            r"not in the orders"):
        fill_customers([case(order_id=NO_SUCH_ORDER_ID, from_order=True)], demo_orders())


def test_the_cli_rejects_such_a_dataset_before_running_any_case(tmp_path: Path) -> None:
    dataset = tmp_path / "cases.jsonl"
    dataset.write_text(json.dumps(case(order_id=NO_SUCH_ORDER_ID, from_order=True)
                                  .model_dump(mode="json")) + "\n", "utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "eval", "--dataset", str(dataset), "--catalog", str(DEMO_DATA_DIR / "catalog.jsonl"),
        "--orders", str(DEMO_DATA_DIR / "orders.jsonl"),
        "--sellers", str(DEMO_DATA_DIR / "sellers.jsonl"), "--out", str(out)])
    assert result.exit_code == 2
    assert f"{NO_SUCH_ORDER_ID} is not in the orders" in result.output
    assert not out.exists()


def test_every_dev_case_of_an_orders_customer_names_an_order_of_the_demo_data() -> None:
    cases = read_dataset(ROOT / "evals" / "datasets" / "dev.jsonl")
    own = [c for c in cases if c.customer.from_order]
    assert len(own) > 200
    filled = fill_customers(own, demo_orders())
    assert all(c.customer.email or c.customer.phone for c in filled)
