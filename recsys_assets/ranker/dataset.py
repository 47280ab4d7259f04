"""From the warehouse to LightGBM: rows of ``sql/model/ranker_rows.sql`` as Arrow, encoded."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa

from recsys_assets.ranker.features import FeatureSpec, group_sizes
from recsys_assets.ranker.position_bias import Curve
from recsys_assets.ranker.training import TrainingSet
from recsys_assets.sql import arrow_query


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
