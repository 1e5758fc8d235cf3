"""``python -m benchmarks.models``: the two shipped embedding models side by side.

On the labelled questions of ``tests/knowledge/retrieval_questions.jsonl`` over the demo catalog,
restricted to the ordered product as the agent asks: hit@1 and hit@3 of the dense leg alone and
of the fused search (dense + lexical), per language; what fusing both models' dense legs with the
lexical one would give; the cost of one query embedding and the batch throughput; and the
cosine similarities behind the product-answer decision (``agent/product_answers.py``): those of
the labelled field for answerable questions, the highest on the product's page for the questions
of ``tests/agent/unanswerable_questions.jsonl``, and the decision's rates at several bars.

Writes section e of ``docs/benchmarks.md`` (after ``benchmarks.run`` wrote the page) and the
figures to ``var/bench/models-last.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.page import write_section
from benchmarks.workers import QUESTIONS, ROOT, percentile

UNANSWERABLE = ROOT / "tests" / "agent" / "unanswerable_questions.jsonl"
LANGUAGES = ("de", "es", "en")
MARKER = "## e. Embedding models"
# The bars at which e5's dense match is tried as an answer on its own.
E5_BARS = (0.8, 0.82, 0.83, 0.84, 0.85, 0.86, 0.88, 0.9, 1.01)
MINILM_BARS = (0.4, 0.5, 0.6, 1.01)


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _hit(ranking: Sequence[str], fields: dict[str, str], wanted: Sequence[str], k: int) -> bool:
    return any(fields.get(cid) in wanted for cid in ranking[:k])


def measure(model: str, scratch: Path) -> dict[str, Any]:
    """Rankings, similarities and costs of ``model`` over the demo catalog."""
    from base.settings import Settings
    from knowledge.chunks import chunk_page
    from knowledge.embeddings import load_embeddings
    from knowledge.index import CANDIDATES_PER_LEG, KnowledgeIndex
    from knowledge.loaders import load_catalog
    from knowledge.text import query_tokens
    from seller.ingest import DEMO_DATA_DIR

    pages = load_catalog(DEMO_DATA_DIR / "catalog.jsonl")
    embeddings = load_embeddings(model)
    settings = Settings(data_dir=scratch / model, embedding_model=model,  # type: ignore[call-arg]
                        _env_file=None)
    index = KnowledgeIndex.open(settings, embeddings=embeddings)
    try:
        texts = [c.index_text for p in pages for c in chunk_page(p)]
        embeddings.embed_documents(texts[:32])  # warm up
        started = time.perf_counter()
        embeddings.embed_documents(texts)
        throughput = len(texts) / (time.perf_counter() - started)
        index.sync(pages)
        questions = _rows(QUESTIONS)
        query_ms: list[float] = []
        per_question: list[dict[str, Any]] = []
        for q in questions:
            started = time.perf_counter()
            vector = embeddings.embed_query(q["question"])
            query_ms.append((time.perf_counter() - started) * 1000)
            scope = index.lexical.scope_chunk_ids(q["marketplace"], [q["asin"]])
            dense = index.dense.among(vector, scope, k=CANDIDATES_PER_LEG) or []
            fused = index.search(q["question"], marketplace=q["marketplace"], asins=[q["asin"]],
                                 language=q["language"], k=3)
            languages = index.lexical.languages(q["marketplace"], [q["asin"]]) | {q["language"]}
            lexical = index.lexical.search(
                {lang: query_tokens(q["question"], lang) for lang in sorted(languages)},
                k=CANDIDATES_PER_LEG, marketplace=q["marketplace"], asins=[q["asin"]])
            rows = index.lexical.chunk_rows([h.chunk_id for h in dense]
                                            + [h.chunk_id for h in lexical])
            labelled = [1.0 + h.score / 2.0 for h in dense
                        if rows[h.chunk_id]["field"] in q["fields"]]
            per_question.append({
                "id": q["id"], "language": q["language"], "fields": q["fields"],
                "dense": [h.chunk_id for h in dense], "lexical": [h.chunk_id for h in lexical],
                "fused": [e.chunk_id for e in fused],
                "field_of": {cid: row["field"] for cid, row in rows.items()}
                | {e.chunk_id: e.field for e in fused},
                "labelled_similarity": max(labelled, default=None)})
        silent: list[float] = []
        for q in _rows(UNANSWERABLE):
            vector = embeddings.embed_query(q["question"])
            scope = index.lexical.scope_chunk_ids(q["marketplace"], [q["asin"]])
            dense = index.dense.among(vector, scope, k=1) or []
            silent.append(1.0 + dense[0].score / 2.0 if dense else 0.0)
        decisions = _decisions(index, pages, model)
    finally:
        index.close()
    return {"model": model, "chunks": len(texts), "batch_chunks_per_s": throughput,
            "query_ms": {"p50": percentile(query_ms, 0.5), "p95": percentile(query_ms, 0.95),
                         "mean": statistics.fmean(query_ms)},
            "questions": per_question, "unanswerable_top_similarity": silent,
            "decisions": decisions}


def _decisions(index: Any, pages: Sequence[Any], model: str) -> list[dict[str, Any]]:
    """The product-answer decision's rates: the coverage rule at each bar of the model's
    dense match, then the calibrated decision where one was fitted on this model: answered
    from the labelled field (per language) and refused where the page is silent."""
    from agent import product_answers
    from agent.answer_decision import AnswerDecision, CalibratedDecision, CoverageRule, decision_for
    from knowledge.embeddings import is_e5

    titles = {p.asin: p.title for p in pages}
    tried: list[tuple[str, AnswerDecision]] = [
        (f"{bar:.2f}", CoverageRule(bar)) for bar in (E5_BARS if is_e5(model) else MINILM_BARS)]
    fitted = decision_for(model, choice="calibrated")
    if isinstance(fitted, CalibratedDecision):
        tried.append((f"calibrated ({fitted.bar:.2f})", fitted))
    results = []
    for label, decision in tried:
        right: dict[str, list[bool]] = defaultdict(list)
        for q in _rows(QUESTIONS):
            found = product_answers.answer_product_question(
                index, q["question"], language=q["language"], marketplace=q["marketplace"],
                asins=[q["asin"]], product_names=titles[q["asin"]], decision=decision)
            right[q["language"]].append(any(h.field in q["fields"] for h, _ in found.facts))
        refused = [not product_answers.answer_product_question(
            index, q["question"], language=q["language"], marketplace=q["marketplace"],
            asins=[q["asin"]], product_names=titles[q["asin"]], decision=decision).answered
            for q in _rows(UNANSWERABLE)]
        results.append({"bar": label, "refused": sum(refused) / len(refused),
                        "right_field": {lang: sum(v) / len(v) for lang, v in right.items()}})
    return results


def _rates(questions: list[dict[str, Any]], ranking: str, k: int) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[bool]] = defaultdict(list)
    for q in questions:
        counts[q["language"]].append(_hit(q[ranking], q["field_of"], q["fields"], k))
    return {lang: (sum(v), len(v)) for lang, v in counts.items()}


def both_models_fused(first: dict[str, Any], second: dict[str, Any], k: int
                      ) -> dict[str, tuple[int, int]]:
    """hit@k of reciprocal-rank fusion of both models' dense legs and the lexical leg."""
    from knowledge.index import reciprocal_rank_fusion

    counts: dict[str, list[bool]] = defaultdict(list)
    for a, b in zip(first["questions"], second["questions"], strict=True):
        fused = reciprocal_rank_fusion([a["dense"], b["dense"], a["lexical"]])
        ranking = sorted(fused, key=lambda cid: -fused[cid])
        field_of = a["field_of"] | b["field_of"]
        counts[a["language"]].append(_hit(ranking, field_of, a["fields"], k))
    return {lang: (sum(v), len(v)) for lang, v in counts.items()}


def _cell(rates: dict[str, tuple[int, int]], language: str) -> str:
    hits, total = rates[language]
    return f"{hits}/{total}"


def section(figures: dict[str, Any]) -> str:
    models = figures["models"]
    lines = [MARKER, ""]
    add = lines.append
    add(f"Written by `python -m benchmarks.models` (`make bench`), {figures['started']}: both "
        "shipped models on the demo catalog, the labelled questions of "
        "`tests/knowledge/retrieval_questions.jsonl` restricted to the ordered product (as the "
        "agent asks). hit@k: one of the first k chunks is a labelled field. Dense: the model's "
        "leg alone; fused: `KnowledgeIndex.search` (dense + lexical, the dense leg at half "
        "weight outside the model's languages); both models: the two dense legs and the "
        "lexical leg fused at equal weight (what English would get by running both).")
    add("")
    add("| model | language | dense hit@1 | dense hit@3 | fused hit@1 | fused hit@3 |")
    add("|---|---|---|---|---|---|")
    for m in models:
        for lang in LANGUAGES:
            add(f"| {m['model']} | {lang} | {_cell(m['dense@1'], lang)} | "
                f"{_cell(m['dense@3'], lang)} | {_cell(m['fused@1'], lang)} | "
                f"{_cell(m['fused@3'], lang)} |")
    for lang in LANGUAGES:
        add(f"| both models | {lang} | | | {_cell(figures['both@1'], lang)} | "
            f"{_cell(figures['both@3'], lang)} |")
    add("")
    add("Cost, on this machine beside whatever else ran (load average "
        f"{figures['load']}): one query embedding (p50 / p95 over the labelled questions) and "
        "the batch throughput of embedding every chunk of the demo catalog in one call.")
    add("")
    add("| model | query p50 ms | query p95 ms | batch chunks/s |")
    add("|---|---|---|---|")
    for m in models:
        add(f"| {m['model']} | {m['query_ms']['p50']:.1f} | {m['query_ms']['p95']:.1f} | "
            f"{m['batch_chunks_per_s']:.0f} |")
    add("")
    add("The product-answer decision's coverage rule (`agent/answer_decision.py`): a page "
        "field whose cosine similarity to the question reaches the model's bar answers on its "
        "own in the model's languages. Similarities (min / median / max): of the labelled "
        "field, where the dense leg ranks it, for the answerable questions; the highest on the "
        "product's page for the questions it cannot answer. Then the rates of the coverage "
        "rule at each bar (1.01: never by meaning alone) and of the calibrated decision at "
        "its own bar.")
    add("")
    add("| model | labelled field (answerable) | best on the page (unanswerable) |")
    add("|---|---|---|")
    for m in models:
        sims = [q["labelled_similarity"] for q in m["questions"]
                if q["labelled_similarity"] is not None]
        silent = m["unanswerable_top_similarity"]
        add(f"| {m['model']} | {min(sims):.3f} / {statistics.median(sims):.3f} / "
            f"{max(sims):.3f} | {min(silent):.3f} / {statistics.median(silent):.3f} / "
            f"{max(silent):.3f} |")
    add("")
    add("| model | bar | right field de | es | en | refused (unanswerable) |")
    add("|---|---|---|---|---|---|")
    for m in models:
        for d in m["decisions"]:
            r = d["right_field"]
            add(f"| {m['model']} | {d['bar']} | {r['de']:.2f} | {r['es']:.2f} | "
                f"{r['en']:.2f} | {d['refused']:.2f} |")
    add("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from knowledge.e5 import E5_MODEL
    from knowledge.embeddings import MINILM_MODEL

    parser = argparse.ArgumentParser(prog="python -m benchmarks.models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--rewrite", action="store_true",
                        help="put section e back from the last run's figures, measuring nothing")
    args = parser.parse_args(argv)
    last = args.cache_dir / "models-last.json"
    if args.rewrite:
        write_section(args.output, section(json.loads(last.read_text("utf-8"))), MARKER)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load_start = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    models = []
    with tempfile.TemporaryDirectory(prefix="csba-bench-models-") as tmp:
        for model in (E5_MODEL, MINILM_MODEL):
            print(f"measuring {model} ...", file=sys.stderr)  # noqa: T201 - progress
            figures = measure(model, Path(tmp))
            for ranking in ("dense", "fused"):
                for k in (1, 3):
                    figures[f"{ranking}@{k}"] = _rates(figures["questions"], ranking, k)
            models.append(figures)
    result = {"started": started, "models": models,
              "load": f"{load_start} at the start, "
                      f"{' / '.join(f'{v:.2f}' for v in os.getloadavg())} at the end",
              "both@1": both_models_fused(models[0], models[1], 1),
              "both@3": both_models_fused(models[0], models[1], 3)}
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    last.write_text(json.dumps(result, indent=2), "utf-8")
    text = section(result)
    print(text)  # noqa: T201 - the table, also written to the page
    write_section(args.output, text, MARKER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
