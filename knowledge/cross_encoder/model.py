"""The cross-encoder: question and field read together by the e5 encoder, one score out.

Input: ``<s> query: {question} </s> passage: {field} </s>`` (e5's own prefixes), the token
states mean-pooled as e5 pools (its pretraining made that vector meaningful, a better start
than [CLS]), then one linear unit: the logit that the field answers the question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from knowledge.cross_encoder.encoder import bert_model, mean_pool
from knowledge.cross_encoder.packed import read
from knowledge.cross_encoder.tokenizer import E5Tokenizer
from knowledge.cross_encoder.weights import load

MAX_TOKENS = 128


def shipped_weights() -> Path:
    """The weights the project ships (``evals/cross_encoder/train.py`` trains them,
    ``evals/cross_encoder/export.py`` writes this file)."""
    return Path(str(resources.files("knowledge").joinpath("data/cross_encoder.npz")))


class CrossEncoder(nn.Module):
    def __init__(self, packed_path: Path | None = None) -> None:
        super().__init__()
        packed = read(packed_path)
        self.tokenizer = E5Tokenizer(packed.vocabulary)
        self.encoder = bert_model(packed)
        self.head = nn.Linear(packed.config.hidden, 1)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        logits: torch.Tensor = self.head(mean_pool(hidden, mask)).squeeze(-1)
        return logits

    def batch(self, questions: Sequence[str], fields: Sequence[str]
              ) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = self.tokenizer.encode([f"query: {q}" for q in questions],
                                        [f"passage: {f}" for f in fields],
                                        max_length=MAX_TOKENS)
        return torch.tensor(encoded.ids), torch.tensor(encoded.mask)

    def scores(self, question: str, fields: Sequence[str]) -> list[float]:
        """The probability that each field answers ``question``."""
        return self.pair_scores([question] * len(fields), fields)

    @torch.no_grad()
    def pair_scores(self, questions: Sequence[str], fields: Sequence[str]) -> list[float]:
        """The probability that ``fields[i]`` answers ``questions[i]``."""
        if not fields:
            return []
        self.eval()
        ids, mask = self.batch(questions, fields)
        return [float(v) for v in torch.sigmoid(self(ids, mask))]

    def base_values(self) -> dict[str, Any]:
        """Every parameter's value as a NumPy array (before training: the packed e5's); views
        of the parameters, not copies (the word embeddings alone are 384 MB)."""
        return {name: p.detach().numpy() for name, p in self.named_parameters()}

    def load_values(self, values: Mapping[str, Any]) -> None:
        """Set parameters by name (tensors or NumPy arrays); a name the model lacks is an
        error (weights of another model), a parameter not named keeps its value (the frozen
        embeddings)."""
        state = {name: torch.as_tensor(value) for name, value in values.items()}
        result = self.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise ValueError(f"unknown parameters {result.unexpected_keys}")

    @classmethod
    def shipped(cls, path: Path | None = None) -> tuple[CrossEncoder, dict[str, Any]]:
        """The fine-tuned model, in evaluation mode, and its training run's description."""
        model = cls()
        values, meta = load(path or shipped_weights(), model.base_values())
        model.load_values(values)
        model.eval()
        return model, meta

    def trainable(self) -> dict[str, torch.Tensor]:
        """What fine-tuning changed: every parameter but the frozen embeddings."""
        return {name: p.detach().clone() for name, p in self.named_parameters()
                if p.requires_grad}

    def freeze_embeddings(self) -> None:
        for p in self.encoder.embeddings.parameters():
            p.requires_grad_(False)
