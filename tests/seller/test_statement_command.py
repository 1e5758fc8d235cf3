"""``csba statement`` as a person runs it: the same statement as the API, or a named refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.db import Store
from base.settings import Settings
from csba.cli import app
from tests.seller.conftest import SELLER, order_record, seller_record


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("CSBA_DATA_DIR", str(data))
    store = Store.from_settings(Settings(data_dir=data, _env_file=None))  # type: ignore[call-arg]
    # enrolled in 2026-01: 40 units in July with no contact, 10 units in October
    store.save(sellers=[seller_record()],
               orders=[order_record(purchased="2026-07-02", shipped="2026-07-02", quantity=4)
                       for _ in range(10)]
               + [order_record(purchased="2026-10-02", shipped="2026-10-02", quantity=10)])
    return data


def test_the_statement_as_json_csv_and_table(data_dir: Path) -> None:
    month = "2026-10"
    runner = CliRunner()
    result = runner.invoke(app, ["statement", "--seller", SELLER, "--month", month,
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    [statement] = json.loads(result.stdout)
    # CPU July..September 0 / 40 = 0 % -> 0.09 EUR x 10 units = 0.90 EUR (VTR 90 %: none)
    assert (statement["tier"], statement["total"]) == ("cpu_le_5", "0.90")
    csv_out = runner.invoke(app, ["statement", "--seller", SELLER, "--month", month,
                                  "--format", "csv"])
    assert csv_out.stdout.splitlines()[1].startswith(f"{SELLER},DE,{month},true,EUR,DE,10,")
    table = runner.invoke(app, ["statement", "--seller", SELLER, "--month", month])
    assert "CPU ≤ 5 %" in table.stdout and "0.90 EUR" in table.stdout


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--seller", "A0NOBODY", "--month", "2026-01"], 1, "statement.unknown_seller"),
    (["--seller", SELLER, "--month", "2999-01"], 1, "statement.month_in_future"),
    (["--seller", SELLER, "--month", "2026-13"], 2, "YYYY-MM"),
    (["--seller", SELLER, "--month", "2026-01", "--marketplace", "XX"], 2, "marketplace"),
    (["--seller", SELLER, "--month", "2026-01", "--format", "pdf"], 2, "--format"),
])
def test_bad_input_exits_with_the_rule(data_dir: Path, args: list[str], code: int,
                                       says: str) -> None:
    result = CliRunner().invoke(app, ["statement", *args])
    assert result.exit_code == code, result.output
    assert says in result.output.replace("\n", "")
