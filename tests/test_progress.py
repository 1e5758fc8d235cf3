"""The progress a person sees while page fields are embedded: a bar on a terminal, two lines
with the counts anywhere else, nothing when there is nothing to embed."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from csba.progress import EmbeddingProgress


def console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=100), buffer


def test_on_a_terminal_a_bar_counts_the_chunks() -> None:
    terminal, shown = console(terminal=True)
    with EmbeddingProgress(terminal, "embedding the demo pages") as progress:
        for done in (0, 256, 300):
            progress(done, 300)
    text = shown.getvalue()
    assert "embedding the demo pages" in text and "300/300" in text and "chunks" in text
    assert "chunks to embed" not in text  # the bar, not the log lines


def test_elsewhere_one_line_at_the_start_and_one_at_the_end() -> None:
    lines: list[str] = []
    with EmbeddingProgress(console(terminal=False)[0], "embedding page fields",
                           say=lines.append) as progress:
        for done in (0, 1024, 1500):
            progress(done, 1500)
    assert len(lines) == 2, lines
    assert lines[0] == "embedding page fields: 1,500 chunks to embed"
    assert lines[1].startswith("embedding page fields: 1,500 chunks embedded in ")
    assert lines[1].endswith(" s")


def test_without_a_terminal_the_lines_go_to_the_console() -> None:
    plain, shown = console(terminal=False)
    with EmbeddingProgress(plain, "embedding page fields") as progress:
        progress(0, 3)
        progress(3, 3)
    assert shown.getvalue().splitlines()[0] == "embedding page fields: 3 chunks to embed"
    assert "\x1b[" not in shown.getvalue()  # no bar's control codes in a log


def test_nothing_to_embed_shows_nothing() -> None:
    for terminal in (True, False):
        where, shown = console(terminal=terminal)
        with EmbeddingProgress(where, "embedding page fields"):
            pass
        assert shown.getvalue() == ""


def test_a_failed_sync_says_where_it_stopped() -> None:
    lines: list[str] = []
    with pytest.raises(RuntimeError), EmbeddingProgress(
            console(terminal=False)[0], "embedding page fields", say=lines.append) as progress:
        progress(0, 2048)
        progress(1024, 2048)
        raise RuntimeError("the model process died")
    assert lines[-1].startswith("embedding page fields: stopped after 1,024 of 2,048 chunks")
