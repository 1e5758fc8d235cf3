"""The benchmarks page (docs/benchmarks.md): one section written by each benchmark."""

from __future__ import annotations

from pathlib import Path

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
