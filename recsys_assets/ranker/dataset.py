"""From the warehouse to LightGBM: rows of ``sql/model/ranker_rows.sql`` as Arrow, encoded;
or, for the large training sets, streamed in record batches and encoded as they arrive."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys_assets.ranker.features import FeatureSpec, category_counts, group_sizes
from recsys_assets.ranker.position_bias import Curve
from recsys_assets.ranker.training import TrainingSet
from recsys_assets.sql import arrow_batches, arrow_query


def load_rows(con: duckdb.DuckDBPyConnection, source: str, first_day: dt.date, last_day: dt.date) -> pa.Table:
    """Ranker rows of the days [first_day, last_day] (``truth_attractiveness`` must be registered)."""
    return arrow_query(con, "model/ranker_rows", {"source": source, "first_day": first_day, "last_day": last_day})


def column(table: pa.Table, name: str, dtype=np.float64) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(dtype)


def training_set(table: pa.Table, spec: FeatureSpec, curve: Curve, label: np.ndarray | None = None) -> TrainingSet:
    positions = column(table, "position", np.int64)
    return TrainingSet(
        X=spec.encode(table),
        label=column(table, "label") if label is None else label,
        weight=column(table, "weight"),
        position=positions,
        group=group_sizes(table.column("request_id")),
        theta=curve.at(positions),
    )


def stream_training_set(con: duckdb.DuckDBPyConnection, source: str, first_day: dt.date, last_day: dt.date, curve: Curve,
                        spec: FeatureSpec | None = None, exclude: str = "", label_column: str = "label",
                        batch_rows: int = 1 << 18) -> tuple[TrainingSet, FeatureSpec]:
    """``training_set(load_rows(...), spec or FeatureSpec.fit(...))`` without the Arrow table:
    record batches are encoded as they arrive (numeric columns to float32 blocks, categorical
    ones to per-batch dictionaries, their counts summed for the spec), so the peak is about
    the float32 matrix plus DuckDB's query instead of every column of every row as Arrow.
    Gives the same arrays as the Arrow path (tested)."""
    layout = spec or FeatureSpec.from_counts({}, exclude)  # the columns, before the categories are known
    numeric, categorical = layout.numeric, list(layout.categorical)
    counts: dict[str, dict[str, int]] = {name: {} for name in categorical}
    blocks, cats, labels, weights, positions, starts = [], [], [], [], [], []
    last_id = None
    batches = arrow_batches(con, "model/ranker_rows", {"source": source, "first_day": first_day, "last_day": last_day},
                            batch_rows)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        block = np.empty((batch.num_rows, len(numeric)), dtype=np.float32)
        layout.encode_numeric(batch, block)
        blocks.append(block)
        encoded = {}
        for name in categorical:
            values = batch.column(name).cast(pa.string())
            encoded[name] = pc.dictionary_encode(values)
            if spec is None:
                category_counts(values, counts[name])
        cats.append(encoded)
        labels.append(column(batch, label_column))
        weights.append(column(batch, "weight"))
        positions.append(column(batch, "position", np.int64))
        ids = batch.column("request_id")
        start = np.empty(batch.num_rows, dtype=bool)
        start[0] = last_id is None or ids[0].as_py() != last_id
        if batch.num_rows > 1:
            start[1:] = pc.not_equal(ids.slice(1), ids.slice(0, batch.num_rows - 1)).to_numpy(zero_copy_only=False)
        starts.append(start)
        last_id = ids[batch.num_rows - 1].as_py()
    spec = spec if spec is not None else FeatureSpec.from_counts(counts, exclude)
    n = sum(len(b) for b in blocks)
    X = np.empty((n, len(spec.names)), dtype=np.float32)
    value_sets = {name: pa.array(values, pa.string()) for name, values in spec.categorical.items()}
    row = 0
    for i, block in enumerate(blocks):
        m = len(block)
        X[row:row + m, :len(numeric)] = block
        blocks[i] = None  # freed as it is copied
        for k, name in enumerate(spec.categorical):
            dictionary = cats[i][name]
            code_of_entry = pc.index_in(dictionary.dictionary, value_set=value_sets[name])
            codes = pc.take(code_of_entry, dictionary.indices)
            X[row:row + m, len(numeric) + k] = codes.cast(pa.float64()).to_numpy(zero_copy_only=False)
        cats[i] = None
        row += m
    position = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    start = np.concatenate(starts) if starts else np.zeros(0, bool)
    bounds = np.concatenate([np.flatnonzero(start), [n]])
    rows = TrainingSet(
        X=X,
        label=np.concatenate(labels) if labels else np.zeros(0),
        weight=np.concatenate(weights) if weights else np.zeros(0),
        position=position,
        group=np.diff(bounds).astype(np.int64),
        theta=curve.at(position),
    )
    return rows, spec
