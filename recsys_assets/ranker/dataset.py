"""From the warehouse to LightGBM: rows of ``sql/model/ctr_ranker/ranker_rows.sql`` as Arrow, encoded;
or, for the large training sets, streamed through a spill file into a preallocated matrix."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys_assets.ranker.features import FeatureSpec, category_counts, group_sizes
from recsys_assets.ranker.position_bias import Curve
from recsys_assets.ranker.training import TrainingSet
from recsys_assets.warehouse.sql import arrow_batches, arrow_query, execute

#: compression of the hand-off's spill file (Arrow IPC: "lz4", "zstd" or None)
SPOOL_COMPRESSION = "lz4"


def load_rows(con: duckdb.DuckDBPyConnection, source: str, first_day: dt.date, last_day: dt.date) -> pa.Table:
    """Ranker rows of the days [first_day, last_day] (``truth_attractiveness`` must be registered)."""
    return arrow_query(con, "model/ctr_ranker/ranker_rows", {"source": source, "first_day": first_day, "last_day": last_day})


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
        offset=curve.offset_at(positions),
    )


def _spool_dir(con: duckdb.DuckDBPyConnection) -> str | None:
    """DuckDB's spill directory (where the user put room for large intermediates), or the
    system's temporary directory when the connection has none."""
    (path,) = execute(con, "SELECT current_setting('temp_directory')")[0]
    if path and path != ".tmp":
        Path(path).mkdir(parents=True, exist_ok=True)
        return path
    return None


def stream_training_set(con: duckdb.DuckDBPyConnection, source: str, first_day: dt.date, last_day: dt.date, curve: Curve,
                        spec: FeatureSpec | None = None, exclude: str = "", label_column: str = "label",
                        batch_rows: int = 1 << 18) -> tuple[TrainingSet, FeatureSpec]:
    """``training_set(load_rows(...), spec or FeatureSpec.fit(...))`` without the Arrow table,
    in two passes so that DuckDB's sort and the matrix are never in memory together:

    1. the query's record batches (ordered by request: DuckDB's sort, which spills) are
       written, with only the columns the matrix needs, to an LZ4-compressed Arrow file in
       DuckDB's spill directory; the rows and the category counts (for the spec) are counted
       on the way. The query's memory is released when it ends.
    2. the file is read back batch by batch into a preallocated float32 matrix (numeric
       columns as they are, categorical ones as codes of the spec's lists) and the label,
       weight and position vectors.

    The peak is then about the larger of DuckDB's memory limit and the matrix, not their sum.
    Gives the same arrays as the Arrow path (tested)."""
    layout = spec or FeatureSpec.from_counts({}, exclude)  # the columns, before the categories are known
    numeric, categorical = layout.numeric, list(layout.categorical)
    keep = [*numeric, *categorical, label_column, "weight", "position", "request_id"]
    counts: dict[str, dict[str, int]] = {name: {} for name in categorical}
    options = pa.ipc.IpcWriteOptions(compression=SPOOL_COMPRESSION)
    with tempfile.TemporaryDirectory(prefix="ranker-rows-", dir=_spool_dir(con)) as tmp:
        path = Path(tmp) / "rows.arrows"
        n = 0
        reader = arrow_batches(con, "model/ctr_ranker/ranker_rows", {"source": source, "first_day": first_day, "last_day": last_day},
                               batch_rows)
        try:
            with pa.OSFile(str(path), "wb") as sink, \
                    pa.ipc.new_stream(sink, pa.schema([reader.schema.field(c) for c in keep]),
                                      options=options) as writer:
                for batch in reader:
                    if batch.num_rows == 0:
                        continue
                    batch = batch.select(keep)
                    if spec is None:
                        for name in categorical:
                            category_counts(batch.column(name), counts[name])
                    writer.write_batch(batch)
                    n += batch.num_rows
        finally:
            reader.close()
        spec = spec if spec is not None else FeatureSpec.from_counts(counts, exclude)
        X = np.empty((n, len(spec.names)), dtype=np.float32)
        label, weight = np.empty(n), np.empty(n)
        position = np.empty(n, dtype=np.int64)
        start = np.empty(n, dtype=bool)

        def fill(batch: pa.RecordBatch, row: int) -> tuple[object, object]:
            """One batch into its rows of the arrays; its first and last request ids."""
            m = batch.num_rows
            spec.encode_into(batch, X[row:row + m])
            label[row:row + m] = column(batch, label_column)
            weight[row:row + m] = column(batch, "weight")
            position[row:row + m] = column(batch, "position", np.int64)
            ids = batch.column("request_id")
            start[row] = True  # set below against the previous batch's last request
            if m > 1:
                start[row + 1:row + m] = pc.not_equal(ids.slice(1), ids.slice(0, m - 1)).to_numpy(zero_copy_only=False)
            return ids[0].as_py(), ids[m - 1].as_py()

        # batches encoded in parallel (Arrow and NumPy release the GIL), a few in flight
        workers = max(1, min(4, os.cpu_count() or 1))
        edges: list[tuple[int, object, object]] = []  # (first row, first id, last id) of each batch
        with ThreadPoolExecutor(workers) as pool, pa.OSFile(str(path), "rb") as spooled, \
                pa.ipc.open_stream(spooled) as spool:
            pending: list[tuple[int, Future]] = []
            row = 0
            for batch in spool:
                pending.append((row, pool.submit(fill, batch, row)))
                row += batch.num_rows
                if len(pending) > workers:
                    first_row, done = pending.pop(0)
                    edges.append((first_row, *done.result()))
            edges += [(first_row, *done.result()) for first_row, done in pending]
        for (first_row, first_id, _), (_, _, previous_last) in zip(edges[1:], edges[:-1], strict=True):
            start[first_row] = first_id != previous_last
    bounds = np.concatenate([np.flatnonzero(start), [n]])
    rows = TrainingSet(X=X, label=label, weight=weight, position=position, group=np.diff(bounds).astype(np.int64),
                       theta=curve.at(position), offset=curve.offset_at(position))
    return rows, spec
