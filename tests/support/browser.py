"""Debian's Chromium, headless, driven by playwright (never ``playwright install``: the
browser is the system's, installed by ``make system-deps``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright import sync_api as sync_api  # re-exported: the tests' expect()
except ImportError:
    if os.environ.get("CI"):  # CI installs it: a missing package there is a failure
        raise
    pytest.skip("playwright is missing: pip install playwright", allow_module_level=True)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextmanager
def headless_chromium(width: int, height: int) -> Iterator[Any]:
    """A browser context with a ``width`` x ``height`` viewport; closed with its browser.
    Without the browser the test is skipped, or fails under CI (which installs it)."""
    if not CHROMIUM.exists():
        message = "Debian's chromium is missing: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": width, "height": height})
        try:
            yield context
        finally:
            context.close()
            browser.close()
