"""The embedding model in a process of its own, for the server.

A forward pass of the model is hundreds of small Python calls, and each needs the interpreter
lock. In the server, whose threads hold that lock in turn (requests, turns, the outbox), a
query's embedding waits for it at every call: 18 ms alone, 671 ms beside one busy Python thread
(measured on the model with one torch thread). In a process of its own the model has an
interpreter to itself, and it runs on the other core while the turn goes on.

One child process serves requests in order over a pipe. A request is sent by the thread that
asks (no hand-over to a helper thread that would wait for the lock first); one reader thread
hands each answer to its future. A child that dies (killed, out of memory) fails the requests
it held with ``EmbeddingProcessDied``; the next request starts another child. While the server
starts (until ``started``), a child that dies is started again and the work it held is asked
again, up to ``START_ATTEMPTS`` children in all: a death then costs the start a few seconds,
not the server; a model that cannot run at all ends the start with a precise error.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import threading
import time
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

# Loading the model (and torch, for a sentence-transformers one) takes seconds; more than
# this means the child is stuck.
START_TIMEOUT_SECONDS = 300.0
READY = "ready"
# Children started in all while the server starts, before it gives up; the wait before the
# next doubles from the first (a model killed by a passing memory squeeze gets room to load).
START_ATTEMPTS = 3
START_BACKOFF_SECONDS = 1.0


class EmbeddingProcessDied(RuntimeError):
    """The embedding process ended before it answered."""


def _serve(conn: Connection, model_name: str, batch_size: int, threads: int) -> None:
    """The child: load the model, then answer ``(id, kind, payload)`` requests until the parent
    says ``None`` or its end closes (it exited or was killed: the child must not outlive it)."""
    from knowledge.embeddings import is_e5, load_embeddings

    if not is_e5(model_name):  # e5's engine is C with its own threads: no torch to load
        import torch

        torch.set_num_threads(threads)
    model = load_embeddings(model_name, batch_size=batch_size, threads=threads)
    model.embed_query("warm up")  # the first call builds the model's lazy parts
    conn.send(READY)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:  # the parent closes
            return
        request_id, kind, payload = request
        try:
            result: Any = (model.embed_query(payload) if kind == "query"
                           else model.embed_documents(payload))
            conn.send((request_id, True, result))
        except Exception as exc:  # noqa: BLE001 - the parent raises it for its caller
            conn.send((request_id, False, f"{type(exc).__name__}: {exc}"))


class _Child:
    """One running child, its pipe, the requests it holds and the thread reading its answers."""

    def __init__(self, model_name: str, batch_size: int, threads: int) -> None:
        context = multiprocessing.get_context("spawn")  # no copy of the server's threads/locks
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=_serve, name="csba-embeddings", daemon=True,
                                       args=(child_end, model_name, batch_size, threads))
        self.process.start()
        child_end.close()
        if not self.conn.poll(START_TIMEOUT_SECONDS):
            self.process.kill()
            raise EmbeddingProcessDied(
                f"the embedding process did not load {model_name} in {START_TIMEOUT_SECONDS:.0f} s")
        try:
            ready = self.conn.recv()
        except EOFError:
            self.process.join(timeout=5)  # reaped, so its exit code is known
            raise EmbeddingProcessDied(
                f"the embedding process exited while loading {model_name} "
                f"(exit code {self.process.exitcode}); see its error above") from None
        if ready != READY:
            raise EmbeddingProcessDied(f"unexpected first message from the process: {ready!r}")
        self.pending: dict[int, Future[Any]] = {}
        self.lock = threading.Lock()  # guards ``pending`` and ``alive``; never held for I/O
        # One sender at a time. Apart from ``lock``: a sender blocked on a full pipe must not
        # keep the reader from taking the answers the child is blocked sending.
        self.send_lock = threading.Lock()
        self.alive = True
        self.reader = threading.Thread(target=self._read, name="embeddings-reader", daemon=True)
        self.reader.start()

    def send(self, request_id: int, kind: str, payload: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self.lock:
            if not self.alive:
                raise EmbeddingProcessDied("the embedding process has ended")
            self.pending[request_id] = future  # before sending: the answer may come at once
        try:
            with self.send_lock:
                self.conn.send((request_id, kind, payload))
        except OSError as exc:
            with self.lock:
                self.pending.pop(request_id, None)
            raise EmbeddingProcessDied(f"the embedding process has ended: {exc}") from exc
        return future

    def _read(self) -> None:
        while True:
            try:
                request_id, ok, result = self.conn.recv()
            except (EOFError, OSError):
                break
            with self.lock:
                future = self.pending.pop(request_id)
            if ok:
                future.set_result(result)
            else:
                future.set_exception(RuntimeError(f"embedding failed: {result}"))
        self.process.join(timeout=5)
        with self.lock:
            self.alive = False
            orphans, self.pending = self.pending, {}
        if orphans:
            log.error("embedding process exited (code %s) with %d requests unanswered",
                      self.process.exitcode, len(orphans))
        for future in orphans.values():
            future.set_exception(EmbeddingProcessDied(
                f"the embedding process exited (code {self.process.exitcode})"))

    def close(self) -> None:
        if self.alive:
            with self.send_lock, contextlib.suppress(OSError):
                self.conn.send(None)  # the child returns; the reader then sees the end
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.reader.join(timeout=10)
        self.conn.close()


class ProcessEmbeddings(Embeddings):
    """LangChain ``Embeddings`` whose model runs in a child process (see the module's doc).

    ``submit_query`` starts a query's embedding and returns at once; ``embed_query`` and
    ``embed_documents`` wait for theirs. The child is started here, and the constructor
    returns when its model is loaded."""

    def __init__(self, model_name: str, *, batch_size: int = 64, threads: int = 1,
                 start_attempts: int = START_ATTEMPTS,
                 start_backoff: float = START_BACKOFF_SECONDS) -> None:
        if start_attempts < 1:
            raise ValueError(f"start_attempts must be >= 1, got {start_attempts}")
        if start_backoff < 0:
            raise ValueError(f"start_backoff must be >= 0, got {start_backoff}")
        self._args = (model_name, batch_size, threads)
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        self._starting = True
        # Apart from ``_lock``: a death is counted while ``_send`` holds that one.
        self._start_lock = threading.Lock()
        self._start_attempts, self._start_backoff = start_attempts, start_backoff
        self._start_deaths = 0
        self._child = self._new_child()
        log.info("embedding process %d serving %s", self._child.process.pid, model_name)

    @property
    def pid(self) -> int | None:
        return self._child.process.pid

    def started(self) -> None:
        """The server is up: from now on a death fails the requests the child held and the
        next request starts another (one try each), as a request must not wait for retries."""
        with self._start_lock:
            self._starting = False

    def _died_while_starting(self, error: EmbeddingProcessDied) -> bool:
        """Count a death while starting: True to try again (after the backoff), False when
        the start is over (the caller's error stands); raises once the attempts are spent."""
        with self._start_lock:
            if not self._starting or self._closed:
                return False
            self._start_deaths += 1
            deaths = self._start_deaths
        if deaths >= self._start_attempts:
            raise EmbeddingProcessDied(
                f"the embedding process ({self._args[0]}) died {deaths} times while the "
                f"server started; giving up. Last: {error}") from error
        wait = self._start_backoff * 2 ** (deaths - 1)
        log.warning("embedding process died while the server started (%d of %d): %s; "
                    "starting another in %.1f s", deaths, self._start_attempts, error, wait)
        time.sleep(wait)  # a backoff, not a wait for another thread
        return True

    def _new_child(self) -> _Child:
        while True:
            try:
                return _Child(*self._args)
            except EmbeddingProcessDied as exc:
                if not self._died_while_starting(exc):
                    raise

    def _send(self, kind: str, payload: Any) -> Future[Any]:
        child = self._child
        if not child.alive:
            with self._lock:
                if self._closed:
                    raise EmbeddingProcessDied("the embeddings are closed")
                if self._child is child:  # the first to notice starts the next child
                    log.warning("embedding process %s ended; starting another",
                                child.process.pid)
                    self._child = self._new_child()
                child = self._child
        return child.send(next(self._ids), kind, payload)

    def _result(self, kind: str, payload: Any) -> Any:
        """Send and wait; while starting, work a dying child held is asked of the next."""
        while True:
            try:
                return self._send(kind, payload).result()
            except EmbeddingProcessDied as exc:
                if not self._died_while_starting(exc):
                    raise

    @property
    def idle(self) -> bool:
        """Whether the process has nothing to do: work started now waits for nothing."""
        return self._child.alive and not self._child.pending

    def submit_query(self, text: str) -> Future[list[float]]:
        return self._send("query", text)

    def embed_query(self, text: str) -> list[float]:
        result: list[float] = self._result("query", text)
        return result

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        result: list[list[float]] = self._result("documents", list(texts))
        return result

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._child.close()
