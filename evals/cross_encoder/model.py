"""The cross-encoder: question and field read together by the e5 encoder, one score out.

Input: ``<s> query: {question} </s> passage: {field} </s>`` (e5's own prefixes), the token
states mean-pooled as e5 pools (its pretraining made that vector meaningful, a better start
than [CLS]), then one linear unit: the logit that the field answers the question.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from evals.cross_encoder.encoder import bert_model, mean_pool
from evals.cross_encoder.packed import read
from evals.cross_encoder.tokenizer import E5Tokenizer

MAX_TOKENS = 128


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

    def trainable(self) -> dict[str, torch.Tensor]:
        """What fine-tuning changed: every parameter but the frozen embeddings."""
        return {name: p.detach().clone() for name, p in self.named_parameters()
                if p.requires_grad}

    def freeze_embeddings(self) -> None:
        for p in self.encoder.embeddings.parameters():
            p.requires_grad_(False)
