"""One scale of ``benchmarks.scales``, measured in a process of its own (a worker of the
service as it would run against a Chroma server): query latency, product-question turn latency,
the embedding floor and this process's peak memory.

``python -m benchmarks.scale_worker measure ...`` opens the scale's cached index with its
vectors in the Chroma server at ``--chroma-url`` (the server's memory is measured apart by the
caller), runs the queries of ``benchmarks.workers.query``, then agent turns as
``benchmarks.agent_turn`` makes them: the demo catalog's pages are added to the index for the
turns (their vectors read from ``--demo-vectors``, embedded once by the model) and removed
after, so the cache stays the scale's catalog. ``demo-vectors`` writes that file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from datetime import time as day_time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.agent_turn import TURNS
from benchmarks.workers import (
    BATCH_SIZE,
    bench_settings,
    model_name,
    peak_rss_mb,
    percentile,
    query,
)

# The agent's intent for a question about the ordered product's page.
PRODUCT_QUESTION = "product_question"


def demo_vectors(path: Path) -> int:
    """Embed the demo catalog's chunks by the model once and keep their vectors in ``path``
    (ids and a float32 matrix): every scale's turns add the same pages."""
    from knowledge.chunks import chunk_page
    from knowledge.embeddings import load_embeddings
    from seller.ingest import demo_data

    chunks = [c for page in demo_data().pages for c in chunk_page(page)]
    model = load_embeddings(model_name(), batch_size=BATCH_SIZE)
    vectors = np.asarray(model.embed_documents([c.index_text for c in chunks]),
                         dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:  # np.savez would add ".npz" to a name without it
        np.savez(out, ids=np.asarray([c.chunk_id for c in chunks]), vectors=vectors)
    return len(chunks)


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": percentile(values, 0.5), "p95_ms": percentile(values, 0.95),
            "mean_ms": statistics.fmean(values), "count": float(len(values))}


def turns(data_dir: Path, chroma_url: str | None, vectors_path: Path, rounds: int,
          model: Any) -> dict[str, Any]:
    """Agent turns over the scale's index with the demo data's orders and pages; each turn
    right after the floor (``embed_query`` of its text), so both see the same machine load."""
    from agent.core import Agent
    from agent.db import Store, make_engine
    from agent.messages import InboundMessage
    from agent.understanding import classify_intent, detect_language
    from base.blas import one_blas_thread
    from base.settings import Settings
    from knowledge.chunks import Chunk
    from knowledge.index import KnowledgeIndex
    from seller.ingest import DEMO_DATA_DAY, demo_data

    stored = np.load(vectors_path)
    known = dict(zip((str(i) for i in stored["ids"]), stored["vectors"], strict=True))

    def embed(chunks: Sequence[Chunk]) -> list[list[float]]:
        missing = [c.chunk_id for c in chunks if c.chunk_id not in known]
        if missing:
            raise RuntimeError(f"{vectors_path} lacks {len(missing)} demo chunks (the demo "
                               "catalog changed): delete it, the next run embeds them again")
        return [known[c.chunk_id].tolist() for c in chunks]

    data = demo_data()
    index = KnowledgeIndex.open(bench_settings(data_dir, chroma_url), embeddings=model)
    floor: list[float] = []
    by_intent: dict[str, list[float]] = {}
    try:
        index.sync(data.pages, embed=embed)
        with tempfile.TemporaryDirectory(prefix="csba-bench-turns-") as scratch:
            settings = Settings(data_dir=Path(scratch), _env_file=None)  # type: ignore[call-arg]
            store = Store(make_engine(settings.resolved_database_url))
            store.save(sellers=data.sellers, orders=data.orders, pages=data.pages)
            agent = Agent(store, index, portal_url="http://127.0.0.1:8000/seller")
            received_at = datetime.combine(DEMO_DATA_DAY, day_time(10), tzinfo=UTC)
            classify_intent("warm up", "en")
            detect_language("warm up the detector", "en")
            one_blas_thread()  # as the server runs its turns (base/blas.py)
            # Round 0 warms up (the model, SQLite's pages, Chroma's HNSW index in the server).
            for n in range(rounds + 1):
                for i, (order_id, email, text) in enumerate(TURNS):
                    started = time.perf_counter()
                    model.embed_query(text)
                    floor_ms = (time.perf_counter() - started) * 1000
                    msg = InboundMessage(
                        channel="email", sender=email, text=f"{text} ({order_id})",
                        thread_key=f"bench-{n}-{i}", received_at=received_at,
                        verified_contact=email, provider_message_id=f"bench-{n}-{i}")
                    started = time.perf_counter()
                    reply = agent.handle(msg)
                    turn_ms = (time.perf_counter() - started) * 1000
                    if n:
                        floor.append(floor_ms)
                        by_intent.setdefault(reply.intent, []).append(turn_ms)
            store.engine.dispose()
    finally:
        for page in data.pages:  # the cache holds the scale's catalog alone again
            index.delete_page(page.asin, page.marketplace)
        # Both legs lost the same chunks: the collection still matches the registry, as a
        # sync would record (else the next build compares a million ids to find that out).
        index.lexical.mark_matched(index.dense.name, index.lexical.version())
        index.close()
    every = [v for values in by_intent.values() for v in values]
    product = by_intent.get(PRODUCT_QUESTION, [])
    if not product:
        raise RuntimeError("no turn was read as a product question: nothing to measure")
    return {"rounds": rounds, "turns": _summary(every), "product_question": _summary(product),
            "floor": _summary(floor),
            "by_intent": {name: _summary(values) for name, values in sorted(by_intent.items())}}


def measure(scale: int, seed: int, data_dir: Path, chroma_url: str | None, vectors_path: Path,
            queries: int, warmup: int, rounds: int) -> dict[str, Any]:
    from knowledge.embeddings import load_embeddings

    # On the threads `csba serve` gives the model (one): the turns then embed a message
    # beside its storing, as the server does (KnowledgeIndex.prepare).
    model = load_embeddings(model_name(), batch_size=BATCH_SIZE,
                            threads=bench_settings(Path("var")).serve_torch_threads)
    model.embed_query("Wie schwer ist die Lampe?")
    model_rss = peak_rss_mb()
    searched = query(scale, seed, data_dir, queries, warmup, model=model, chroma_url=chroma_url)
    turned = turns(data_dir, chroma_url, vectors_path, rounds, model)
    return {"scale": scale, "chunks": searched["chunks"], "model_rss_mb": model_rss,
            "query": searched, "turn": turned, "peak_rss_mb": peak_rss_mb()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_worker")
    parser.add_argument("kind", choices=("measure", "demo-vectors"))
    parser.add_argument("--scale", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--chroma-url")
    parser.add_argument("--demo-vectors", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--result", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.kind == "demo-vectors":
        demo_vectors(args.demo_vectors)
        return 0
    if args.data_dir is None or args.result is None:
        parser.error("measure needs --data-dir and --result")
    result = measure(args.scale, args.seed, args.data_dir, args.chroma_url, args.demo_vectors,
                     args.queries, args.warmup, args.rounds)
    args.result.write_text(json.dumps(result, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
