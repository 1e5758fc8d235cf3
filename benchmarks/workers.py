"""What each benchmark subprocess measures: ingest throughput, building an index, queries.

Each worker runs in a process of its own (``python -m benchmarks.workers KIND ...``) so its
peak memory is its own, and writes its figures as JSON to the file it is given.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.derived import REAL_CHUNKS
from benchmarks.generate import DEFAULT_SEED, catalog, catalog_batches
from knowledge.chunks import chunk_page

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "knowledge" / "retrieval_questions.jsonl"
BATCH_SIZE = 64
INGEST_CHUNKS = 2000
# Pages a build makes and syncs at a time (about 38,000 chunks).
PAGES_PER_BATCH = 2000

T = TypeVar("T")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile by linear interpolation (0.5 is the median)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bench_settings(data_dir: Path, chroma_url: str | None = None,
                   database_url: str | None = None) -> Any:
    """The service's settings over ``data_dir``, with the benchmark's batch size and no .env;
    with ``chroma_url``, the vectors are those of the Chroma server there; with
    ``database_url``, the records and the lexical leg are in that database."""
    from base.settings import Settings

    return Settings(data_dir=data_dir, embedding_batch_size=BATCH_SIZE,  # type: ignore[call-arg]
                    chroma_url=chroma_url, database_url=database_url, _env_file=None)


def model_name() -> str:
    """The embedding model of this run: the service's setting (CSBA_EMBEDDING_MODEL)."""
    name: str = bench_settings(Path("var")).embedding_model
    return name


def raw_encoder(name: str) -> Callable[[list[str]], object]:
    """The model's own batch encode, with nothing of the index around it (the ingest floor):
    the e5 engine's ``encode`` of passages, or ``SentenceTransformer.encode``."""
    from knowledge.embeddings import is_e5, resolve_model_path

    if is_e5(name):
        from knowledge.e5 import engine

        model = engine()  # as the index's own (the same OpenMP settings)
        return lambda texts: model.encode(texts, is_query=False)
    from sentence_transformers import SentenceTransformer

    transformer = SentenceTransformer(resolve_model_path(name), device="cpu")
    return lambda texts: transformer.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True)


def _progress_bar(total: int, description: str) -> Any:
    from tqdm import tqdm

    # Updated at most every few seconds when written to a log file rather than a terminal.
    return tqdm(total=total, desc=description, unit="chunk", file=sys.stderr,
                mininterval=0.5 if sys.stderr.isatty() else 15.0, dynamic_ncols=True)


def _advance(bar: Any) -> Callable[[int, int], None]:
    """A sync's progress (chunks done of all) as the bar's steps."""
    return lambda done, _total: bar.update(done - bar.n)


# --- a. ingest throughput -------------------------------------------------------------------

def ingest(seed: int) -> dict[str, Any]:
    """chunks/s of ``KnowledgeIndex.sync`` into a fresh data dir vs raw ``encode``."""
    from knowledge.embeddings import load_embeddings
    from knowledge.index import KnowledgeIndex

    # Pages far from those of the query catalogs, so nothing is shared with them.
    pages = catalog(INGEST_CHUNKS, seed, start=5_000_000)
    texts = [c.index_text for p in pages for c in chunk_page(p)]
    name = model_name()
    embeddings = load_embeddings(name, batch_size=BATCH_SIZE)
    raw = raw_encoder(name)
    scratch = Path(tempfile.mkdtemp(prefix="csba-bench-ingest-"))

    def encode() -> float:
        started = time.perf_counter()
        raw(texts)
        return len(texts) / (time.perf_counter() - started)

    def sync(name: str, some: Sequence[Any]) -> float:
        index = KnowledgeIndex.open(bench_settings(scratch / name), embeddings=embeddings)
        try:
            report = index.sync(some)
        finally:
            index.close()
        return report.added / report.seconds

    try:
        # Warm both paths up (model, Chroma's and SQLite's first writes) on a few pages.
        raw(texts[:256])
        sync("warmup", catalog(256, seed, start=6_000_000))
        rounds: list[tuple[float, float]] = []
        for attempt in range(2):
            encoded = encode()
            gc.collect()
            synced = sync(f"run{attempt}", pages)
            gc.collect()
            rounds.append((encoded, synced))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    best_raw = max(r[0] for r in rounds)
    best_sync = max(r[1] for r in rounds)
    return {"model": name, "chunks": len(texts), "pages": len(pages),
            "raw_chunks_per_s": best_raw,
            "sync_chunks_per_s": best_sync, "ratio": best_sync / best_raw,
            "rounds": rounds, "peak_rss_mb": peak_rss_mb()}


# --- building an index ------------------------------------------------------------------

def read_manifest(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / "bench.json"
    if not path.exists():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return manifest


def _real_slice(scale: int, real_chunks: int | None) -> int:
    """The chunks of a scale's catalog embedded by the model (all of them with ``None``)."""
    return scale if real_chunks is None else min(scale, real_chunks)


def _start_from(data_dir: Path, scale: int, seed: int, real: int) -> str | None:
    """Make ``data_dir`` ready to build into: a cache made another way (another real slice)
    is dropped; a new one starts as a copy of the cached real slice, whose pages begin every
    larger catalog (``benchmarks.generate``), so they are not embedded again. Returns what was
    copied."""
    manifest = read_manifest(data_dir)
    # Caches from before derived fillers embedded everything.
    if manifest is not None and manifest.get("real_chunks", manifest["scale"]) != real:
        shutil.rmtree(data_dir)
    if data_dir.exists() or real == scale:
        return None
    source = data_dir.parent / f"{real}-{seed}"
    made = read_manifest(source)
    if made is None or made["scale"] != real or made.get("real_chunks", real) != real:
        return None
    shutil.copytree(source, data_dir)
    return str(source)


def build(scale: int, seed: int, data_dir: Path, real_chunks: int | None = REAL_CHUNKS,
          pages_per_batch: int = PAGES_PER_BATCH) -> dict[str, Any]:
    """Make ``data_dir`` hold exactly the catalog of ``scale`` chunks, embedding what it lacks:
    the first ``real_chunks`` chunks' worth of pages by the model, the pages beyond them with
    vectors derived from those (``benchmarks.derived``); ``real_chunks=None`` embeds all.

    The catalog is made and synced ``pages_per_batch`` pages at a time, so a build holds one
    batch's pages and chunks, never the whole catalog's (a million chunks are some 52,000
    pages); the pages of the cache that are not in the catalog are removed at the end."""
    from benchmarks.derived import DerivedVectors
    from knowledge.index import KnowledgeIndex

    started = time.perf_counter()
    real = _real_slice(scale, real_chunks)
    copied = _start_from(data_dir, scale, seed, real)
    real_pages = catalog(real, seed)
    index = KnowledgeIndex.open(bench_settings(data_dir))
    derived = embedded = added = removed = pages = 0
    wanted: set[tuple[str, str]] = set()
    try:
        # The real slice first (nothing to do when reused or copied), then the rest.
        to_add, _, _ = index.plan(real_pages)
        bar = _progress_bar(len(to_add), f"embedding {len(to_add):,} chunks")
        with bar:
            first = index.sync(real_pages, progress=_advance(bar))
        embedded = added = first.added
        embed = DerivedVectors.from_index(index.dense, real_pages, real_pages) \
            if real < scale else None
        real_keys = {page.key for page in real_pages}
        # One bar over the whole catalog: the chunks of each batch, added or found in place.
        bar = _progress_bar(scale, f"catalog of {scale:,} chunks")
        with bar:
            for batch in catalog_batches(scale, seed, pages_per_batch):
                pages += len(batch)
                wanted.update(page.key for page in batch)
                fillers = [page for page in batch if page.key not in real_keys]
                if fillers and embed is not None:
                    embed.learn(fillers)
                done = bar.n

                def step(count: int, _total: int, done: int = done) -> None:
                    bar.update(done + count - bar.n)

                # Real pages of this batch are in place (synced above): only fillers remain.
                report = index.sync(fillers, progress=step, embed=embed)
                added += report.added
                bar.update(done + sum(len(chunk_page(p)) for p in batch) - bar.n)
        if embed is not None:
            derived = embed.derived
        for asin, marketplace in sorted(index.lexical.pages() - wanted):
            removed += index.delete_page(asin, marketplace)
        chunks = index.lexical.count()
    finally:
        index.close()
    seconds = time.perf_counter() - started
    reused = added == 0 and removed == 0 and copied is None
    previous = read_manifest(data_dir) or {}
    manifest = {"scale": scale, "seed": seed, "pages": pages, "chunks": chunks,
                "real_chunks": real, "built": time.strftime("%Y-%m-%d %H:%M:%S"),
                "build_seconds": seconds, "embedded": embedded, "derived": derived,
                "peak_rss_mb": peak_rss_mb(),
                # A copy starts with the real slice's embedding, done by that scale's build.
                "real_slice_seconds": (read_manifest(Path(copied)) or {}).get("build_seconds")
                if copied else previous.get("real_slice_seconds")}
    if not reused:
        (data_dir / "bench.json").write_text(json.dumps(manifest), "utf-8")
    return {"pages": pages, "chunks": chunks, "added": added, "embedded": embedded,
            "derived": derived, "real_chunks": real, "real_pages": len(real_pages),
            "copied_from": copied, "unchanged": chunks - added, "removed": removed,
            "reused": reused, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
            # What the build that made the cache took (this one's, unless reused).
            "build_seconds": seconds if not reused else previous.get("build_seconds"),
            "build_peak_rss_mb": manifest["peak_rss_mb"] if not reused
            else previous.get("peak_rss_mb"),
            "real_slice_seconds": manifest["real_slice_seconds"] if not reused
            else previous.get("real_slice_seconds")}


# --- b/c. query latency and memory -------------------------------------------------------

def _timed(calls: list[float], function: Callable[..., T]) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            calls.append(time.perf_counter() - started)

    return wrapper


def queries(pages: Iterable[tuple[str, str]], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` customer questions: half with a marketplace filter, half with an ASIN too.

    Questions come from the labelled set (de/es/en) and keep their marketplace; an ASIN
    filter names a random page (``(asin, marketplace)``) of the index in that marketplace.
    """
    rows = [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines()]
    rng = random.Random(f"csba-bench-queries:{seed}")
    by_marketplace: dict[str, list[str]] = {}
    for asin, marketplace in sorted(pages):
        by_marketplace.setdefault(marketplace, []).append(asin)
    out = []
    for i in range(count):
        row = rng.choice(rows)
        query = {"question": row["question"], "language": row["language"],
                 "marketplace": row["marketplace"], "asins": None}
        if i % 2 and by_marketplace.get(row["marketplace"]):
            query["asins"] = [rng.choice(by_marketplace[row["marketplace"]])]
        out.append(query)
    return out


def query(scale: int, seed: int, data_dir: Path, count: int, warmup: int,
          model: Any = None, chroma_url: str | None = None) -> dict[str, Any]:
    """Latency of ``KnowledgeIndex.search`` (k=5) and of embedding the query alone; the
    vectors in the Chroma server at ``chroma_url`` when given, else in the data dir."""
    from knowledge.embeddings import load_embeddings
    from knowledge.index import KnowledgeIndex

    if model is None:
        model = load_embeddings(model_name(), batch_size=BATCH_SIZE)
        model.embed_query("Wie schwer ist die Lampe?")
    model_rss = peak_rss_mb()
    opened_at = time.perf_counter()
    index = KnowledgeIndex.open(bench_settings(data_dir, chroma_url), embeddings=model)
    open_seconds = time.perf_counter() - opened_at
    try:
        chunks = index.lexical.count()
        # The pages from the index's registry, not generated again: the process measured
        # holds what a server would, not a copy of the catalog.
        asked = queries(index.lexical.pages(), warmup + count, seed)
        gc.collect()
        embeddings = index.dense.embeddings
        embed_query = embeddings.embed_query
        parts: dict[str, list[float]] = {"embedding": [], "dense": [], "lexical": []}
        # Time each leg from inside the real search (the instance attributes shadow the
        # methods; the embedding model is wrapped so the search's own call is timed).
        # The dense leg is ``_dense_search`` where the index scopes it with the registry.
        if hasattr(index, "_dense_search"):
            index._dense_search = _timed(parts["dense"], index._dense_search)  # type: ignore[method-assign]
        else:
            index.dense.search = _timed(parts["dense"], index.dense.search)  # type: ignore[method-assign]
        index.lexical.search = _timed(parts["lexical"], index.lexical.search)  # type: ignore[method-assign]

        class TimedEmbeddings:
            def embed_query(self, text: str) -> list[float]:
                return _timed(parts["embedding"], embed_query)(text)

        index.dense.embeddings = TimedEmbeddings()  # type: ignore[assignment]
        floor: list[float] = []
        total: list[float] = []
        found = 0
        for n, q in enumerate(asked):
            # The floor and the search alternate, so both see the same machine load.
            started = time.perf_counter()
            embed_query(q["question"])
            floor_time = time.perf_counter() - started
            started = time.perf_counter()
            hits = index.search(q["question"], marketplace=q["marketplace"], asins=q["asins"],
                                language=q["language"], k=5)
            search_time = time.perf_counter() - started
            if n < warmup:
                for values in parts.values():
                    values.clear()
                continue
            floor.append(floor_time)
            total.append(search_time)
            found += bool(hits)
    finally:
        index.close()

    def summary(values: Sequence[float]) -> dict[str, float]:
        return {"p50_ms": percentile(values, 0.5) * 1000, "p95_ms": percentile(values, 0.95) * 1000,
                "mean_ms": statistics.fmean(values) * 1000}

    by_filter = {
        "marketplace": [t for t, q in zip(total, asked[warmup:], strict=True) if not q["asins"]],
        "marketplace+asin": [t for t, q in zip(total, asked[warmup:], strict=True) if q["asins"]],
    }
    return {"scale": scale, "chunks": chunks, "queries": len(total), "warmup": warmup,
            "answered": found, "open_seconds": open_seconds, "model_rss_mb": model_rss,
            "search": summary(total), "floor": summary(floor),
            "parts": {name: summary(values) for name, values in parts.items()},
            "by_filter": {name: summary(values) for name, values in by_filter.items()},
            "peak_rss_mb": peak_rss_mb()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers")
    parser.add_argument("kind", choices=("ingest", "build", "query"))
    parser.add_argument("--scale", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--real-chunks", type=int, default=REAL_CHUNKS,
                        help="build: chunks embedded by the model, the rest derived")
    parser.add_argument("--embed-all", action="store_true",
                        help="build: embed every chunk by the model")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.kind == "ingest":
        result = ingest(args.seed)
    elif args.kind == "build":
        result = build(args.scale, args.seed, args.data_dir,
                       None if args.embed_all else args.real_chunks)
    else:
        result = query(args.scale, args.seed, args.data_dir, args.queries, args.warmup)
    args.result.write_text(json.dumps(result, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
