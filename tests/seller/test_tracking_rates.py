"""The valid tracking rate a statement uses is the billed month's, from the stored history,
never the seller record's current rate."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from agent.db import Store
from agent.records import Seller
from base.jsonl import DataFileError
from portal.auth import COOKIE
from seller.ingest import read_inputs
from seller.months import Month
from seller.statements import CSV_COLUMNS, statements_csv, statements_for
from seller.tracking import rate_for, rates_of, record_rate, seed_rates
from tests.seller.conftest import SELLER, operator_auth, order_record, refused, seller_record

TODAY = date(2026, 12, 3)
AT = datetime(2026, 12, 3, 9, tzinfo=UTC)
OCT, NOV = Month(2026, 10), Month(2026, 11)


def seed_units(store: Store) -> None:
    """100 units in August, 40 in October, 20 in November, no contact: the CPU is 0 %, the
    lowest band (0.09 EUR per unit); October costs 3.60 EUR, November 1.80 EUR in full."""
    store.save(orders=[order_record(purchased="2026-08-03", shipped="2026-08-03", quantity=2)
                       for _ in range(50)]
               + [order_record(purchased="2026-10-05", shipped="2026-10-05", quantity=4)
                  for _ in range(10)]
               + [order_record(purchased="2026-11-05", shipped="2026-11-05", quantity=2)
                  for _ in range(10)])


def test_a_month_is_billed_at_its_own_rate_not_todays(account_store: Store) -> None:
    # Today the seller record says 99 %: on its own that would make every month free.
    account_store.save(sellers=[seller_record(vtr=0.99)])
    seed_units(account_store)
    with account_store.sessions.begin() as session:
        record_rate(session, SELLER, OCT, Decimal("0.80"), "operator", AT)  # below every band
        record_rate(session, SELLER, NOV, Decimal("0.92"), "operator", AT)  # >= 90 %: half
    [october] = statements_for(account_store, SELLER, OCT, today=TODAY).statements
    assert (october.subtotal, october.total, october.discounts) == (Decimal("3.60"),
                                                                    Decimal("3.60"), [])
    assert october.valid_tracking_rate == Decimal("0.80") and october.share_charged is None
    [november] = statements_for(account_store, SELLER, NOV, today=TODAY).statements
    assert (november.subtotal, november.total) == (Decimal("1.80"), Decimal("0.90"))
    assert (november.valid_tracking_rate, november.vtr_band, november.vtr_cpu_band,
            november.share_charged, november.vtr_rule) == (
        Decimal("0.92"), "VTR ≥ 90 %", "CPU ≤ 5 %", Decimal("0.5"), "vtr.cpu_le_5.vtr_ge_90")
    assert "Valid tracking rate of 2026-11: VTR ≥ 90 %, CPU ≤ 5 %: 50 % of the fee charged." \
        in november.notes
    row = statements_csv([november]).splitlines()[1]
    assert row.endswith(",0.92,VTR ≥ 90 %,CPU ≤ 5 %,0.5")
    assert CSV_COLUMNS[-4:] == ("valid_tracking_rate", "vtr_band", "vtr_cpu_band",
                                "share_charged")


def test_a_month_without_a_recorded_rate_pays_the_full_fee_and_says_so(
        account_store: Store) -> None:
    account_store.save(sellers=[seller_record(vtr=0.99)])
    seed_units(account_store)
    [november] = statements_for(account_store, SELLER, NOV, today=TODAY).statements
    assert november.total == Decimal("1.80") and november.valid_tracking_rate is None
    assert "No valid tracking rate is recorded for 2026-11: the full fee applies." \
        in november.notes


def test_sellers_jsonl_records_its_history_and_the_current_rate_for_the_month_read(
        account_store: Store) -> None:
    seller = Seller.model_validate({
        **seller_record(vtr=0.97).model_dump(mode="json"),
        "csba": {"status": "active", "enrolled_on": "2026-01-05", "valid_tracking_rate": 0.97,
                 "valid_tracking_rates": {"2026-10": 0.91, "2026-11": "0.955"}}})
    with account_store.sessions.begin() as session:
        record_rate(session, SELLER, NOV, Decimal("0.96"), "operator", AT)
        seed_rates(session, [seller], today=TODAY, at=AT)
        seed_rates(session, [seller], today=TODAY, at=AT)  # again: nothing new
    with account_store.reads() as session:
        rows = [(r.month, r.rate, r.source) for r in rates_of(session, SELLER)]
        assert rows == [("2026-10", "0.91", "contract"),
                        ("2026-11", "0.96", "operator"),  # a file never replaces an operator
                        ("2026-12", "0.97", "contract")]  # the current rate, month read
        assert rate_for(session, SELLER, Month(2026, 9)) is None


@pytest.mark.parametrize(("history", "message"), [
    ({"2026-13": 0.9}, "a month is YYYY-MM"), ({"2026-10": 1.2}, "within 0..1"),
    ({"2026-10": "high"}, "must be a number"), (["2026-10"], "maps YYYY-MM"),
])
def test_a_bad_rate_history_is_refused_before_anything_is_written(
        tmp_path: Path, history: object, message: str) -> None:
    line = seller_record().model_dump(mode="json")
    line["csba"]["valid_tracking_rates"] = history
    path = tmp_path / "sellers.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=message):
        read_inputs(sellers=path)
    with pytest.raises(ValidationError):
        Seller.model_validate(line)


def test_operators_record_a_months_rate_over_http(client: TestClient, account_store: Store,
                                                  seller_auth: dict[str, str]) -> None:
    account_store.save(sellers=[seller_record(vtr=0.99)])
    seed_units(account_store)
    path = f"/v1/operator/sellers/{SELLER}/valid-tracking-rates"
    assert client.put(f"{path}/2026-10", json={"rate": "0.96"}).status_code == 401
    done = client.put(f"{path}/2026-10", json={"rate": "0.96"}, headers=operator_auth)
    assert done.status_code == 200, done.text
    assert done.json()["rate"] == "0.96" and done.json()["source"] == "operator"
    refused(client.put(f"{path}/2026-12", json={"rate": "0.9"}, headers=operator_auth), 422,
            "vtr.month_in_future")  # the client's clock stands on 25 November
    refused(client.put(f"{path}/2026-1", json={"rate": "0.9"}, headers=operator_auth), 422,
            "vtr.month_format")
    refused(client.put("/v1/operator/sellers/A0NOBODY/valid-tracking-rates/2026-10",
                       json={"rate": "0.9"}, headers=operator_auth), 404, "vtr.unknown_seller")
    assert client.put(f"{path}/2026-10", json={"rate": "1.5"},
                      headers=operator_auth).status_code == 422
    assert [r["month"] for r in client.get(path, headers=operator_auth).json()] == ["2026-10"]
    [october] = client.get("/v1/seller/statements/2026-10", headers=seller_auth).json()
    assert (october["total"], october["vtr_band"], october["share_charged"]) == (
        "0.00", "VTR ≥ 95 %", "0")
    [november] = client.get("/v1/seller/statements/2026-11", headers=seller_auth).json()
    assert november["total"] == "1.80" and november["valid_tracking_rate"] is None
    client.cookies.set(COOKIE, seller_auth["Authorization"].removeprefix("Bearer "))
    page = client.get("/seller/statements", params={"month": "2026-10", "lang": "en"}).text
    assert "Valid tracking rate 2026-10</td><td class=\"num\">96 %" in page
    assert "VTR table: VTR ≥ 95 %, CPU ≤ 5 %</td><td class=\"num\">0 % of the fee charged" \
        in page
    german = client.get("/seller/statements", params={"month": "2026-10"}).text  # de seller
    assert "Rate gültiger Sendungsnummern 2026-10</td><td class=\"num\">96 %" in german
