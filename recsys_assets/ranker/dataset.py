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
    """Ranker rows of the days [first_day, last_day] in request order (``truth_attractiveness``
    must be registered): the query's rows put in place by their ``ord``."""
    table = arrow_query(con, "model/ranker_rows", {"source": source, "first_day": first_day, "last_day": last_day})
    order = pa.array(_inverse(column(table, "ord", np.int64)))
    names, columns = table.column_names, table.columns
    del table
    for i in range(len(columns)):  # column by column: the peak is the table plus one column, not two tables
        columns[i] = columns[i].take(order)
    return pa.table(columns, names=names)


def _inverse(ord_: np.ndarray) -> np.ndarray:
    """The permutation that puts row i at place ord_[i] (``ord`` is 0 .. n-1, each once)."""
    _check_places(ord_, len(ord_))
    out = np.empty(len(ord_), dtype=np.int64)
    out[ord_] = np.arange(len(ord_))
    return out


def _check_places(places: np.ndarray, n: int) -> None:
    """Every place 0 .. n-1 taken exactly once (else the rows would be misplaced silently)."""
    if len(places) != n or (n and (places.min() < 0 or places.max() >= n or np.bincount(places, minlength=n).max() > 1)):
        raise ValueError(f"model/ranker_rows: the rows' ord ({len(places)} values) is not a permutation of 0 .. {n - 1}")


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
    the query's rows arrive unsorted in record batches, each row carrying its place in request
    order (``ord``) and the row count; the float32 matrix is allocated at the first batch and
    every batch is written into its places as it arrives (numeric columns at once; categorical
    ones, when the spec is still to be fitted, as per-batch dictionaries coded at the end).
    The peak is about the matrix plus DuckDB's query (no sort of the wide rows). Gives the same
    arrays as the Arrow path (tested)."""
    layout = spec or FeatureSpec.from_counts({}, exclude)  # the columns, before the categories are known
    numeric, categorical = layout.numeric, list(layout.categorical)
    counts: dict[str, dict[str, int]] = {name: {} for name in categorical}
    pending: list[tuple[np.ndarray, dict[str, pa.DictionaryArray]]] = []
    X = label = weight = position = start = None
    places = []
    batches = arrow_batches(con, "model/ranker_rows", {"source": source, "first_day": first_day, "last_day": last_day},
                            batch_rows)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if X is None:
            n = int(batch.column("rows_total")[0].as_py())
            X = np.empty((n, len(layout.names)), dtype=np.float32)
            label, weight = np.empty(n), np.empty(n)
            position, start = np.empty(n, dtype=np.int64), np.zeros(n, dtype=bool)
        at = column(batch, "ord", np.int64)
        places.append(at)
        block = np.empty((batch.num_rows, len(numeric)), dtype=np.float32)
        layout.encode_numeric(batch, block)
        X[at, :len(numeric)] = block
        label[at] = column(batch, label_column)
        weight[at] = column(batch, "weight")
        position[at] = column(batch, "position", np.int64)
        start[at] = column(batch, "starts_request", bool)
        if spec is None:
            encoded = {}
            for name in categorical:
                values = batch.column(name).cast(pa.string())
                encoded[name] = pc.dictionary_encode(values)
                category_counts(values, counts[name])
            pending.append((at, encoded))
        else:
            X[at, len(numeric):] = spec.encode_categorical(batch)
    if X is None:
        X, label, weight = np.zeros((0, len(layout.names)), np.float32), np.zeros(0), np.zeros(0)
        position, start = np.zeros(0, np.int64), np.zeros(0, bool)
    _check_places(np.concatenate(places) if places else np.zeros(0, np.int64), len(label))
    del places
    spec = spec if spec is not None else FeatureSpec.from_counts(counts, exclude)
    value_sets = {name: pa.array(values, pa.string()) for name, values in spec.categorical.items()}
    for i, (at, encoded) in enumerate(pending):
        for k, name in enumerate(spec.categorical):
            code_of_entry = pc.index_in(encoded[name].dictionary, value_set=value_sets[name])
            codes = pc.take(code_of_entry, encoded[name].indices)
            X[at, len(numeric) + k] = codes.cast(pa.float64()).to_numpy(zero_copy_only=False)
        pending[i] = None  # freed as it is coded
    n = len(label)
    bounds = np.concatenate([np.flatnonzero(start), [n]])
    rows = TrainingSet(X=X, label=label, weight=weight, position=position, group=np.diff(bounds).astype(np.int64),
                       theta=curve.at(position))
    return rows, spec
