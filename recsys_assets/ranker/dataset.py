"""From the warehouse to LightGBM: rows of ``sql/model/ctr_ranker/ranker_rows.sql`` as Arrow, encoded;
or, for the large training sets, streamed through a spill file into a preallocated matrix, or
read back from that file batch by batch while LightGBM bins them."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys_assets.ranker.features import FeatureSpec, category_counts, group_sizes
from recsys_assets.ranker.position_bias import Curve
from recsys_assets.ranker.training import TrainingSet
from recsys_assets.warehouse.sql import arrow_batches, arrow_query, execute, query_dicts, release_memory

#: compression of the hand-off's spill file (Arrow IPC: "lz4", "zstd" or None)
SPOOL_COMPRESSION = "lz4"


#: rows per query of a streamed hand-off: larger ones run as several queries over ranges of
#: request ids (at 1M requests x 30 impressions, 12.9M rows in one query ran out of DuckDB's
#: 3.4 GB in its joins and sort)
HANDOFF_RANGE_ROWS = 4_000_000


def load_rows(con: duckdb.DuckDBPyConnection, source: str, first_day: dt.date, last_day: dt.date) -> pa.Table:
    """Ranker rows of the days [first_day, last_day] (``truth_attractiveness`` must be registered)."""
    return arrow_query(con, "model/ctr_ranker/ranker_rows", {"source": source, "first_day": first_day, "last_day": last_day,
                                                             "lo": None, "hi": None})


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def request_ranges(con: duckdb.DuckDBPyConnection, source: str, first_day: dt.date, last_day: dt.date,
                   range_rows: int | None = None) -> list[tuple[str | None, str | None]]:
    """[lo, hi) ranges of request ids (None: unbounded) holding about ``range_rows`` rows each,
    in id order; one unbounded range when the rows fit in one."""
    bounds = [r["bound"] for r in query_dicts(con, "model/ctr_ranker/ranker_row_ranges", {
        "source": source, "first_day": first_day, "last_day": last_day, "range_rows": range_rows or HANDOFF_RANGE_ROWS})]
    return list(itertools.pairwise([None, *bounds, None]))


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


class SpooledRows(lgb.Sequence):
    """The encoded feature matrix of a spooled hand-off, read back one Arrow batch at a time:
    what LightGBM bins a large training set from (``lgb.Dataset`` takes a ``Sequence``), so that
    the float32 matrix is never in memory whole beside LightGBM's bins. Row ``i`` and ranges of
    rows give the same values as the matrix would (tested). The batch after the one read is
    encoded ahead on another thread (LightGBM reads them in order). Owns the spool directory:
    ``close()`` removes it (so does garbage collection)."""

    def __init__(self, path: Path, spec: FeatureSpec, sizes: list[int], spool: tempfile.TemporaryDirectory):
        self._spool, self._spec = spool, spec
        self._file = pa.OSFile(str(path))  # read, not mapped: mapped pages would count in the RSS
        self._reader = pa.ipc.open_file(self._file)
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.shape = (int(self._starts[-1]), len(spec.names))
        self.batch_size = max(sizes, default=1)  # LightGBM's reads then fall on the spool's batches
        self._cached: tuple[int, np.ndarray] | None = None
        self._ahead: tuple[int, Future] | None = None
        self._pool = ThreadPoolExecutor(1)

    def __len__(self) -> int:
        return self.shape[0]

    def _encode(self, b: int) -> np.ndarray:
        batch = self._reader.get_batch(b)
        out = np.empty((batch.num_rows, self.shape[1]), dtype=np.float32)
        self._spec.encode_into(batch, out)
        return out

    def _batch(self, b: int) -> np.ndarray:
        if self._cached is not None and self._cached[0] == b:
            return self._cached[1]
        if self._ahead is not None and self._ahead[0] == b:
            rows = self._ahead[1].result()
        else:
            rows = self._encode(b)
        self._ahead = (b + 1, self._pool.submit(self._encode, b + 1)) if b + 1 < len(self._starts) - 1 else None
        self._cached = (b, rows)
        return rows

    def __getitem__(self, idx):
        n = self.shape[0]
        if isinstance(idx, (int, np.integer)):
            i = int(idx) + n if idx < 0 else int(idx)
            if not 0 <= i < n:
                raise IndexError(f"row {idx} of {n}")
            b = int(np.searchsorted(self._starts, i, side="right")) - 1
            return self._batch(b)[i - self._starts[b]].astype(np.float64)  # LightGBM samples rows as doubles
        if isinstance(idx, slice):
            lo, hi, step = idx.indices(n)
            if step != 1:
                raise IndexError("SpooledRows reads contiguous ranges of rows only")
            if hi <= lo:
                return np.empty((0, self.shape[1]), dtype=np.float32)
            first = int(np.searchsorted(self._starts, lo, side="right")) - 1
            last = int(np.searchsorted(self._starts, hi - 1, side="right")) - 1
            parts = [self._batch(b)[max(lo - self._starts[b], 0):hi - self._starts[b]] for b in range(first, last + 1)]
            return parts[0] if len(parts) == 1 else np.concatenate(parts)
        raise TypeError(f"SpooledRows indices are ints or slices, not {type(idx).__name__}")

    def close(self) -> None:
        """Drop the cached batches and remove the spool file."""
        self._pool.shutdown(wait=True)
        self._cached = self._ahead = None
        self._reader = None
        self._file.close()
        self._spool.cleanup()


def stream_training_set(con: duckdb.DuckDBPyConnection, source: str, first_day: dt.date, last_day: dt.date, curve: Curve,
                        spec: FeatureSpec | None = None, exclude: str = "", label_column: str = "label",
                        batch_rows: int = 1 << 18, batches: bool = False,
                        range_rows: int | None = None) -> tuple[TrainingSet, FeatureSpec]:
    """``training_set(load_rows(...), spec or FeatureSpec.fit(...))`` without the Arrow table,
    in two passes so that DuckDB's sort and the matrix are never in memory together:

    1. the query's record batches (ordered by request: DuckDB's sort, which spills) are
       written, with only the columns the matrix needs, to an LZ4-compressed Arrow file in
       DuckDB's spill directory; the rows and the category counts (for the spec) are counted
       on the way. The query's memory is released when it ends. The query runs day by day,
       and a day of more than ``range_rows`` rows (default ``HANDOFF_RANGE_ROWS``) range of
       request ids by range: the rows come in the one query's order, a part at a time.
    2. the file is read back batch by batch into the label, weight and position vectors and
       a preallocated float32 matrix (numeric columns as they are, categorical ones as codes
       of the spec's lists); with ``batches`` the matrix is not built: ``X`` is a
       :class:`SpooledRows` over the file, which LightGBM bins batch by batch (the training
       set's largest allocation gone: 4.8 GB at the benchmark's 3x scale).

    The peak is then about the larger of DuckDB's memory limit and the matrix, not their sum
    (without the matrix: DuckDB's limit, or LightGBM's bins and the vectors).
    Gives the same arrays as the Arrow path (tested)."""
    layout = spec or FeatureSpec.from_counts({}, exclude)  # the columns, before the categories are known
    numeric, categorical = layout.numeric, list(layout.categorical)
    keep = [*numeric, *categorical, label_column, "weight", "position", "request_id"]
    counts: dict[str, dict[str, int]] = {name: {} for name in categorical}
    options = pa.ipc.IpcWriteOptions(compression=SPOOL_COMPRESSION)
    spool = tempfile.TemporaryDirectory(prefix="ranker-rows-", dir=_spool_dir(con))
    try:
        path = Path(spool.name) / "rows.arrow"
        sizes: list[int] = []
        writer = None
        with pa.OSFile(str(path), "wb") as sink:
            parts = [(day, lo, hi) for day in _days(first_day, last_day)
                     for lo, hi in request_ranges(con, source, day, day, range_rows)] or [(first_day, None, None)]
            for day, lo, hi in parts:
                reader = arrow_batches(con, "model/ctr_ranker/ranker_rows",
                                       {"source": source, "first_day": day, "last_day": day, "lo": lo, "hi": hi},
                                       batch_rows)
                try:
                    if writer is None:
                        writer = pa.ipc.new_file(sink, pa.schema([reader.schema.field(c) for c in keep]), options=options)
                    for batch in reader:
                        if batch.num_rows == 0:
                            continue
                        batch = batch.select(keep)
                        if spec is None:
                            for name in categorical:
                                category_counts(batch.column(name), counts[name])
                        writer.write_batch(batch)
                        sizes.append(batch.num_rows)
                finally:
                    reader.close()
            writer.close()
        release_memory(con)  # DuckDB's cached blocks, which LightGBM needs next
        spec = spec if spec is not None else FeatureSpec.from_counts(counts, exclude)
        n = sum(sizes)
        X = None if batches else np.empty((n, len(spec.names)), dtype=np.float32)
        label, weight = np.empty(n), np.empty(n)
        position = np.empty(n, dtype=np.int64)
        start = np.empty(n, dtype=bool)

        def fill(batch: pa.RecordBatch, row: int) -> tuple[object, object]:
            """One batch into its rows of the arrays; its first and last request ids."""
            m = batch.num_rows
            if X is not None:
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
        with ThreadPoolExecutor(workers) as pool, pa.OSFile(str(path)) as spooled:
            spool_reader = pa.ipc.open_file(spooled)
            pending: list[tuple[int, Future]] = []
            row = 0
            for b in range(spool_reader.num_record_batches):
                batch = spool_reader.get_batch(b)
                pending.append((row, pool.submit(fill, batch, row)))
                row += batch.num_rows
                if len(pending) > workers:
                    first_row, done = pending.pop(0)
                    edges.append((first_row, *done.result()))
            edges += [(first_row, *done.result()) for first_row, done in pending]
        for (first_row, first_id, _), (_, _, previous_last) in zip(edges[1:], edges[:-1], strict=True):
            start[first_row] = first_id != previous_last
        if batches:
            X = SpooledRows(path, spec, sizes, spool)
    finally:
        if not batches:
            spool.cleanup()
    bounds = np.concatenate([np.flatnonzero(start), [n]])
    rows = TrainingSet(X=X, label=label, weight=weight, position=position, group=np.diff(bounds).astype(np.int64),
                       theta=curve.at(position), offset=curve.offset_at(position))
    return rows, spec
