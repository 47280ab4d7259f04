"""The two-tower model and its files.

A request's vector is the sum of the embeddings of its context fields (user, query,
surface, device, region, segment); an item's vector is the sum of the embeddings of its
fields (item, category, subcategory, brand), and its bias the sum of their biases. The
score of item ``i`` for request ``r`` is ``<u_r, v_i> + b_i``. Index 0 of every vocabulary
is "unknown or rare", so a new user or item is scored through its other fields (a new
item by its category and brand).

On disk (``<models>/<model_id>/``): ``weights.npz`` (the arrays, loaded with
``allow_pickle=False``) and ``model.json`` (fields, vocabularies, dimension, training
configuration and lineage). Never pickle.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CONTEXT_FIELDS = ("user_id", "query", "surface", "device", "region", "segment")
ITEM_FIELDS = ("item_id", "category", "subcategory", "brand")


@dataclass(frozen=True)
class Vocabulary:
    """Values of one field with their indices (1-based; 0 = unknown or rarer than ``min_count``)."""

    values: tuple[str, ...]

    @classmethod
    def fit(cls, column: pa.Array | pa.ChunkedArray, min_count: int = 1) -> Vocabulary:
        counts = pa.chunked_array([column]).combine_chunks().drop_null().value_counts() if len(column) else None
        if counts is None or len(counts) == 0:
            return cls(())
        values = counts.field("values").to_numpy(zero_copy_only=False).astype(str)
        n = counts.field("counts").to_numpy()
        return cls(tuple(sorted(values[n >= min_count])))

    def encode(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Indices of the values (0 for unknown and null), int32."""
        if not self.values:
            return np.zeros(len(column), np.int32)
        idx = pc.index_in(column, value_set=pa.array(self.values, pa.string())).fill_null(-1)
        return (idx.to_numpy(zero_copy_only=False) + 1).astype(np.int32)

    def __len__(self) -> int:
        return len(self.values) + 1


@dataclass
class TwoTower:
    """Embedding tables of both towers. ``context[f]`` is ``(len(vocab_f), dim)``; ``items[f]``
    likewise for item fields, with ``bias[f]`` of shape ``(len(vocab_f),)``."""

    context_vocab: dict[str, Vocabulary]
    item_vocab: dict[str, Vocabulary]
    dim: int
    context: dict[str, np.ndarray] = field(default_factory=dict)
    items: dict[str, np.ndarray] = field(default_factory=dict)
    bias: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def initial(cls, context_vocab: dict[str, Vocabulary], item_vocab: dict[str, Vocabulary], dim: int,
                seed: int, scale: float = 0.05) -> TwoTower:
        rng = np.random.default_rng(seed)
        model = cls(context_vocab, item_vocab, dim)
        for f, v in context_vocab.items():
            model.context[f] = rng.normal(0.0, scale, (len(v), dim))
        for f, v in item_vocab.items():
            model.items[f] = rng.normal(0.0, scale, (len(v), dim))
            model.bias[f] = np.zeros(len(v))
        return model

    def parameters(self) -> dict[str, np.ndarray]:
        """Every array by a stable name (the optimizer's and the file's keys)."""
        out = {f"context/{f}": a for f, a in self.context.items()}
        out |= {f"items/{f}": a for f, a in self.items.items()}
        out |= {f"bias/{f}": a for f, a in self.bias.items()}
        return out

    def encode_context(self, table: pa.Table) -> np.ndarray:
        """``(rows, context fields)`` indices of a table with the context columns."""
        return np.stack([self.context_vocab[f].encode(table.column(f)) for f in self.context_vocab], axis=1) \
            if table.num_rows else np.zeros((0, len(self.context_vocab)), np.int32)

    def encode_items(self, table: pa.Table) -> np.ndarray:
        """``(rows, item fields)`` indices of a table with the item columns."""
        return np.stack([self.item_vocab[f].encode(table.column(f)) for f in self.item_vocab], axis=1) \
            if table.num_rows else np.zeros((0, len(self.item_vocab)), np.int32)

    def user_vectors(self, ctx: np.ndarray) -> np.ndarray:
        out = np.zeros((len(ctx), self.dim))
        for j, f in enumerate(self.context_vocab):
            out += self.context[f][ctx[:, j]]
        return out

    def item_vectors(self, item_fields: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vec = np.zeros((len(item_fields), self.dim))
        bias = np.zeros(len(item_fields))
        for j, f in enumerate(self.item_vocab):
            vec += self.items[f][item_fields[:, j]]
            bias += self.bias[f][item_fields[:, j]]
        return vec, bias

    def scores(self, ctx: np.ndarray, item_fields: np.ndarray) -> np.ndarray:
        """``(requests, items)`` scores of every item for every request."""
        vec, bias = self.item_vectors(item_fields)
        return self.user_vectors(ctx) @ vec.T + bias


def save(directory: Path, model: TwoTower, info: dict[str, Any]) -> Path:
    """Write the model files atomically: into a temporary folder, then rename into place."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    np.savez(tmp / "weights.npz", **model.parameters())
    spec = {"dim": model.dim,
            "context_fields": {f: list(v.values) for f, v in model.context_vocab.items()},
            "item_fields": {f: list(v.values) for f, v in model.item_vocab.items()},
            "info": info}
    (tmp / "model.json").write_text(json.dumps(spec, indent=1, sort_keys=False, default=str))
    os.replace(tmp, directory)
    return directory


def load(directory: Path) -> TwoTower:
    spec = json.loads((directory / "model.json").read_text())
    model = TwoTower({f: Vocabulary(tuple(v)) for f, v in spec["context_fields"].items()},
                     {f: Vocabulary(tuple(v)) for f, v in spec["item_fields"].items()}, int(spec["dim"]),
                     info=spec["info"])
    with np.load(directory / "weights.npz", allow_pickle=False) as arrays:
        for name in arrays.files:
            kind, f = name.split("/", 1)
            getattr(model, kind)[f] = arrays[name]
    for f, v in model.context_vocab.items():
        if model.context[f].shape != (len(v), model.dim):
            raise ValueError(f"{directory / 'weights.npz'}: context/{f} has shape {model.context[f].shape}, "
                             f"expected {(len(v), model.dim)}")
    return model
