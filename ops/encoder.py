"""The MiniLM encoder as a small torch module of our own: trainable from any layer up, exportable.

A plain BERT (embeddings, six post-norm layers, GELU) loaded from the packaged safetensors, with
mean pooling over the attention mask and L2 normalisation, then one head per task. Owning the
module (instead of going through transformers) lets the build cache the output of the frozen lower
layers once and fine-tune only the top ones, and keeps the exported ONNX graph exactly what was
trained. Checked against transformers' BertModel in the tests (max |difference| < 1e-5).
Build time only: needs torch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

HIDDEN = 384
HEADS = 12
LAYERS = 6
INTERMEDIATE = 1536
EPS = 1e-12


class Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)
        self.attention_out = nn.Linear(HIDDEN, HIDDEN)
        self.attention_norm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.intermediate = nn.Linear(HIDDEN, INTERMEDIATE)
        self.output = nn.Linear(INTERMEDIATE, HIDDEN)
        self.output_norm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, HEADS, HIDDEN // HEADS).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + additive_mask
        attention = self.dropout(torch.softmax(scores, dim=-1)) @ v
        attention = attention.transpose(1, 2).reshape(batch, length, HIDDEN)
        x = self.attention_norm(x + self.dropout(self.attention_out(attention)))
        hidden = nn.functional.gelu(self.intermediate(x))
        return self.output_norm(x + self.dropout(self.output(hidden)))


class Encoder(nn.Module):
    """Token ids -> L2-normalised mean-pooled embedding, optionally from layer ``start`` on."""

    def __init__(self) -> None:
        super().__init__()
        self.word = nn.Embedding(30522, HIDDEN)
        self.position = nn.Embedding(512, HIDDEN)
        self.token_type = nn.Embedding(2, HIDDEN)
        self.embedding_norm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.dropout = nn.Dropout(0.1)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))

    @staticmethod
    def additive_mask(attention_mask: torch.Tensor) -> torch.Tensor:
        return ((1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0).to(
            torch.float32
        )

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        x = self.word(input_ids) + self.position(positions) + self.token_type.weight[0]
        return self.dropout(self.embedding_norm(x))

    def hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        stop: int = LAYERS,
    ) -> torch.Tensor:
        """Token states after ``stop`` layers (0 = the embeddings)."""
        mask = self.additive_mask(attention_mask)
        x = self.embed(input_ids)
        for layer in self.layers[:stop]:
            x = layer(x, mask)
        return x

    def finish(
        self, x: torch.Tensor, attention_mask: torch.Tensor, *, start: int = 0
    ) -> torch.Tensor:
        """Run layers ``start``.. on token states and pool them into the embedding."""
        mask = self.additive_mask(attention_mask)
        for layer in self.layers[start:]:
            x = layer(x, mask)
        weights = attention_mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2.0, dim=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.finish(self.hidden(input_ids, attention_mask, stop=0), attention_mask)


_NAMES = {
    "word.weight": "embeddings.word_embeddings.weight",
    "position.weight": "embeddings.position_embeddings.weight",
    "token_type.weight": "embeddings.token_type_embeddings.weight",
    "embedding_norm.weight": "embeddings.LayerNorm.weight",
    "embedding_norm.bias": "embeddings.LayerNorm.bias",
}
_LAYER_NAMES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_out": "attention.output.dense",
    "attention_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
    "output_norm": "output.LayerNorm",
}


def load_encoder(folder: Path) -> Encoder:
    """The packaged all-MiniLM-L6-v2 weights (model.safetensors) in our module."""
    from safetensors.torch import load_file

    weights = load_file(str(folder / "model.safetensors"))
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    state: dict[str, Any] = {ours: weights[theirs] for ours, theirs in _NAMES.items()}
    for index in range(LAYERS):
        for ours, theirs in _LAYER_NAMES.items():
            for part in ("weight", "bias"):
                state[f"layers.{index}.{ours}.{part}"] = weights[
                    f"encoder.layer.{index}.{theirs}.{part}"
                ]
    encoder = Encoder()
    encoder.load_state_dict(state)
    return encoder.eval()
