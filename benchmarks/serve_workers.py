"""``python -m benchmarks.serve_workers``: the 50 concurrent chat loads, one server process
beside ``csba serve --workers N``.

The loads of section d (50 conversations of 4 turns, back to back and paced as customers), on
the demo data, against a real ``csba serve`` started with each worker count in turn (by
default 1 and the count ``csba serve`` picks on this machine), on SQLite and on PostgreSQL.
Beside them, the embedding floor of the same run and the peak RSS of every process of the
server (supervisor, workers, their model processes). The figures go to
``var/bench/serve-workers-last.json`` and into ``docs/benchmarks.md`` as its section g.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.agent_turn import TURNS
from benchmarks.channels import (
    CONCURRENT_TARGET_MS,
    PACE_SECONDS,
    concurrent_chats,
    data_dir_for,
    embedding_floor,
    optional_cluster,
    peak_rss_mb,
    postgres_records,
    serving,
    summary,
    verdict,
)
from benchmarks.generate import DEFAULT_SEED
from benchmarks.page import write_section
from benchmarks.workers import ROOT
from seller.ingest import DEMO_DATA_DAY
from tests.scale.serving import ServerProcess, child_pids

MARKER = "## g. Several server processes"


def tree_peak_rss_mb(pid: int) -> float:
    """Peak RSS of ``pid`` and of every process under it, summed."""
    return peak_rss_mb(pid) + sum(tree_peak_rss_mb(child) for child in child_pids(pid))


def loads(server: ServerProcess) -> dict[str, Any]:
    assert server.proc is not None
    concurrent_chats(server, 5, 1)  # warm up every worker's first turn, untimed
    back_to_back = concurrent_chats(server, 50, 4)
    paced = concurrent_chats(server, 50, 4, PACE_SECONDS)
    return {"back_to_back": back_to_back, "paced": paced,
            "peak_rss_mb": tree_peak_rss_mb(server.proc.pid)}


def measure(counts: list[int], cache: Path, postgres: str | None) -> dict[str, Any]:
    data_dir = data_dir_for("demo", DEFAULT_SEED, cache)
    texts = [text for _, _, text in TURNS]
    floor = embedding_floor(texts, 2)
    runs: dict[str, dict[str, Any]] = {"SQLite": {}, "PostgreSQL": {}}
    with tempfile.TemporaryDirectory(prefix="csba-sw-") as tmp:
        for count in counts:
            print(f"{count} worker(s) on SQLite ...", file=sys.stderr)  # noqa: T201 - progress
            with serving(data_dir, Path(tmp), workers=count) as server:
                runs["SQLite"][str(count)] = loads(server)
            if postgres:
                print(f"{count} worker(s) on PostgreSQL ...", file=sys.stderr)  # noqa: T201
                database_url = postgres_records(postgres, data_dir)
                with serving(data_dir, Path(tmp), database_url, workers=count) as server:
                    runs["PostgreSQL"][str(count)] = loads(server)
    floor += embedding_floor(texts, 2)
    return {"floor": summary(floor), "runs": {k: v for k, v in runs.items() if v}}


def section(figures: dict[str, Any]) -> str:
    floor = figures["floor"]
    lines = [MARKER, ""]
    add = lines.append
    add(f"Written by `python -m benchmarks.serve_workers` (`make bench`), {figures['started']} "
        f"on {figures['cores']} cores; load average {figures['load'][0]} at the start, "
        f"{figures['load'][1]} at the end. The 50-conversation loads of section d on the demo "
        "data, against a real `csba serve --workers N` per row (N worker processes on one "
        "port, each with its own model process; by default `csba serve` runs one per core on "
        "PostgreSQL, one on SQLite). The floor is `embed_query` of the "
        f"turns' texts in the benchmark's process: p50 {floor['p50_ms']:.1f} ms, p95 "
        f"{floor['p95_ms']:.1f} ms. Peak RSS is every process of the server summed "
        "(supervisor, workers, model processes).")
    add("")
    add("| database | workers | load | turns/s | p50 ms | p95 ms | p95 / floor p50 | max ms | "
        f"5xx retried | p95 < {CONCURRENT_TARGET_MS:.0f} ms | peak RSS |")
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    for database, runs in figures["runs"].items():
        for count, run in runs.items():
            for how, key in (("paced", "paced"), ("back to back", "back_to_back")):
                load = run[key]
                add(f"| {database} | {count} | {how} | {load['turns_per_s']:.1f} | "
                    f"{load['p50_ms']:.0f} | {load['p95_ms']:.0f} | "
                    f"{load['p95_ms'] / floor['p50_ms']:.0f}x | {load['max_ms']:.0f} | "
                    f"{load['retried_5xx']} | {verdict(load['p95_ms'] < CONCURRENT_TARGET_MS)} | "
                    f"{run['peak_rss_mb']:,.0f} MiB |")
    add("")
    for database, runs in figures["runs"].items():
        one = runs.get("1")
        if one:
            add(f"On {database}, against one process: " + "; ".join(
                f"{count} workers {against(run, one)}" for count, run in runs.items()
                if count != "1") + ".")
            add("")
    return "\n".join(lines)


def against(run: dict[str, Any], one: dict[str, Any]) -> str:
    throughput = run["back_to_back"]["turns_per_s"] / one["back_to_back"]["turns_per_s"]
    paced = run["paced"]["p95_ms"] / one["paced"]["p95_ms"]
    return f"{throughput:.2f}x the turns/s back to back, {paced:.2f}x the paced p95"


def main(argv: list[str] | None = None) -> int:
    # The servers answer on the demo data's own day (they inherit this), whatever the run's date.
    os.environ.setdefault("CSBA_CLOCK_START", f"{DEMO_DATA_DAY.isoformat()}T10:00:00+00:00")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_workers",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default=f"1,{os.cpu_count() or 1}",
                        help="comma-separated worker counts, one server each")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--rewrite", action="store_true",
                        help="put section g back from the last run's figures, measuring nothing")
    args = parser.parse_args(argv)
    last = args.cache_dir / "serve-workers-last.json"
    if args.rewrite:
        write_section(args.output, section(json.loads(last.read_text("utf-8"))), MARKER)
        return 0
    counts = sorted({int(n) for n in args.workers.split(",")})
    load_start = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with ExitStack() as stack:
        postgres = None if args.no_postgres else optional_cluster(stack)
        measured = measure(counts, args.cache_dir, postgres)
    figures = {"started": started, "cores": os.cpu_count(),
               **measured, "load": [load_start, " / ".join(f"{v:.2f}" for v in os.getloadavg())]}
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    last.write_text(json.dumps(figures, indent=2), "utf-8")
    write_section(args.output, section(figures), MARKER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
