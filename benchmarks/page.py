"""The benchmarks page (docs/benchmarks.md): one section written by each benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LIMITS = "## What limits each figure"


def write_section(output: Path, text: str, marker: str) -> None:
    """Put the section headed ``marker`` into the page: in place of an earlier one (it ends
    at the next ``## `` heading, so the sections after it stay), else before the closing
    "What limits each figure" paragraph, else at the end."""
    page = output.read_text("utf-8") if output.exists() else "# Benchmarks\n"
    own = page.find(marker)
    if own != -1:
        following = page.find("\n## ", own + len(marker))
        end = following + 1 if following != -1 else len(page)
        page = page[:own] + text + "\n\n" + page[end:].lstrip("\n")
    else:
        limits = page.find(LIMITS)
        page = (page.rstrip("\n") + "\n\n" + text + "\n" if limits == -1
                else page[:limits] + text + "\n\n" + page[limits:])
    output.write_text(page, "utf-8")


TURN_TARGET = "| d. turn p95 at "
TURN_FACTOR_TARGET = 3.0
CHANNELS_FIGURES = "channels-last.json"


def turn_target_row(figures: dict[str, Any], scale: str) -> str | None:
    """The Targets table's row of section d: the slowest channel's turn p95 at ``scale``
    beside the embedding floor measured in the same run; None when that scale was not run."""
    measured = figures["scales"].get(scale)
    if not measured:
        return None
    floor = measured["floor"]["p50_ms"]
    worst = max(s["p95_ms"] for s in measured["channels"].values())
    passed = worst <= TURN_FACTOR_TARGET * floor
    return (f"{TURN_TARGET}{measured['chunks']:,} chunks, slowest channel (section d, "
            f"{figures['started']}) | {worst:.1f} ms | {floor:.1f} ms (embedding p50, same "
            f"run) | {worst / floor:.2f}x | <= {TURN_FACTOR_TARGET:.0f}x floor | "
            f"{'**PASS**' if passed else '**FAIL**'} |")


def write_target_row(output: Path, row: str, start: str = TURN_TARGET) -> None:
    """Put a section's row into the Targets table: in place of an earlier one (the row that
    begins with ``start``; section d's by default), else after the table's last row."""
    if not output.exists():
        return
    lines = output.read_text("utf-8").split("\n")
    for i, line in enumerate(lines):
        if line.startswith(start):
            lines[i] = row
            break
    else:
        try:
            heading = lines.index("## Targets")
        except ValueError:
            return
        end = heading + 1
        while end < len(lines) and not lines[end].startswith("|"):  # the blank line
            end += 1
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        lines.insert(end, row)
    output.write_text("\n".join(lines), "utf-8")
