"""The model in a process of its own: the same vectors, errors and deaths reported, restarts."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
from langchain_core.embeddings import Embeddings

from base.settings import DEFAULT_EMBEDDING_MODEL, Settings
from knowledge.embedding_process import EmbeddingProcessDied, ProcessEmbeddings
from knowledge.embeddings import MINILM_MODEL
from knowledge.index import KnowledgeIndex
from knowledge.pages import ProductPage
from tests.support.model_process import kill_first_model_child

pytestmark = pytest.mark.slow

QUESTIONS = ["Darf die Bettwäsche in den Trockner?", "¿Qué medida tienen las sábanas?",
             "How long does the battery last?"]


@pytest.fixture(scope="module")
def in_process() -> Iterator[ProcessEmbeddings]:
    embeddings = ProcessEmbeddings(DEFAULT_EMBEDDING_MODEL)
    yield embeddings
    embeddings.close()


def wait_until(condition: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_vectors_are_those_of_the_model_in_this_process(
        in_process: ProcessEmbeddings, embeddings: Embeddings) -> None:
    for question in QUESTIONS:
        assert np.allclose(in_process.embed_query(question), embeddings.embed_query(question),
                           atol=1e-5)
    assert np.allclose(in_process.embed_documents(QUESTIONS),
                       embeddings.embed_documents(QUESTIONS), atol=1e-5)
    assert in_process.embed_documents([]) == []


def _loaded_libraries(pid: int) -> set[str]:
    return {Path(m.path).name for m in psutil.Process(pid).memory_maps() if m.path}


def test_the_e5_process_runs_without_torch(in_process: ProcessEmbeddings) -> None:
    pid = in_process.pid
    assert pid is not None
    libraries = _loaded_libraries(pid)
    assert any("_engine" in name for name in libraries)  # the e5 engine is there
    assert not any("torch" in name for name in libraries), sorted(libraries)


def test_a_sentence_transformers_model_serves_from_its_process_with_torch(
        minilm_embeddings: Embeddings) -> None:
    embeddings = ProcessEmbeddings(MINILM_MODEL)
    try:
        pid = embeddings.pid
        assert pid is not None
        assert any("torch" in name for name in _loaded_libraries(pid))
        assert np.allclose(embeddings.embed_documents(QUESTIONS),
                           minilm_embeddings.embed_documents(QUESTIONS), atol=1e-5)
    finally:
        embeddings.close()


def test_a_query_submitted_is_answered_later_and_the_process_is_idle_again(
        in_process: ProcessEmbeddings) -> None:
    futures: list[Future[list[float]]] = [in_process.submit_query(q) for q in QUESTIONS]
    vectors = [f.result(timeout=30) for f in futures]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert vectors[0] != vectors[1]
    wait_until(lambda: in_process.idle)


def test_a_failure_in_the_process_reaches_the_caller_and_the_process_lives_on(
        in_process: ProcessEmbeddings) -> None:
    with pytest.raises(RuntimeError, match="embedding failed: "):
        in_process.embed_documents([None])  # type: ignore[list-item]
    assert len(in_process.embed_query("still there?")) == 384


def test_a_request_held_by_a_dying_process_fails_and_the_next_starts_another() -> None:
    embeddings = ProcessEmbeddings(DEFAULT_EMBEDDING_MODEL)
    try:
        first = embeddings.pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # the request waits in the pipe, unread
        held = embeddings.submit_query("Where is my parcel?")
        os.kill(first, signal.SIGKILL)
        with pytest.raises(EmbeddingProcessDied, match="exited"):
            held.result(timeout=30)
        vector = embeddings.embed_query("Where is my parcel?")
        assert len(vector) == 384
        assert embeddings.pid not in (None, first)
    finally:
        embeddings.close()


def test_closed_embeddings_refuse_work_and_leave_no_process() -> None:
    embeddings = ProcessEmbeddings(DEFAULT_EMBEDDING_MODEL)
    pid = embeddings.pid
    embeddings.close()
    with pytest.raises(EmbeddingProcessDied):
        embeddings.embed_query("anyone?")
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: gone, not a zombie


def test_an_index_on_the_process_finds_what_one_on_this_process_finds(
        tmp_path: Path, in_process: ProcessEmbeddings, embeddings: Embeddings,
        demo_pages: list[ProductPage]) -> None:
    pages = [p for p in demo_pages if p.marketplace == "DE"][:3]
    here = KnowledgeIndex.open(Settings(data_dir=tmp_path / "here", _env_file=None),  # type: ignore[call-arg]
                               embeddings)
    there = KnowledgeIndex.open(Settings(data_dir=tmp_path / "there", _env_file=None),  # type: ignore[call-arg]
                                in_process)
    try:
        here.sync(pages)
        there.sync(pages)
        for question in QUESTIONS:
            there.prepare(question)  # sent now, searched below
            found = there.search(question, marketplace="DE", k=5)
            assert [e.chunk_id for e in found] == \
                [e.chunk_id for e in here.search(question, marketplace="DE", k=5)]
        # A guess is embedded ahead only where the model has nothing else to do.
        there.prepare("Is it dishwasher safe?", if_idle=True)
        here.prepare("Is it dishwasher safe?", if_idle=True)
        assert "Is it dishwasher safe?" in there._prepared
        assert "Is it dishwasher safe?" not in here._prepared
    finally:
        here.close()
        there.close()


def test_a_search_whose_prepared_query_died_with_its_process_is_embedded_again(
        tmp_path: Path, demo_pages: list[ProductPage]) -> None:
    embeddings = ProcessEmbeddings(DEFAULT_EMBEDDING_MODEL)
    index = KnowledgeIndex.open(Settings(data_dir=tmp_path, _env_file=None),  # type: ignore[call-arg]
                                embeddings)
    try:
        index.sync([p for p in demo_pages if p.marketplace == "DE"][:2])
        first = embeddings.pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)
        index.prepare(QUESTIONS[0])  # held by a process about to die
        os.kill(first, signal.SIGKILL)
        assert index.search(QUESTIONS[0], marketplace="DE", k=3)
        assert embeddings.pid != first
    finally:
        index.close()
        embeddings.close()


def test_large_requests_from_several_threads_at_once_each_get_their_own_answer(
        in_process: ProcessEmbeddings, embeddings: Embeddings) -> None:
    """Requests and answers bigger than a pipe's buffer, both ways at once: a sender waiting
    for the child to read must not keep the reader from the answers the child is sending."""
    batches = [[f"{q} ({n}, {i})" for i in range(300)] for n, q in enumerate(QUESTIONS)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        documents = [pool.submit(in_process.embed_documents, batch) for batch in batches]
        queries = [pool.submit(in_process.embed_query, q) for q in QUESTIONS]
        done = [f.result(timeout=300) for f in documents]
        asked = [f.result(timeout=300) for f in queries]
    for batch, vectors in zip(batches, done, strict=True):
        assert len(vectors) == 300
        assert np.allclose(vectors[7], embeddings.embed_documents([batch[7]])[0], atol=1e-5)
    for question, vector in zip(QUESTIONS, asked, strict=True):
        assert np.allclose(vector, embeddings.embed_query(question), atol=1e-5)


def model_children(parent: int) -> set[int]:
    return {c.pid for c in psutil.Process(parent).children(recursive=True)}


def test_a_model_process_killed_while_starting_is_started_again() -> None:
    """The start survives a model process killed while it loads; once started, a death is
    the requests' own (the next request starts another, nothing is retried for them)."""
    before = model_children(os.getpid())
    with ThreadPoolExecutor(max_workers=1) as pool:
        killer = pool.submit(kill_first_model_child, os.getpid(), before)
        embeddings = ProcessEmbeddings(DEFAULT_EMBEDDING_MODEL, start_backoff=0.1)
        killed = killer.result(timeout=30)
    try:
        assert embeddings.pid not in (None, killed)
        assert embeddings._start_deaths == 1  # the kill landed while it was starting
        assert len(embeddings.embed_query("Where is my parcel?")) == 384
        embeddings.started()
        running = embeddings.pid
        assert running is not None
        os.kill(running, signal.SIGSTOP)
        held = embeddings.submit_query("Where is my parcel?")
        os.kill(running, signal.SIGKILL)
        with pytest.raises(EmbeddingProcessDied, match="exited"):
            held.result(timeout=30)
        assert embeddings._start_deaths == 1
    finally:
        embeddings.close()


def test_a_model_process_that_always_dies_ends_the_start_with_a_precise_error(
        tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EmbeddingProcessDied, match=(
            rf"the embedding process \({missing}\) died 3 times while the server started; "
            r"giving up\. Last: the embedding process exited while loading .* \(exit code 1\)")):
        ProcessEmbeddings(str(missing), start_attempts=3, start_backoff=0)


def test_start_attempts_are_validated() -> None:
    with pytest.raises(ValueError, match="start_attempts must be >= 1, got 0"):
        ProcessEmbeddings(DEFAULT_EMBEDDING_MODEL, start_attempts=0)
