"""The dev eval, run once per test session through the same code path as ``csba eval``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from base.settings import Settings
from evals.dataset import read_dataset
from evals.report import write_reports
from evals.runner import run_dataset
from seller.ingest import DEMO_DATA_DIR, read_inputs

ROOT = Path(__file__).resolve().parents[2]
THRESHOLDS = ROOT / "evals" / "thresholds.json"


@pytest.fixture(scope="session")
def thresholds() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(THRESHOLDS.read_text("utf-8"))
    return loaded


@pytest.fixture(scope="session")
def dev_eval(tmp_path_factory: pytest.TempPathFactory, embeddings: Embeddings,
             thresholds: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """(output dir, metrics) of the dev dataset over the bundled demo data."""
    dataset = ROOT / thresholds["dataset"]
    out = tmp_path_factory.mktemp("dev-eval")
    data = read_inputs(catalogs=[DEMO_DATA_DIR / "catalog.jsonl"],
                       orders=DEMO_DATA_DIR / "orders.jsonl",
                       sellers=DEMO_DATA_DIR / "sellers.jsonl")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    runs = run_dataset(read_dataset(dataset), data, out, settings=settings,
                       embeddings=embeddings)
    return out, write_reports(runs, out, dataset)
