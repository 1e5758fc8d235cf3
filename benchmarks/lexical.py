"""``python -m benchmarks.lexical``: the lexical leg on SQLite FTS5 and on PostgreSQL, side by side.

At each scale, the demo catalog plus generated pages (``benchmarks.generate``) up to that many
chunks go into both legs (no vectors: only the lexical leg is measured). Then, for the labelled
questions of ``tests/knowledge/retrieval_questions.jsonl``: how often both legs return the same
top 5 (and top 20) in the same order, within the ordered product and across its marketplace;
each leg's search latency both ways; and the cost of a question's document frequencies read
from the term-count table the PostgreSQL leg keeps, against ``ts_stat`` (which reads every
document of the language on each call). PostgreSQL is a throwaway cluster on loopback
(``tests/support/postgres.py``), started with fsync off: adding measures the SQL, not the disk.

Writes section f of ``docs/benchmarks.md`` and the figures to ``var/bench/lexical-last.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.generate import catalog
from benchmarks.page import write_section
from benchmarks.workers import QUESTIONS, ROOT, percentile
from knowledge.chunks import Chunk, chunk_page
from knowledge.lexical import LexicalIndex
from knowledge.lexical_leg import LexicalLeg
from knowledge.lexical_postgres import PostgresLexicalIndex, column
from knowledge.loaders import load_catalog
from knowledge.text import query_tokens
from seller.ingest import DEMO_DATA_DIR

MARKER = "## f. Lexical leg: SQLite FTS5 and PostgreSQL"
SCALES = (10_000, 100_000, 1_000_000)
ADD_BATCH = 256  # as a sync adds them
TS_STAT_ROUNDS = 3
# Above this many chunks ts_stat (seconds per call at 100k) is not measured.
TS_STAT_SCALE = 100_000


def _chunks(scale: int) -> list[Chunk]:
    demo = [c for p in load_catalog(DEMO_DATA_DIR / "catalog.jsonl") for c in chunk_page(p)]
    filler = [c for p in catalog(max(scale - len(demo), 0)) for c in chunk_page(p)]
    return demo + filler


def _add(leg: LexicalLeg, chunks: Sequence[Chunk]) -> float:
    started = time.perf_counter()
    for start in range(0, len(chunks), ADD_BATCH):
        leg.add(chunks[start:start + ADD_BATCH])
    return len(chunks) / (time.perf_counter() - started)


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - started) * 1000


def _ts_stat_ms(postgres: PostgresLexicalIndex, language: str, terms: list[str]) -> float:
    """One question's document frequencies by ``ts_stat`` over its language's column."""
    documents = column(language)

    def frequencies() -> None:
        for term in terms:
            tagged = f"{language}_{term}"
            postgres._rows(  # noqa: SLF001 - the benchmark reads the leg's own tables
                f"SELECT max(ndoc) FROM ts_stat('SELECT {documents} FROM lexical_chunks "
                f"WHERE {documents} IS NOT NULL') WHERE word >= %s AND word < %s",
                (tagged, tagged + "\uffff"))

    return min(_timed(frequencies)[1] for _ in range(TS_STAT_ROUNDS))


def measure(scale: int, server_url: str, scratch: Path) -> dict[str, Any]:
    from tests.support.postgres import drop_database, fresh_database

    chunks = _chunks(scale)
    questions = [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines()]
    url = fresh_database(server_url)
    lite = LexicalIndex(scratch / f"lexical-{scale}.sqlite3")
    postgres = PostgresLexicalIndex(url)
    figures: dict[str, Any] = {"scale": scale, "chunks": len(chunks)}
    try:
        figures["add_per_s"] = {"sqlite": _add(lite, chunks), "postgresql": _add(postgres, chunks)}
        for scope in ("product", "marketplace"):
            latency: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
            same5 = same20 = 0
            for q in questions:
                asins = [q["asin"]] if scope == "product" else None
                languages = lite.languages(q["marketplace"], asins) | {q["language"]}
                terms = {lang: query_tokens(q["question"], lang) for lang in sorted(languages)}
                found = {}
                for name, leg in (("sqlite", lite), ("postgresql", postgres)):
                    hits, ms = _timed(partial(leg.search, terms, k=20,
                                              marketplace=q["marketplace"], asins=asins))
                    latency[name].append(ms)
                    found[name] = [h.chunk_id for h in hits]
                same5 += found["sqlite"][:5] == found["postgresql"][:5]
                same20 += found["sqlite"] == found["postgresql"]
            figures[scope] = {
                "same_top5": same5, "same_top20": same20, "questions": len(questions),
                **{f"{name}_p50_ms": percentile(v, 0.5) for name, v in latency.items()},
                **{f"{name}_p95_ms": percentile(v, 0.95) for name, v in latency.items()}}
        table, stat = [], []
        for q in questions:
            words = query_tokens(q["question"], q["language"])
            table.append(_timed(partial(postgres.document_frequencies, q["language"],
                                        words))[1])
        # ts_stat is slow: a sample of the questions, every language, up to TS_STAT_SCALE.
        for q in questions[::8] if scale <= TS_STAT_SCALE else []:
            stat.append(_ts_stat_ms(postgres, q["language"],
                                    query_tokens(q["question"], q["language"])))
        figures["frequencies_ms"] = {"table_p50": percentile(table, 0.5),
                                     "ts_stat_p50": percentile(stat, 0.5) if stat else None,
                                     "ts_stat_sampled": len(stat)}
    finally:
        lite.close()
        postgres.close()
        drop_database(server_url, url)
    return figures


def _ms(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.1f}"


def section(result: dict[str, Any]) -> str:
    lines = [MARKER, "", (
        f"Written by `python -m benchmarks.lexical`, {result['started']} (load average "
        f"{result['load']}): the demo catalog plus generated pages in both lexical legs (no "
        f"vectors), PostgreSQL {result['postgres']} on loopback with fsync off. Same top k: "
        "the labelled questions whose first k lexical hits are the same chunks in the same "
        "order on both legs. Latency: `search(k=20)` as `KnowledgeIndex.search` calls it, "
        "within the ordered product and across its marketplace. Document frequencies: one "
        "question's words, from the term-count table the PostgreSQL leg keeps on add and "
        "remove, against `ts_stat` over the language's column."), ""]
    lines += ["| chunks | scope | same top 5 | same top 20 | FTS5 p50 / p95 ms | "
              "PostgreSQL p50 / p95 ms |", "|---|---|---|---|---|---|"]
    for f in result["scales"]:
        for scope in ("product", "marketplace"):
            s = f[scope]
            lines.append(
                f"| {f['chunks']:,} | {scope} | {s['same_top5']}/{s['questions']} | "
                f"{s['same_top20']}/{s['questions']} | {s['sqlite_p50_ms']:.1f} / "
                f"{s['sqlite_p95_ms']:.1f} | {s['postgresql_p50_ms']:.1f} / "
                f"{s['postgresql_p95_ms']:.1f} |")
    lines += ["", "| chunks | add, chunks/s FTS5 | add, chunks/s PostgreSQL | "
              "frequencies p50 ms, term table | frequencies p50 ms, ts_stat |",
              "|---|---|---|---|---|"]
    for f in result["scales"]:
        lines.append(
            f"| {f['chunks']:,} | {f['add_per_s']['sqlite']:,.0f} | "
            f"{f['add_per_s']['postgresql']:,.0f} | {f['frequencies_ms']['table_p50']:.1f} | "
            f"{_ms(f['frequencies_ms']['ts_stat_p50'])} |")
    lines += ["", (
        "Within the ordered product neither leg searches the index: both read the product's "
        "few chunks and the counts of the question's terms kept with the index (the chunks "
        "whose field holds each word, or a word each prefix term begins), and compute FTS5's "
        "BM25 of those chunks in the process (`knowledge/lexical_leg.py` `rank_products`), "
        "so the product's latency stays flat as the catalog grows. Across a marketplace, "
        "PostgreSQL holds what FTS5 does not: several statements per search in one "
        "transaction, each a round trip on loopback (the term statistics, each term's IDF "
        "count over the whole index, the ranking itself), and BM25 computed by the SQL "
        "executor over every matching chunk, where FTS5 computes it in C in the process. "
        "Both grow with the chunks a question's words match.")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from tests.support.postgres import running_cluster

    parser = argparse.ArgumentParser(prog="python -m benchmarks.lexical", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=list(SCALES))
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--rewrite", action="store_true",
                        help="put section f back from the last run's figures, measuring nothing")
    args = parser.parse_args(argv)
    last = args.cache_dir / "lexical-last.json"
    if args.rewrite:
        write_section(args.output, section(json.loads(last.read_text("utf-8"))), MARKER)
        return 0
    load_start = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    scales = []
    with running_cluster() as server_url, \
            tempfile.TemporaryDirectory(prefix="csba-bench-lexical-") as tmp:
        from sqlalchemy import create_engine, text

        engine = create_engine(server_url)
        with engine.connect() as connection:
            version = str(connection.execute(text("SHOW server_version")).scalar_one())
        engine.dispose()
        for scale in args.scales:
            print(f"measuring {scale:,} chunks ...", file=sys.stderr)  # noqa: T201 - progress
            scales.append(measure(scale, server_url, Path(tmp)))
    result = {"started": started, "postgres": version, "scales": scales,
              "load": f"{load_start} at the start, "
                      f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())} at the end"}
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    last.write_text(json.dumps(result, indent=2), "utf-8")
    text_ = section(result)
    print(text_)  # noqa: T201 - the tables, also written to the page
    write_section(args.output, text_, MARKER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
