import json
from pathlib import Path

import pytest

from agent.records import Order, Seller
from base.jsonl import DataFileError, read_jsonl
from seller.ingest import DEMO_DATA_DIR


@pytest.mark.parametrize(("change", "needle"), [
    ({"order_id": "12345"}, "field 'order_id'"),
    ({"fulfillment_channel": "FBM"}, "field 'fulfillment_channel'"),
    ({"items": []}, "field 'items'"),
    ({"purchase_date": "yesterday"}, "field 'purchase_date'"),
    ({"status": "delivered", "delivery_date": None, "estimated_delivery_date": None},
     "needs delivery_date"),
])
def test_bad_order_lines_are_rejected_with_line_and_field(
        tmp_path: Path, change: dict[str, object], needle: str) -> None:
    row = json.loads((DEMO_DATA_DIR / "orders.jsonl").read_text("utf-8").splitlines()[0])
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, **change}) + "\n", "utf-8")
    with pytest.raises(DataFileError) as caught:
        read_jsonl(path, Order)
    assert f"{path}:2" in str(caught.value) and needle in str(caught.value)


def test_opted_out_seller_needs_a_date_and_covers_only_enrolled_orders(tmp_path: Path) -> None:
    sellers = {s.seller_id: s for s in read_jsonl(DEMO_DATA_DIR / "sellers.jsonl", Seller)}
    delizie = sellers["A7DELIZIE"].csba
    from datetime import date
    assert delizie.covers(date(2026, 10, 14)) and not delizie.covers(date(2026, 10, 15))
    assert not delizie.covers(date(2026, 1, 1))
    raw = sellers["A7DELIZIE"].model_dump(mode="json")
    raw["csba"]["opted_out_on"] = None
    path = tmp_path / "sellers.jsonl"
    path.write_text(json.dumps(raw) + "\n", "utf-8")
    with pytest.raises(DataFileError, match="opted_out_on is required"):
        read_jsonl(path, Seller)
