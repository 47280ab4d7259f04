"""Snapshots layer: point-in-time item state and each impression's context as of its request.

``item_state`` turns item versions into bitemporal SCD intervals; ``history_rows`` keeps a
day's clicks, purchases and exposures as narrow rows with the keys history is read by, and
``history_rollups`` sums them per key and day; ``impression_context`` joins every
user-traffic impression with the item state and with user, item and query history computed
only from rows that happened and were recorded before the request: whole days from the
rollups, the window's edges from the rows.
"""

import datetime as dt
import itertools
from typing import Any

import dagster as dg

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.defs.automation import LOOKBACK_DAYS, follow_upstream, refresh_within
from recsys_assets.defs.partitions import daily_partitions, day_bounds, window
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts, run_sql
from recsys_assets.warehouse.tables import ensure_schema, sql_code_version, transaction, write_atomically

from .clean import events, impressions, items, requests, users

DAILY = daily_partitions()
_PIPELINE = load_settings().pipeline


def _rows_meta(rows: list[dict[str, Any]]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for row in rows:
        meta |= {k: v for k, v in row.items() if v is not None}
    return meta


@dg.asset(
    automation_condition=follow_upstream(),
    group_name="snapshots", pool=WAREHOUSE_POOL, deps=[items], kinds={"duckdb"},
    code_version=sql_code_version("snapshots/item_state/build", "snapshots/item_state/metadata", tables=["item_state"]),
    description="Item state as bitemporal SCD intervals [valid_from, valid_to): what was known about each item when.",
)
def item_state(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        return dg.MaterializeResult(metadata=build_item_state(con))


def build_item_state(con) -> dict[str, Any]:
    ensure_schema(con)
    write_atomically(con, "snapshots/item_state/build", {})
    meta = _rows_meta(query_dicts(con, "snapshots/item_state/metadata"))
    meta["dagster/row_count"] = meta.get("intervals", 0)
    return meta


def _build_day(con, table: str, partition_key: str) -> dict[str, Any]:
    """One day of a history table: ``sql/snapshots/<table>/build.sql`` in one transaction, then
    its ``metadata.sql`` (a ``rows`` figure among them)."""
    params = day_bounds(partition_key)
    ensure_schema(con)
    write_atomically(con, f"snapshots/{table}/build", params)
    meta = _rows_meta(query_dicts(con, f"snapshots/{table}/metadata", {"day": params["day"]}))
    meta["dagster/row_count"] = meta.get("rows", 0)
    return meta


def build_history_rows(con, partition_key: str) -> dict[str, Any]:
    return _build_day(con, "history_rows", partition_key)


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="snapshots", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version("snapshots/history_rows/build", "snapshots/history_rows/metadata",
                                  tables=["history_rows"]),
    deps=[item_state, impressions, events, dg.AssetDep(requests, partition_mapping=window(-2, 2))],
    description="The day's user-traffic clicks, purchases and exposures as narrow history rows: when each "
                "became available and the user, item, category and query it counts for.",
)
def history_rows(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        return dg.MaterializeResult(metadata=build_history_rows(con, context.partition_key))


def build_history_rollups(con, partition_key: str) -> dict[str, Any]:
    return _build_day(con, "history_rollups", partition_key)


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="snapshots", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version("snapshots/history_rollups/build", "snapshots/history_rollups/metadata",
                                  tables=["history_rollups"]),
    deps=[history_rows],
    description="The day's history rows summed per key family (user, user x category, item, query, query x "
                "category, query x item from clicks) and availability day: the whole days of every history window "
                "(user x item, about one row per key and day, is read from history_rows).",
)
def history_rollups(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        return dg.MaterializeResult(metadata=build_history_rollups(con, context.partition_key))


def history_reach(pipeline: PipelineConfig) -> int:
    """How many days before a day its snapshot reads history rows and rollups from."""
    return max(pipeline.history_days, pipeline.popularity_days) + 1


def context_params(partition_key: str, pipeline: PipelineConfig) -> dict[str, Any]:
    return day_bounds(partition_key) | {
        "history_days": pipeline.history_days,
        "popularity_days": pipeline.popularity_days,
    }


#: impressions per slice of the final write: its joins then fit in DuckDB's memory limit
#: (at 4 GB, one slice of 27M rows ran without spilling; 81M rows at once spilled 30 GB)
CONTEXT_CHUNK_ROWS = 30_000_000
#: the end of the request keys' range: a day's requests are numbered 1, 2, ... below it
REQUEST_KEYS_END = 1 << 31


def context_chunks(con, day: object, chunk_rows: int | None = None) -> list[tuple[int, int]]:
    """Ranges [lo, hi) of request keys (the day's requests numbered 1.. in request_id order,
    ``ctx_keys`` in the build) of about ``chunk_rows`` impressions each. They cover every key
    (the first starts at 0, the last ends at REQUEST_KEYS_END), so no row is missed whatever
    the sizes: the slices are only sizes."""
    chunk_rows = chunk_rows or CONTEXT_CHUNK_ROWS
    (row,) = query_dicts(con, "snapshots/impression_context/slices", {"day": day})
    requests, impressions = int(row["requests"]), int(row["impressions"])
    if requests >= REQUEST_KEYS_END:
        raise ValueError(f"impression_context: {requests:,} requests on {day}; at most {REQUEST_KEYS_END - 1:,} a day")
    parts = max(1, -(-impressions // chunk_rows))
    edges = [1 + requests * k // parts for k in range(parts + 1)]
    edges[0], edges[-1] = 0, REQUEST_KEYS_END
    return list(itertools.pairwise(edges))


CONTEXT_SQL = tuple(f"snapshots/impression_context/{name}" for name in (
    "probes", "late_probes", "families", "set_aside", "merge", "write", "slices", "metadata"))


def build_impression_context(con, pipeline: PipelineConfig, partition_key: str) -> dict[str, Any]:
    """The day's partition in one transaction: the probes, the history families of the late
    probes (requests before the day's start, anchored on their own day) when there are any,
    those of the others, then the write in request-key slices (``sql/snapshots/impression_context``)."""
    params = context_params(partition_key, pipeline)
    day = params["day"]
    ensure_schema(con)
    chunks = context_chunks(con, day)
    with transaction(con):
        run_sql(con, "snapshots/impression_context/probes", params)
        (row,) = query_dicts(con, "snapshots/impression_context/late_probes")
        late = int(row["late"])
        if late:
            run_sql(con, "snapshots/impression_context/families", params | {"anchor": day - dt.timedelta(days=1), "late": True})
            run_sql(con, "snapshots/impression_context/set_aside")
        run_sql(con, "snapshots/impression_context/families", params | {"anchor": day, "late": False})
        if late:
            run_sql(con, "snapshots/impression_context/merge")
        run_sql(con, "snapshots/impression_context/write", params, chunks)
    meta = _rows_meta(query_dicts(con, "snapshots/impression_context/metadata", {"day": day}))
    return meta | {"late_request_impressions": late}


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="snapshots", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version(*CONTEXT_SQL, tables=["impression_context"]),
    deps=[
        item_state, users, impressions,
        dg.AssetDep(requests, partition_mapping=window(-1, 1)),
        dg.AssetDep(history_rows, partition_mapping=window(-history_reach(_PIPELINE), 0)),
        dg.AssetDep(history_rollups, partition_mapping=window(-history_reach(_PIPELINE), 0)),
    ],
    description="Each user-traffic impression with item state and user/item/query history as of its request time.",
)
def impression_context(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                       pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_impression_context(con, pipeline, context.partition_key)
    meta["dagster/row_count"] = meta.get("impressions", 0)
    return dg.MaterializeResult(metadata=meta)
