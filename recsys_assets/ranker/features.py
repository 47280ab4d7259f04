"""The ranker's features and their encoding, recorded in a feature spec saved with the model.

Rows come from ``sql/model/ctr_ranker/ranker_rows.sql`` as Arrow; numeric features go to a float32
matrix as they are (NaN = missing), categorical ones to integer codes from the spec's
category lists (unknown or missing = NaN, which LightGBM treats as missing). Position is
never a feature.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NUMERIC = (
    "log_price", "price_rel", "item_age_days",
    "u_clicks", "u_purchases", "u_hours_since_click",
    "uc_clicks", "uc_purchases", "uc_share", "uc_exposure", "uc_ctr_exposure",
    "ui_clicks", "ui_prior_impressions",
    "i_impressions", "i_clicks", "i_purchases", "i_ctr", "i_exposure", "i_ctr_exposure",
    "q_clicks", "qc_clicks", "qc_share", "qc_exposure", "qc_ctr_exposure", "qi_clicks", "qi_share",
)
CATEGORICAL = ("category", "surface", "device", "segment", "region", "brand")
MAX_CATEGORIES = 1000
# Features whose larger values can only mean more relevance (LightGBM monotone constraints):
# rates of past clicks per exposure and shares of past clicks.
MONOTONE_INCREASING = frozenset({"i_ctr", "i_ctr_exposure", "uc_share", "uc_ctr_exposure", "qc_share", "qc_ctr_exposure",
                                 "qi_share"})


@dataclass
class FeatureSpec:
    """Names, types and category codes of the model's inputs (saved as JSON, no pickle)."""

    numeric: list[str] = field(default_factory=lambda: list(NUMERIC))
    categorical: dict[str, list[str]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @classmethod
    def fit(cls, table: pa.Table, exclude: str | tuple[str, ...] = ()) -> FeatureSpec:
        """Category lists from the training rows; ``exclude`` (names, or a comma list) is left out."""
        left_out = excluded_features(exclude)
        counts = {name: category_counts(table.column(name)) for name in CATEGORICAL if name not in left_out}
        return cls.from_counts(counts, exclude)

    @classmethod
    def from_counts(cls, counts: dict[str, dict[str, int]], exclude: str | tuple[str, ...] = ()) -> FeatureSpec:
        """The spec from each categorical feature's value counts: its MAX_CATEGORIES most
        frequent values (ties by value), listed in sorted order."""
        left_out = excluded_features(exclude)
        cats = {}
        for name in (c for c in CATEGORICAL if c not in left_out):
            ranked = sorted(counts.get(name, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CATEGORIES]
            cats[name] = sorted(value for value, _ in ranked)
        return cls(numeric=[n for n in NUMERIC if n not in left_out], categorical=cats)

    def encode_into(self, rows: pa.Table | pa.RecordBatch, out: np.ndarray) -> None:
        """The features of ``rows`` into ``out`` (float32, one column per name): numeric ones as
        they are (NaN = missing), categorical ones as codes of the spec's lists (NaN = unknown
        or missing). ``out`` may be a slice of a larger matrix (the streamed hand-off)."""
        for j, name in enumerate(self.numeric):
            out[:, j] = rows.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
        for k, (name, values) in enumerate(self.categorical.items()):
            codes = pc.index_in(rows.column(name).cast(pa.string()), value_set=pa.array(values, pa.string()))
            out[:, len(self.numeric) + k] = codes.cast(pa.float64()).to_numpy(zero_copy_only=False)

    def encode(self, table: pa.Table) -> np.ndarray:
        out = np.empty((table.num_rows, len(self.names)), dtype=np.float32)
        self.encode_into(table, out)
        return out

    def to_json(self) -> str:
        """The spec with its column order explicit (``names``): the matrix columns, and so the
        model's inputs, follow it; key order in JSON objects is not something to rely on."""
        return json.dumps({"names": self.names, **asdict(self)}, indent=2)

    @classmethod
    def load(cls, path: Path) -> FeatureSpec:
        data = json.loads(path.read_text())
        numeric, categorical = list(data["numeric"]), data["categorical"]
        # specs written before ``names`` was recorded had their categorical keys sorted: fit
        # creates them in CATEGORICAL order, so that order is restored
        known = {n: i for i, n in enumerate(CATEGORICAL)}
        order = data.get("names") or [*numeric, *sorted(categorical, key=lambda n: known.get(n, len(known)))]
        cats = [n for n in order if n in categorical]
        if sorted(cats) != sorted(categorical) or [n for n in order if n not in categorical] != numeric:
            raise ValueError(f"{path}: 'names' does not list the numeric then the categorical features")
        return cls(numeric=numeric, categorical={n: list(categorical[n]) for n in cats})


def category_counts(values: pa.Array | pa.ChunkedArray, into: dict[str, int] | None = None) -> dict[str, int]:
    """Counts of the non-null values (as strings), added to ``into`` when given."""
    out = {} if into is None else into
    for c in pc.value_counts(values.drop_null().cast(pa.string())).to_pylist():
        out[c["values"]] = out.get(c["values"], 0) + c["counts"]
    return out


def excluded_features(exclude: str | tuple[str, ...] | list[str]) -> frozenset[str]:
    """Feature names to leave out, checked against the known features."""
    names = [n.strip() for n in exclude.split(",")] if isinstance(exclude, str) else list(exclude)
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(NUMERIC) - set(CATEGORICAL))
    if unknown:
        raise ValueError(f"ranker_exclude_features (RECSYS_RANKER_EXCLUDE_FEATURES): unknown feature(s) {unknown}; "
                         f"known: {', '.join([*NUMERIC, *CATEGORICAL])}")
    return frozenset(names)


def group_sizes(request_ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Sizes of the runs of equal request ids (rows must be ordered by request); compared in
    Arrow, so no Python string object is made per row."""
    ids = request_ids.combine_chunks() if isinstance(request_ids, pa.ChunkedArray) else request_ids
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    changed = pc.not_equal(ids.slice(1), ids.slice(0, n - 1))
    change = np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1
    bounds = np.concatenate([[0], change, [n]])
    return np.diff(bounds)
