"""Benchmark catalogs with derived filler vectors: built for real (the model, Chroma, FTS5) at
a small scale, then checked against what ``benchmarks.derived`` promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.derived import NOISE, DerivedVectors, field_kind
from benchmarks.generate import catalog
from benchmarks.page import turn_target_row, write_target_row
from benchmarks.run import load_note
from benchmarks.workers import ROOT, bench_settings, build
from knowledge.chunks import chunk_page
from knowledge.index import KnowledgeIndex

SEED = 11
REAL = 120
SCALE = 400


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The real slice's own cache, then the larger scale started from a copy of it."""
    cache = tmp_path_factory.mktemp("bench")
    build(REAL, SEED, cache / f"{REAL}-{SEED}", real_chunks=REAL)
    data_dir = cache / f"{SCALE}-{SEED}"
    return data_dir, build(SCALE, SEED, data_dir, real_chunks=REAL)


def test_the_real_slice_is_copied_and_only_the_chunks_beyond_it_are_derived(
        built: tuple[Path, dict[str, object]]) -> None:
    data_dir, result = built
    real_chunks = sum(len(chunk_page(p)) for p in catalog(REAL, SEED))
    all_chunks = sum(len(chunk_page(p)) for p in catalog(SCALE, SEED))
    assert result["copied_from"] == str(data_dir.parent / f"{REAL}-{SEED}")
    assert result["embedded"] == 0  # the copy held the real slice already
    assert result["derived"] == all_chunks - real_chunks
    assert result["chunks"] == all_chunks
    manifest = json.loads((data_dir / "bench.json").read_text("utf-8"))
    assert manifest["real_chunks"] == REAL and manifest["scale"] == SCALE


def test_each_filler_vector_is_its_donors_plus_noise_renormalised(
        built: tuple[Path, dict[str, object]]) -> None:
    data_dir, _ = built
    real_pages, pages = catalog(REAL, SEED), catalog(SCALE, SEED)
    index = KnowledgeIndex.open(bench_settings(data_dir))
    try:
        assert index.dense.ids() == index.lexical.chunk_ids()
        derive = DerivedVectors.from_index(index.dense, real_pages, pages)
        # Each real chunk's (language, category, kind of field): what a donor is chosen by.
        real = {c.chunk_id: (p.language, p.category, field_kind(c.field))
                for p in real_pages for c in chunk_page(p)}
        fillers = [(p, c) for p in pages[len(real_pages):] for c in chunk_page(p)]
        vectors = index.dense.vectors([c.chunk_id for _, c in fillers])
        assert len(vectors) == len(fillers)
        own_kind = 0
        for page, chunk in fillers:
            vector, donor = vectors[chunk.chunk_id], derive.donor(chunk)
            assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
            # A unit vector plus noise of norm NOISE, renormalised: the cosine is
            # 1/sqrt(1 + NOISE²) when the noise is orthogonal (nearly so in 384 dimensions).
            assert float(vector @ derive.real_vector(donor)) == pytest.approx(
                1 / np.sqrt(1 + NOISE**2), abs=0.03)
            np.testing.assert_allclose(vector, derive.vector(chunk), atol=1e-6)  # seeded
            key = (page.language, page.category, field_kind(chunk.field))
            if key in real.values():  # the closest donor exists: it is taken
                assert real[donor] == key
                own_kind += 1
            elif (key[0], key[1]) in {k[:2] for k in real.values()}:
                assert real[donor][:2] == key[:2]
            else:
                assert real[donor][0] == page.language
        assert own_kind > 0
    finally:
        index.close()


def test_a_filler_page_is_found_by_a_real_query(built: tuple[Path, dict[str, object]]) -> None:
    data_dir, _ = built
    page = catalog(SCALE, SEED)[-1]
    index = KnowledgeIndex.open(bench_settings(data_dir))
    try:
        hits = index.search(page.title, marketplace=page.marketplace, asins=[page.asin], k=3)
    finally:
        index.close()
    assert hits and all(h.asin == page.asin for h in hits)
    assert any(h.dense_rank is not None for h in hits)


def test_embed_all_drops_a_cache_made_with_derived_vectors(tmp_path: Path) -> None:
    data_dir = tmp_path / "bench"
    small, real = 160, 60
    first = build(small, SEED, data_dir, real_chunks=real)
    assert first["derived"] > 0

    def embed_all() -> dict[str, Any]:
        # A process of its own, as ``benchmarks.run`` builds (Chroma keeps one client per
        # path in a process, which would outlive the dropped directory).
        result = tmp_path / "build.json"
        subprocess.run([sys.executable, "-m", "benchmarks.workers", "build", "--scale",
                        str(small), "--seed", str(SEED), "--data-dir", str(data_dir),
                        "--result", str(result), "--embed-all"], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        figures: dict[str, Any] = json.loads(result.read_text("utf-8"))
        return figures

    again = embed_all()
    assert again["derived"] == 0
    assert again["embedded"] == again["chunks"] == first["chunks"]
    assert json.loads((data_dir / "bench.json").read_text("utf-8"))["real_chunks"] == small
    assert embed_all()["reused"] is True


def test_the_turn_target_goes_into_the_targets_table_once(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\n## Targets\n\n| target | figure |\n|---|---|\n"
                    "| b. query p95 | 20 ms |\n\n## a. Ingest\n", "utf-8")
    figures = {"started": "2026-12-03 12:00 UTC", "scales": {"100000": {
        "chunks": 101_219, "floor": {"p50_ms": 10.0},
        "channels": {"chat": {"p95_ms": 25.0}, "email": {"p95_ms": 31.0}}}}}
    row = turn_target_row(figures, "100000")
    assert row is not None and "31.0 ms" in row and "3.10x" in row and "**FAIL**" in row
    write_target_row(page, row)
    figures["scales"]["100000"]["floor"]["p50_ms"] = 20.0  # type: ignore[index]
    faster = turn_target_row(figures, "100000")
    assert faster is not None and "**PASS**" in faster
    write_target_row(page, faster)
    lines = page.read_text("utf-8").splitlines()
    assert lines[lines.index("| b. query p95 | 20 ms |") + 1] == faster
    assert sum(line.startswith("| d. turn p95") for line in lines) == 1
    assert turn_target_row(figures, "10000") is None


def test_a_run_on_a_shared_machine_says_so() -> None:
    note = load_note(("1.20 / 0.90 / 0.50", "9.98 / 9.16 / 7.41"), "2")
    assert note is not None and "10.0 on 2 cores" in note
    assert load_note(("1.20 / 0.90 / 0.50", "1.90 / 1.00 / 0.70"), "2") is None
    assert load_note(("unknown", "unknown"), "2") is None
