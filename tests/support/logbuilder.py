"""Build small logs directories in the input contract for tests, from plain Python rows.

Only the columns a test names are written (the contract's defaults fill the rest), so a
test reads as "given these logs".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

T0 = dt.datetime(2026, 1, 5, 10, 0, 0)


def at(minutes: float = 0, days: int = 0, base: dt.datetime = T0) -> dt.datetime:
    return base + dt.timedelta(days=days, minutes=minutes)


def write_table(root: Path, table: str, rows: list[dict[str, Any]], name: str = "part-0.parquet",
                schema: pa.Schema | None = None) -> Path:
    folder = root / table
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if schema is None and not rows:
        raise ValueError("empty table needs a schema")
    if schema is None:
        keys = list(dict.fromkeys(k for row in rows for k in row))  # every column any row names
        rows = [{k: row.get(k) for k in keys} for row in rows]
    tbl = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(tbl, path)
    return path


def write_csv(root: Path, table: str, text: str, name: str = "part-0.csv") -> Path:
    folder = root / table
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def minimal_logs(root: Path, *, requests: list[dict] | None = None, impressions: list[dict] | None = None,
                 events: list[dict] | None = None, items: list[dict] | None = None, **optional: list[dict]) -> Path:
    """A logs directory with the four required tables (each given or one default row)."""
    requests = requests if requests is not None else [{"request_id": "r1", "ts": T0, "user_id": "u1"}]
    impressions = impressions if impressions is not None else [{"request_id": "r1", "item_id": "i1", "position": 1}]
    events = events if events is not None else [
        {"event_id": "e1", "ts": at(1), "type": "click", "item_id": "i1", "user_id": "u1", "request_id": "r1"}
    ]
    items = items if items is not None else [{"item_id": "i1", "valid_from": at(days=-30), "category": "c1"}]
    write_table(root, "requests", requests)
    write_table(root, "impressions", impressions)
    write_table(root, "events", events)
    write_table(root, "items", items)
    for table, rows in optional.items():
        write_table(root, table, rows)
    return root
