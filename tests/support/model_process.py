"""The embedding model's child process, found and killed from a test as it starts."""

from __future__ import annotations

import os
import signal
import time

import psutil


def kill_first_model_child(parent: int, before: set[int], seconds: float = 120) -> int:
    """SIGKILL the first model process ``parent`` starts (one not in ``before``), as soon as
    it exists: while it is still loading the model. Returns its pid."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for child in psutil.Process(parent).children(recursive=True):
            try:
                started = child.pid not in before and \
                    any("spawn_main" in part for part in child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if started:
                os.kill(child.pid, signal.SIGKILL)
                return child.pid
        time.sleep(0.01)
    raise AssertionError("no model process was started")
