"""report.html in headless Chromium, opened from disk with the network cut: the charts render.

Needs Debian's chromium and the playwright package (never ``playwright install``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import headless_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHARTS = ("score-by-intent", "score-by-language", "latency", "outcome-confusion")


@pytest.fixture()
def page() -> Iterator[Any]:
    with headless_chromium(1280, 900) as context:
        # Self-contained means nothing is fetched: any request other than the file fails.
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        yield context.new_page(), requests


def test_report_renders_its_charts_offline(page: tuple[Any, list[str]],
                                           dev_eval: tuple[Path, dict[str, Any]]) -> None:
    opened, requests = page
    out, metrics = dev_eval
    report = out / "report.html"
    opened.goto(report.as_uri())
    for name in CHARTS:
        chart = opened.locator(f'svg.chart[data-chart="{name}"]')
        box = chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, name
        marks = chart.locator("rect.bar, rect.cell")
        assert marks.count() > 0, name
        drawn = marks.evaluate_all("els => els.filter(e => e.getBBox().height > 0).length")
        assert drawn > 0, name
    intents = opened.locator('svg.chart[data-chart="score-by-intent"] rect.bar').count()
    assert intents >= len(metrics["by"]["intent"])  # the agent's bar for every intent
    assert opened.locator("#metrics tr").count() == len(metrics["agent"]) + 1
    assert requests == [report.as_uri()]
    opened.screenshot(path=str(out / "report.png"), full_page=False)
