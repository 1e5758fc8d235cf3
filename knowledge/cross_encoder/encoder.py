"""The packed e5 weights as a ``transformers`` ``BertModel`` (float32, dequantised).

multilingual-e5-small is a BERT encoder (12 layers, hidden 384, 12 heads, intermediate 1536)
over the XLM-R vocabulary; the C engine runs it with token type 0 and positions from 0, which
is what ``BertModel`` does by default.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import BertConfig, BertModel

from knowledge.cross_encoder.packed import Packed, model_names


def bert_config(packed: Packed) -> BertConfig:
    c = packed.config
    return BertConfig(vocab_size=c.vocabulary, hidden_size=c.hidden,
                      num_hidden_layers=c.layers, num_attention_heads=c.heads,
                      intermediate_size=c.intermediate, max_position_embeddings=c.positions,
                      type_vocab_size=c.token_types, layer_norm_eps=c.eps, hidden_act="gelu",
                      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)


def bert_model(packed: Packed) -> BertModel:
    """A ``BertModel`` (no pooler: e5 mean-pools) holding every packed weight."""
    model = BertModel(bert_config(packed), add_pooling_layer=False)
    names = model_names(packed.config.layers)
    params = dict(model.named_parameters())
    missing = set(params) - set(names.values())
    if missing:
        raise ValueError(f"no packed weights for {sorted(missing)}")
    with torch.no_grad():
        for packed_name, name in names.items():
            target = params[name]
            source = np.asarray(packed.tensors[packed_name], dtype=np.float32)
            target.copy_(torch.from_numpy(source.reshape(tuple(target.shape))))
    model.eval()  # type: ignore[no-untyped-call]
    return model


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of each sequence's unmasked token states, as e5 pools."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
