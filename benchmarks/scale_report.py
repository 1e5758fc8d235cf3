"""Section h of docs/benchmarks.md (``benchmarks.scales``): the figures per scale, the slope
over the scales, and the section's rows of the Targets table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MARKER = "## h. From a thousand to a million chunks"
FIGURES = "scales-last.json"
TARGET_SCALE = 1_000_000
BASE_SCALE = 10_000
TURN_FACTOR_TARGET = 1.5  # product-question turn p95 at most this many floors
TURN_GROWTH_TARGET = 0.10  # ... and at most this much above its value at BASE_SCALE
MEMORY_TARGET_MB = 2048.0  # peak RSS of the worker, the Chroma server measured apart
# The Targets table's rows of this section start so (``benchmarks.page.write_target_row``).
TURN_ROW = "| h. product-question turn p95 at "
GROWTH_ROW = "| h. product-question turn p95, "
MEMORY_ROW = "| h. peak RSS per worker at "
ROWS = (TURN_ROW, GROWTH_ROW, MEMORY_ROW)


def slope(points: Sequence[tuple[int, float]]) -> tuple[float, float] | None:
    """Least squares of ``value = a + b * log10(chunks)``: (a, b), b being the change per
    tenfold catalog; None with fewer than two distinct catalog sizes."""
    xs = [math.log10(chunks) for chunks, _ in points]
    if len(set(xs)) < 2:
        return None
    mean_x = sum(xs) / len(xs)
    mean_y = sum(value for _, value in points) / len(points)
    b = sum((x - mean_x) * (value - mean_y) for x, (_, value) in zip(xs, points, strict=True)) \
        / sum((x - mean_x) ** 2 for x in xs)
    return mean_y - b * mean_x, b


def verdict(passed: bool) -> str:
    return "**PASS**" if passed else "**FAIL**"


def _ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor > 0 else "n/a"


def target_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """The Targets table's rows of section h, each with the start that names it (a row of an
    earlier run with that start is replaced); "not measured" when the run did not reach the
    scales a goal names."""
    return [(next(start for start in ROWS if row.startswith(start)), row)
            for row in _rows(figures)]


def _rows(figures: dict[str, Any]) -> list[str]:
    scales: dict[str, Any] = figures["scales"]
    target = scales.get(str(TARGET_SCALE))
    base = scales.get(str(BASE_SCALE))
    when = f"section h, {figures['started']}"
    if target is None:
        return [f"{TURN_ROW}{TARGET_SCALE:,} chunks ({when}) | not measured | | | "
                f"<= {TURN_FACTOR_TARGET}x floor | n/a |",
                f"{GROWTH_ROW}{TARGET_SCALE:,} against {BASE_SCALE:,} chunks | not measured "
                f"| | | <= {1 + TURN_GROWTH_TARGET:.2f}x | n/a |",
                f"{MEMORY_ROW}{TARGET_SCALE:,} chunks | not measured | | | "
                f"< {MEMORY_TARGET_MB:,.0f} MiB | n/a |"]
    turn = target["worker"]["turn"]
    p95 = turn["product_question"]["p95_ms"]
    floor = turn["floor"]["p50_ms"]
    rows = [f"{TURN_ROW}{target['worker']['chunks']:,} chunks ({when}) | {p95:.1f} ms | "
            f"{floor:.1f} ms (embedding p50, same run) | {_ratio(p95, floor)} | "
            f"<= {TURN_FACTOR_TARGET}x floor | {verdict(p95 <= TURN_FACTOR_TARGET * floor)} |"]
    if base is not None:
        before = base["worker"]["turn"]["product_question"]["p95_ms"]
        rows.append(
            f"{GROWTH_ROW}{TARGET_SCALE:,} against {BASE_SCALE:,} chunks ({when}) | "
            f"{p95:.1f} ms | {before:.1f} ms (at {BASE_SCALE:,}, same run) | "
            f"{_ratio(p95, before)} | <= {1 + TURN_GROWTH_TARGET:.2f}x | "
            f"{verdict(p95 <= (1 + TURN_GROWTH_TARGET) * before)} |")
    else:
        rows.append(f"{GROWTH_ROW}{TARGET_SCALE:,} against {BASE_SCALE:,} chunks ({when}) | "
                    f"not measured ({BASE_SCALE:,} not in the run) | | | "
                    f"<= {1 + TURN_GROWTH_TARGET:.2f}x | n/a |")
    worker = target["worker"]["peak_rss_mb"]
    server = target["server_rss_mb"]
    rows.append(f"{MEMORY_ROW}{TARGET_SCALE:,} chunks, query and turn process (Chroma server "
                f"apart: {server:,.0f} MiB) | {worker:,.0f} MiB | "
                f"{target['worker']['model_rss_mb']:,.0f} MiB (model loaded, no index) | "
                f"{_ratio(worker, target['worker']['model_rss_mb'])} | "
                f"< {MEMORY_TARGET_MB:,.0f} MiB | {verdict(worker < MEMORY_TARGET_MB)} |")
    return rows


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def _build(build: dict[str, Any]) -> str:
    seconds = build.get("build_seconds")
    if seconds is None:
        return "reused (time not recorded)"
    text = f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"
    if build.get("real_slice_seconds"):
        text += f" + {build['real_slice_seconds'] / 60:.1f} min real slice"
    return text + (" (cached)" if build["reused"] else " (built now)")


def _fit(label: str, points: list[tuple[int, float]], unit: str) -> str:
    fitted = slope(points)
    if fitted is None:
        return f"- {label}: one scale only, no slope"
    a, b = fitted
    return f"- {label}: {b:+.1f} {unit} per tenfold catalog (fit {a:.1f} {b:+.1f}·log10 chunks)"


def section(figures: dict[str, Any]) -> str:
    scales: dict[str, Any] = figures["scales"]
    lines = [MARKER, ""]
    add = lines.append
    add(f"Written by `python -m benchmarks.scales` (`make bench-scales`; `SCALES=...` picks the "
        f"scales), {figures['started']}, in {figures['seconds'] / 60:.0f} min; load average "
        f"(1/5/15 min) {figures['load'][0]} at the start, {figures['load'][1]} at the end. "
        "Each scale is the cached catalog of `benchmarks.run` (the same pages and vectors: the "
        "first 10,000 chunks embedded by the model, the rest derived from them, "
        "`benchmarks/derived.py`: a real chunk's vector of the same language, product "
        "category and kind of field, plus Gaussian noise of norm 0.2 seeded by the chunk's "
        "id, renormalised; every chunk's text and lexical rows are real), built batch by batch "
        "of "
        f"{figures['pages_per_batch']:,} pages so that no build holds a whole catalog. Per "
        "scale, one worker process opens the index with its vectors in a Chroma server of "
        "their own (`chroma run` on the cached Chroma dir) and measures, in one run: "
        f"{figures['queries']} searches (k=5) after {figures['warmup']} warm-up ones, half "
        "scoped to one ASIN (a product question's scope), half to the marketplace; then "
        f"{figures['rounds']} rounds of the 12 turns of `benchmarks/agent_turn.py` after one "
        "warm-up round, in process (`Agent.handle`, SQLite store, the demo catalog's pages "
        "added to the index for the turns and removed after). The floor is `embed_query` of "
        "the same text right before each search and each turn. Peak RSS is `VmHWM` of the "
        "worker and, apart, of the Chroma server. Milliseconds.")
    add("")
    add("| chunks | pages | build | build peak RSS | Chroma dir | lexical file | "
        "floor p50 / p95 (beside the turns) | "
        "search +ASIN p50 / p95 | search marketplace p50 / p95 | product-question turn "
        "p50 / p95 | turn p95 / floor | all turns p95 | worker peak RSS | Chroma server "
        "peak RSS |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for figures_of in scales.values():
        worker, build, disk = figures_of["worker"], figures_of["build"], figures_of["disk"]
        q, t = worker["query"], worker["turn"]
        asin, market = q["by_filter"]["marketplace+asin"], q["by_filter"]["marketplace"]
        product = t["product_question"]
        build_rss = build.get("build_peak_rss_mb")
        add(f"| {worker['chunks']:,} | {build['pages']:,} | {_build(build)} | "
            f"{f'{build_rss:,.0f} MiB' if build_rss else 'n/a'} | "
            f"{_mib(disk['chroma_bytes'])} | {_mib(disk['lexical_bytes'])} | "
            f"{t['floor']['p50_ms']:.1f} / {t['floor']['p95_ms']:.1f} | "
            f"{asin['p50_ms']:.1f} / {asin['p95_ms']:.1f} | "
            f"{market['p50_ms']:.1f} / {market['p95_ms']:.1f} | "
            f"{product['p50_ms']:.1f} / {product['p95_ms']:.1f} | "
            f"{_ratio(product['p95_ms'], t['floor']['p50_ms'])} | "
            f"{t['turns']['p95_ms']:.1f} | {worker['peak_rss_mb']:,.0f} MiB | "
            f"{figures_of['server_rss_mb']:,.0f} MiB |")
    add("")
    add("Slope over the scales, least squares of each figure against log10(chunks):")
    add("")

    def points(pick: Any) -> list[tuple[int, float]]:
        return [(s["worker"]["chunks"], float(pick(s))) for s in scales.values()]

    add(_fit("product-question turn p95", points(
        lambda s: s["worker"]["turn"]["product_question"]["p95_ms"]), "ms"))
    add(_fit("search p95, one ASIN", points(
        lambda s: s["worker"]["query"]["by_filter"]["marketplace+asin"]["p95_ms"]), "ms"))
    add(_fit("search p95, marketplace", points(
        lambda s: s["worker"]["query"]["by_filter"]["marketplace"]["p95_ms"]), "ms"))
    add(_fit("worker peak RSS", points(lambda s: s["worker"]["peak_rss_mb"]), "MiB"))
    add(_fit("Chroma server peak RSS", points(lambda s: s["server_rss_mb"]), "MiB"))
    add("")
    add("Where a search's time goes at each scale (p50 / p95 ms): embedding, dense leg "
        "(Chroma server), lexical leg:")
    add("")
    add("| chunks | embedding | dense | lexical |")
    add("|---|---|---|---|")
    for figures_of in scales.values():
        parts = figures_of["worker"]["query"]["parts"]
        add(f"| {figures_of['worker']['chunks']:,} | " + " | ".join(
            f"{parts[name]['p50_ms']:.1f} / {parts[name]['p95_ms']:.1f}"
            for name in ("embedding", "dense", "lexical")) + " |")
    add("")
    add(_limits(scales))
    return "\n".join(lines)


def _limits(scales: dict[str, Any]) -> str:
    """What sets the figures, with the smallest and largest scale's own numbers."""
    first, last = (scales[key] for key in (min(scales, key=int), max(scales, key=int)))

    def growth(name: str) -> str:
        before, after = (of["worker"]["query"]["parts"][name]["p95_ms"] for of in (first, last))
        return f"{name} {before:.1f} to {after:.1f} ms"

    chunks = last["worker"]["chunks"]
    return (
        f"From {first['worker']['chunks']:,} to {chunks:,} chunks a search's p95 per part "
        f"went: {growth('embedding')}, {growth('dense')}, {growth('lexical')}. The embedding is "
        "the floor and does not depend on the catalog; the dense leg asks the HNSW index or "
        "ranks a product's few vectors exactly, which grows little. The lexical column mixes "
        "the two halves of the searches: within a product the leg reads the product's rows "
        "and the term counts kept with the index, whatever the catalog's size (section f); "
        "across a marketplace an FTS5 `MATCH` computes BM25 for every chunk that holds one of "
        "the question's words, which grows with the catalog and is the column's p95. So the "
        "product-question turn stays flat while a marketplace-wide search grows (the slopes "
        "above). Before product-scoped ranking, a product's search ran that `MATCH` over the "
        "whole catalog and kept the product's rows after it: the turn's p95 at 1,000,008 chunks "
        "was then 182.7 ms, 2.15x its 85.1 ms at 10,002 (2026-12-04 22:20 UTC, load average "
        "2-3). The worker's memory does not "
        "grow with the catalog (the model, the agent, SQLite's page caches): the vectors and "
        "the HNSW graph are the Chroma server's, about 2 KiB per chunk at 384 dimensions, "
        f"{last['server_rss_mb']:,.0f} MiB at {chunks:,} chunks. A build with embedded "
        "Chroma holds that index in the build process, hence its peak at the largest scale. "
        "On disk, Chroma's dir holds the vectors, the HNSW graph, and each chunk's text and "
        "metadata in its SQLite file; the lexical file the chunk rows and the FTS5 index. "
        "Each run adds the demo pages to the index and removes them, so a Chroma dir grows by "
        "a few MiB a run (HNSW marks removed vectors deleted). Every figure here shares the "
        "two cores with whatever else the machine runs (the load average above).")
