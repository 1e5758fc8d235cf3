"""``python -m benchmarks.scales``: the catalog from 1,000 to 1,000,000 chunks (section h).

Per scale, in one run: build the catalog or reuse its cache (``benchmarks.workers build``,
batch by batch; its build time, peak memory and size on disk), start a Chroma server on its
Chroma dir, and measure in a worker process (``benchmarks.scale_worker``) the query and
product-question turn latency beside the embedding floor and the worker's peak memory; the
server's peak memory is measured apart. Then the slope over the scales. The figures go to
``var/bench/scales-last.json`` and into ``docs/benchmarks.md`` as section h with rows of its
Targets table (``benchmarks.run`` puts those rows back when it rewrites the page).

A cached scale is measured again without a rebuild; ``--cached`` also skips checking its pages
against the catalog. The million's turn goal is set against the 10,000 scale of the same run,
so asking for 1,000,000 measures 10,000 too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.derived import REAL_CHUNKS
from benchmarks.generate import DEFAULT_SEED
from benchmarks.page import write_section, write_target_row
from benchmarks.run import load_average
from benchmarks.scale_report import (
    BASE_SCALE,
    FIGURES,
    MARKER,
    TARGET_SCALE,
    section,
    target_rows,
)
from benchmarks.workers import PAGES_PER_BATCH, ROOT, model_name, read_manifest
from tests.scale.serving import child_pids
from tests.support.net import answers, free_port

DEFAULT_SCALES = (1_000, 10_000, 100_000, 1_000_000)


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def _run(module: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", module, *args], check=True, cwd=ROOT, env=_env())


def disk_usage(path: Path) -> int:
    """Bytes of the files under ``path`` (or of the file), as allocated on disk: HNSW files
    are sparse until written."""
    if not path.exists():
        return 0
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_blocks * 512 for p in files)


def lexical_usage(data_dir: Path) -> int:
    """The lexical SQLite file with its write-ahead log and shared memory, if any."""
    return sum(disk_usage(data_dir / f"lexical.sqlite3{suffix}") for suffix in ("", "-wal", "-shm"))


def peak_rss_mb(pid: int) -> float:
    """``VmHWM`` of ``pid`` and the processes it started, in MiB (0 for one that ended)."""
    total = 0.0
    for each in (pid, *child_pids(pid)):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


@contextmanager
def chroma_server(path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``chroma run`` on ``path`` on loopback; yields its URL and process once it answers."""
    exe = Path(sys.executable).with_name("chroma")
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([str(exe), "run", "--path", str(path), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers(f"{url}/api/v2/heartbeat", proc, 300):
            log.seek(0)
            raise RuntimeError(f"the Chroma server on {path} did not start: "
                               f"{log.read()[-2000:].decode(errors='replace')}")
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def cached_build(data_dir: Path, scale: int, seed: int) -> dict[str, Any] | None:
    """The figures of the build that made ``data_dir``, from its manifest, when it was made
    for this scale and seed with the default real slice; None otherwise. ``--cached`` trusts
    them instead of checking the cache page by page (minutes at a million chunks)."""
    manifest = read_manifest(data_dir)
    if (manifest is None or manifest.get("scale") != scale or manifest.get("seed") != seed
            or manifest.get("real_chunks") != min(scale, REAL_CHUNKS)):
        return None
    return {"pages": manifest["pages"], "chunks": manifest["chunks"], "reused": True,
            "checked": False, "build_seconds": manifest.get("build_seconds"),
            "build_peak_rss_mb": manifest.get("peak_rss_mb"),
            "real_slice_seconds": manifest.get("real_slice_seconds")}


def measure_scale(scale: int, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    data_dir = args.cache_dir / f"{scale}-{args.seed}"
    load = load_average()
    build = cached_build(data_dir, scale, args.seed) if args.cached else None
    if build is None:
        built = scratch / f"build-{scale}.json"
        _run("benchmarks.workers", "build", "--scale", str(scale), "--seed", str(args.seed),
             "--data-dir", str(data_dir), "--result", str(built))
        build = json.loads(built.read_text("utf-8"))
    disk = {"chroma_bytes": disk_usage(data_dir / "chroma"),
            "lexical_bytes": lexical_usage(data_dir)}
    measured = scratch / f"measure-{scale}.json"
    with chroma_server(data_dir / "chroma") as (url, server):
        _run("benchmarks.scale_worker", "measure", "--scale", str(scale),
             "--seed", str(args.seed), "--data-dir", str(data_dir), "--chroma-url", url,
             "--demo-vectors", str(args.demo_vectors), "--queries", str(args.queries),
             "--warmup", str(args.warmup), "--rounds", str(args.rounds),
             "--result", str(measured))
        server_rss = peak_rss_mb(server.pid)
    worker: dict[str, Any] = json.loads(measured.read_text("utf-8"))
    return {"build": build, "disk": disk, "worker": worker, "server_rss_mb": server_rss,
            "load_at_start": load}


def write(figures: dict[str, Any], output: Path) -> None:
    write_section(output, section(figures), MARKER)
    for start, row in target_rows(figures):
        write_target_row(output, row, start)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scales", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default=",".join(str(s) for s in DEFAULT_SCALES),
                        help="comma-separated chunk counts, e.g. 1000,10000,100000,1000000")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--queries", type=int, default=200, help="timed searches per scale")
    parser.add_argument("--warmup", type=int, default=20, help="untimed searches first")
    parser.add_argument("--rounds", type=int, default=20,
                        help="timed rounds of the 12 agent turns per scale")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--cached", action="store_true",
                        help="trust a cached scale's manifest instead of checking its pages "
                             "against the catalog: a re-measure of the million starts at once")
    parser.add_argument("--rewrite", action="store_true",
                        help="measure nothing: write section h again from the last run's "
                             f"figures (var/bench/{FIGURES})")
    args = parser.parse_args(argv)
    args.scales = tuple(sorted({int(s.replace("_", "")) for s in args.scales.split(",")
                                if s.strip()}))
    if not args.scales or min(args.scales) <= 0:
        parser.error("--scales needs positive chunk counts")
    if TARGET_SCALE in args.scales and BASE_SCALE not in args.scales:
        # The million's turn goal is measured against the 10,000 scale of the same run.
        args.scales = tuple(sorted((*args.scales, BASE_SCALE)))
    args.demo_vectors = args.cache_dir / f"demo-vectors-{model_name()}.npz"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.rewrite:
        write(json.loads((args.cache_dir / FIGURES).read_text("utf-8")), args.output)
        return 0
    started = datetime.now().astimezone()
    clock = time.perf_counter()
    load_start = load_average()
    if not args.demo_vectors.exists():
        print(f"embedding the demo catalog once into {args.demo_vectors}", file=sys.stderr)  # noqa: T201
        _run("benchmarks.scale_worker", "demo-vectors", "--demo-vectors", str(args.demo_vectors))
    scales: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="csba-bench-scales-") as tmp:
        for scale in args.scales:
            print(f"--- {scale:,} chunks", file=sys.stderr)  # noqa: T201
            scales[str(scale)] = measure_scale(scale, args, Path(tmp))
            turn = scales[str(scale)]["worker"]["turn"]
            print(f"product-question turn p95 {turn['product_question']['p95_ms']:.1f} ms, "  # noqa: T201
                  f"floor p50 {turn['floor']['p50_ms']:.1f} ms", file=sys.stderr)
    figures = {"started": started.strftime("%Y-%m-%d %H:%M %Z"),
               "seconds": time.perf_counter() - clock, "load": [load_start, load_average()],
               "seed": args.seed, "queries": args.queries, "warmup": args.warmup,
               "rounds": args.rounds, "pages_per_batch": PAGES_PER_BATCH, "scales": scales}
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    (args.cache_dir / FIGURES).write_text(json.dumps(figures, indent=2), "utf-8")
    write(figures, args.output)
    print(f"section h written to {args.output}", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
