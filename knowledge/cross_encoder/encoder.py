"""The packed e5 weights as a ``transformers`` ``BertModel`` (float32, dequantised).

multilingual-e5-small is a BERT encoder (12 layers, hidden 384, 12 heads, intermediate 1536)
over the XLM-R vocabulary; the C engine runs it with token type 0 and positions from 0, which
is what ``BertModel`` does by default.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import BertConfig, BertModel

from knowledge.cross_encoder.packed import Packed

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
    names = dict(_EMBEDDINGS)
    for layer in range(packed.config.layers):
        names |= {f"l{layer}.{short}": f"encoder.layer.{layer}.{long}"
                  for short, long in _LAYER.items()}
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
