"""Starting the HTTP server: in one process, or in several worker processes on one port.

One process (``csba serve --workers 1``) is the server as it always was: ``csba serve`` builds
the service in its own process and runs uvicorn there. Several: ``csba serve`` loads the demo
data first (once, when the database is empty), binds the port and hands that one listening
socket to uvicorn's process supervisor, which starts the workers on it, each accepting from
the same socket, and starts a new worker whenever one dies or stops answering its health
check. Each worker builds the whole service itself (``worker_app``): its own model process,
the index, the app, the warm-up and ``gc.freeze``.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from agent.db import Store
from base.settings import Settings
from channels.metrics import MULTIPROCESS_DIR_ENV
from knowledge.index import KnowledgeIndex

log = logging.getLogger("csba.serve")

# How the workers learn their count (the settings' CSBA_SERVE_WORKERS): the app of one of
# several workers shares the inbound SMTP port with its siblings (channels/app.py).
WORKERS_ENV = "CSBA_SERVE_WORKERS"
# prometheus_client's multiprocess mode: every worker writes its counters to files there and
# GET /metrics, on whichever worker answers, sums them (channels/metrics.py).
METRICS_DIR_ENV = MULTIPROCESS_DIR_ENV
# A starting worker answers the supervisor's pings from a thread while it loads its models;
# on two busy cores that thread can wait seconds for the interpreter lock. uvicorn's 5 s
# default could take a slow start for a hung worker and kill it, over and over.
HEALTHCHECK_SECONDS = 30.0
WORKER_APP = "csba.serving:worker_app"


def default_workers(database_url: str | None, cores: int | None = None) -> int:
    """The worker count when none is given: one per core on PostgreSQL, one on SQLite.

    A turn is mostly Python, so one server process answers with one core at a time; its model
    process and the database take little beside it. Measured on 2 cores with the demo data
    (docs/benchmarks.md, section g; a loaded machine, two runs): on PostgreSQL 2 workers
    answered the 50 back-to-back chats at 1.24x and 1.50x the turns per second of one, with
    the paced p95 at 0.69x and 0.53x; a third worker was slower than two. On SQLite 2 workers
    gained nothing sure (1.07x and 0.69x the turns per second): every turn writes, SQLite has
    one writer, and the queue that orders one process's writers does not span processes. Each
    worker costs about 1.2 GiB, so SQLite keeps one process.
    """
    if database_url is None or database_url.startswith("sqlite"):
        return 1
    return max(1, cores if cores is not None else (os.cpu_count() or 1))


def open_app(settings: Settings, *,
             before_serving: Callable[[Store, KnowledgeIndex], None] | None = None
             ) -> tuple[FastAPI, Callable[[], None]]:
    """The whole service of one server process, ready for its first customer, and what closes
    it (its index and model process). ``before_serving`` runs on the opened store and index
    before the app is built (the demo data of a one-process start). Raises
    ``EmbeddingProcessDied`` when the model process cannot be started."""
    from agent.product_answers import load_word_lists
    from agent.understanding import classify_intent, warm_up
    from base.blas import one_blas_thread
    from channels.app import create_app
    from knowledge.embedding_process import EmbeddingProcessDied, ProcessEmbeddings
    from knowledge.embeddings import load_embeddings

    embeddings: ProcessEmbeddings | None = None
    try:
        # A model process that dies while the server starts is started again a bounded
        # number of times (knowledge/embedding_process.py); then the start fails, here.
        if settings.serve_embedding_process:
            embeddings = ProcessEmbeddings(settings.embedding_model,
                                           batch_size=settings.embedding_batch_size,
                                           threads=settings.serve_torch_threads)
        # In this process: the e5 engine takes its threads when loaded (torch's are set by
        # the caller).
        index = KnowledgeIndex.open(settings, embeddings or load_embeddings(
            settings.embedding_model, batch_size=settings.embedding_batch_size,
            threads=settings.serve_torch_threads))
        log.info("the service's today: %s", settings.clock().date())
        if before_serving is not None:
            store = Store.from_settings(settings)
            try:
                before_serving(store, index)
            finally:
                store.engine.dispose()
        app = create_app(settings, index=index)
        # The intent model, the language detector, the examples read by meaning (e5 and
        # their cached vectors), the word lists and Chroma's vector index (0.4 s at 100k
        # chunks) load on first use: load them before the first customer.
        warm_up()
        classify_intent("Where is my order?", "en")
        load_word_lists()
        app.state.index.search("Where is my order?", k=1)
    except EmbeddingProcessDied:
        if embeddings is not None:
            embeddings.close()
        raise
    if embeddings is not None:
        embeddings.started()
    # After the models: they loaded the BLAS libraries this limits (base/blas.py says why).
    one_blas_thread()
    # The models, the index and the data loaded at start are some 600,000 objects that live as
    # long as the process: left to the collector, every full collection walks them all (about
    # 0.3 to 0.5 s, a stalled turn). Frozen, the collector walks only what requests create.
    gc.collect()
    gc.freeze()

    def close() -> None:
        index.close()
        if embeddings is not None:
            embeddings.close()

    return app, close


def close_on_shutdown(app: FastAPI, close: Callable[[], None]) -> None:
    """Run ``close`` after the app's own shutdown (its SMTP server and background round)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        try:
            async with inner(served) as state:
                yield state
        finally:
            close()

    app.router.lifespan_context = lifespan


def worker_app() -> FastAPI:
    """One worker's service (uvicorn's app factory, called in each worker process): the
    settings come from the environment ``csba serve`` set for its workers."""
    import torch

    from base.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_format)
    torch.set_num_threads(settings.serve_torch_threads)
    try:
        app, close = open_app(settings)
    except Exception as exc:
        # uvicorn stops the supervisor only for this exit code; any other would have the
        # worker started again and again, failing the same way each time.
        log.exception("worker %d could not start: %s", os.getpid(), exc)
        sys.exit(STARTUP_FAILURE)
    close_on_shutdown(app, close)
    log.info("worker %d of %d ready", os.getpid(), settings.serve_workers or 1)
    return app


def run_workers(settings: Settings, *, host: str, port: int, workers: int) -> bool:
    """Serve on ``host:port`` with ``workers`` processes until told to stop (SIGINT, SIGTERM);
    False when a worker could not start (its log says why)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    metrics_dir = tempfile.mkdtemp(prefix="csba-metrics-")
    # The workers are started fresh (spawned) and read these when they start.
    os.environ[METRICS_DIR_ENV] = metrics_dir
    os.environ[WORKERS_ENV] = str(workers)
    if settings.clock_start is not None:  # --today
        os.environ["CSBA_CLOCK_START"] = settings.clock_start.isoformat()
    if settings.redis_url is None:
        log.warning("%d workers without CSBA_REDIS_URL: each counts the rate limits alone, so "
                    "a sender may send up to %d times CSBA_RATE_LIMIT", workers, workers)
    config = uvicorn.Config(WORKER_APP, factory=True, host=host, port=port, workers=workers,
                            log_config=None, timeout_worker_healthcheck=int(HEALTHCHECK_SECONDS))
    sock = config.bind_socket()
    supervisor = Multiprocess(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return not any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
