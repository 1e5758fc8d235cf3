"""What a person sees while a command embeds page fields (a first start embeds the whole demo
catalog, a minute or more on one core).

On a terminal: a bar of the chunks embedded out of all to embed, on stderr. Anywhere else (a
pipe, a log file, JSON logs): one line when the embedding starts and one when it ends, with the
counts and the seconds, so a log shows why the start took as long as it did. Nothing at all when
there is nothing to embed. It is the ``progress`` callback of ``KnowledgeIndex.sync``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class EmbeddingProgress:
    """``progress(done, total)`` for ``KnowledgeIndex.sync``; use it as a context manager, so
    a bar is closed (or the lines say where it stopped) when the sync fails."""

    def __init__(self, console: Console, description: str, *, bar: bool | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        """``bar``: draw one (default: when ``console`` is a terminal); otherwise ``say``
        gets the two lines (default: printed on ``console``)."""
        self.console = console
        self.description = description
        self.bar = console.is_terminal if bar is None else bar
        self.say = say or (lambda line: console.print(line, highlight=False, soft_wrap=True))
        self.done = self.total = 0
        self._started: float | None = None
        self._finished = False
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._started is None:
            self._start(total)
        self.done, self.total = done, total
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done, total=total)
        if done >= total:
            self._finish()

    def _start(self, total: int) -> None:
        self._started = time.perf_counter()
        if self.bar:
            self._progress = Progress(TextColumn(self.description), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("chunks"),
                                      TimeElapsedColumn(), console=self.console)
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=total)
        else:
            self.say(f"{self.description}: {total:,} chunks to embed")

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._progress is not None:
            self._progress.stop()
        else:
            self.say(f"{self.description}: {self.done:,} chunks embedded in "
                     f"{self.seconds:.1f} s")

    @property
    def seconds(self) -> float:
        return 0.0 if self._started is None else time.perf_counter() - self._started

    def __enter__(self) -> EmbeddingProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._started is None or self._finished:
            return
        self._finished = True
        if self._progress is not None:
            self._progress.stop()
        self.say(f"{self.description}: stopped after {self.done:,} of {self.total:,} chunks "
                 f"({self.seconds:.1f} s)")
