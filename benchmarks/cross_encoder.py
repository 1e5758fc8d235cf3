"""``python -m benchmarks.cross_encoder``: what the cross-checked answer decision costs a turn.

Over the product questions of ``tests/knowledge/retrieval_questions.jsonl`` and
``tests/agent/unanswerable_questions.jsonl`` on the demo catalog (default model), each asked
as the agent asks it (``answer_product_question``, the ordered product's pages): the time of
the answer with the calibrated decision and with the cross-checked one
(``CSBA_ANSWER_DECISION=cross``), how many (question, field) pairs the cross-encoder read per
question, and, in the same run, the floor: one query embedding of the same questions, and one
pair read by the cross-encoder alone. The cross-encoder runs in the turn's process on the e5
engine, one thread, as ``csba serve`` runs it.

Writes section i of ``docs/benchmarks.md`` and the figures to
``var/bench/cross-encoder-last.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

from base.jsonl import iter_json_lines
from benchmarks.models import UNANSWERABLE
from benchmarks.page import write_section
from benchmarks.workers import QUESTIONS, ROOT, percentile

MARKER = "## i. The cross-checked answer decision"


def _rows(path: Path) -> list[dict[str, Any]]:
    return [cast(dict[str, Any], row) for _, row in iter_json_lines(path)]


def _timed(call: Callable[[], object]) -> float:
    """Milliseconds ``call`` took."""
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _rss_mb() -> float:
    """This process's resident memory now, in MiB."""
    status = Path("/proc/self/status").read_text(encoding="ascii")
    return int(next(line.split()[1] for line in status.splitlines()
                    if line.startswith("VmRSS:"))) / 1024


def _summary(ms: list[float]) -> dict[str, float]:
    return {"p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95), "mean": statistics.fmean(ms)}


def measure(scratch: Path) -> dict[str, Any]:
    from agent.answer_decision import AnswerDecision, CrossChecked, decision_for
    from agent.product_answers import answer_product_question
    from base.settings import Settings
    from knowledge.e5 import E5_MODEL
    from knowledge.embeddings import load_embeddings
    from knowledge.index import KnowledgeIndex
    from knowledge.loaders import load_catalog
    from seller.ingest import DEMO_DATA_DIR

    pages = load_catalog(DEMO_DATA_DIR / "catalog.jsonl")
    titles = {p.asin: p.title for p in pages}
    # One thread, as ``csba serve`` gives the model by default: the engine's threads are set
    # for the whole process when its library first loads, the cross-encoder's included.
    embeddings = load_embeddings(E5_MODEL, threads=Settings(  # type: ignore[call-arg]
        _env_file=None).serve_torch_threads)
    settings = Settings(data_dir=scratch, embedding_model=E5_MODEL,  # type: ignore[call-arg]
                        _env_file=None)
    index = KnowledgeIndex.open(settings, embeddings=embeddings)
    calibrated = decision_for(E5_MODEL, choice="calibrated")
    rss_before = _rss_mb()
    load_ms = _timed(partial(decision_for, E5_MODEL, choice="cross"))
    rss_loaded = _rss_mb()
    cross = decision_for(E5_MODEL, choice="cross")
    if not isinstance(cross, CrossChecked):
        raise SystemExit(f"no cross-checked decision for {E5_MODEL}")
    scorer = cross.scorer
    pairs_read: list[int] = []

    class Counting:
        """The same scorer, counting the pairs each question has it read."""

        def scores(self, question: str, fields: Sequence[str]) -> list[float]:
            pairs_read.append(len(fields))
            return scorer.scores(question, fields)

    counted = CrossChecked(cross.fitted, Counting(), cross.bar)
    try:
        index.sync(pages)
        questions = _rows(QUESTIONS) + _rows(UNANSWERABLE)
        scorer.scores("warm", ["up"])
        decisions: tuple[tuple[str, AnswerDecision], ...] = (
            ("calibrated", calibrated), ("cross", counted))
        floor_ms: list[float] = []
        pair_ms: list[float] = []
        by_decision: dict[str, list[float]] = {"calibrated": [], "cross": []}
        per_question: list[int] = []
        for q in questions:
            floor_ms.append(_timed(partial(embeddings.embed_query, q["question"])))
            pair_ms.append(_timed(partial(scorer.scores, q["question"], [titles[q["asin"]]])))
            for name, decision in decisions:
                before = len(pairs_read)
                by_decision[name].append(_timed(partial(
                    answer_product_question, index, q["question"], language=q["language"],
                    marketplace=q["marketplace"], asins=[q["asin"]],
                    product_names=titles[q["asin"]], decision=decision)))
                index.forget(q["question"])
                if name == "cross":
                    per_question.append(sum(pairs_read[before:]))
    finally:
        index.close()
    return {"questions": len(questions), "threads": os.environ.get("OMP_NUM_THREADS", "all"),
            "load_ms": load_ms, "rss_mb": {"before": rss_before, "loaded": rss_loaded,
                                           "end": _rss_mb()},
            "query_ms": _summary(floor_ms),
            "one_pair_ms": _summary(pair_ms),
            "answer_ms": {name: _summary(ms) for name, ms in by_decision.items()},
            "pairs_per_question": {"mean": statistics.fmean(per_question),
                                   "max": max(per_question),
                                   "none": sum(1 for n in per_question if n == 0)}}


def section(f: dict[str, Any]) -> str:
    def row(name: str, s: dict[str, float]) -> str:
        return f"| {name} | {s['p50']:.1f} | {s['p95']:.1f} |"

    pairs = f["pairs_per_question"]
    return "\n".join([
        MARKER, "",
        f"Written by `python -m benchmarks.cross_encoder` (`make bench`), {f['started']}: the "
        f"{f['questions']} product questions of `tests/knowledge/retrieval_questions.jsonl` "
        "and `tests/agent/unanswerable_questions.jsonl` on the demo catalog, each answered as "
        "the agent answers it (the ordered product's page) with the calibrated decision (the "
        "default) and with the cross-checked one (`CSBA_ANSWER_DECISION=cross`), beside the "
        "floor measured in the same run: one query embedding, and the cross-encoder reading "
        f"one pair. The cross-encoder on the e5 engine ({f['threads']} thread(s)), as `csba "
        f"serve` runs it in the turn's process. Load average {f['load']}.", "",
        "| step | p50 ms | p95 ms |", "|---|---|---|",
        row("one query embedding (floor)", f["query_ms"]),
        row("the cross-encoder reading one pair", f["one_pair_ms"]),
        row("product answer, calibrated decision", f["answer_ms"]["calibrated"]),
        row("product answer, cross-checked decision", f["answer_ms"]["cross"]), "",
        f"Pairs the cross-encoder read per question: {pairs['mean']:.1f} on average, at most "
        f"{pairs['max']}; {pairs['none']} of {f['questions']} questions needed none (no field "
        "whose calibrated probability could reach the bar, or an attribute holding every "
        "asked word).", "",
        f"Loading the cross-encoder took {f['load_ms']:.0f} ms (its packed file built into the "
        "cache folder unless already there) and the process's resident memory went from "
        f"{f['rss_mb']['before']:.0f} to {f['rss_mb']['loaded']:.0f} MiB "
        f"({f['rss_mb']['end']:.0f} MiB at the end of the run; the engine maps its file, so "
        "pages are shared with every other process reading it).",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cross_encoder",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load_start = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="csba-bench-cross-") as tmp:
        figures = measure(Path(tmp))
    figures |= {"started": started,
                "load": f"{load_start} at the start, "
                        f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())} at the end"}
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    (args.cache_dir / "cross-encoder-last.json").write_text(json.dumps(figures, indent=2), "utf-8")
    text = section(figures)
    print(text)  # noqa: T201 - the table, also written to the page
    write_section(args.output, text, MARKER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
