"""Clean layer: validated, deduplicated, traffic-classified tables, one daily partition at a time.

Each asset runs ``sql/clean/<asset>/build.sql`` in one transaction (delete the partition, insert
the new rows, write its quarantine rows and its row accounting). Metadata shows the
accounting, which adds up exactly: input = clean + filtered + quarantined + duplicates.
"""


from typing import Any

import dagster as dg

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.defs.automation import LOOKBACK_DAYS, refresh_within
from recsys_assets.defs.partitions import daily_partitions, day_bounds, window
from recsys_assets.ingest.reader import register_partition_sources, register_table_sources
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts
from recsys_assets.warehouse.tables import ensure_schema, sql_code_version, write_atomically

from .sources import raw_logs

DAILY = daily_partitions()
ACCOUNTING_OUTCOMES = ("clean", "filtered", "quarantined", "duplicate")
#: the quarantine and row-accounting writes every clean table's SQL ends with
CLEAN_ACCOUNTING = "clean/row_accounting/build"


def accounting_metadata(con, table: str, day: object | None) -> dict[str, Any]:
    """Row accounting and quarantine reasons of one table partition (day None = unpartitioned)."""
    rows = query_dicts(con, "clean/row_accounting/metadata", {"table": table, "day": day})
    counts = {r["outcome"]: int(r["rows"]) for r in rows}
    meta: dict[str, Any] = {f"rows/{o}": counts.get(o, 0) for o in ACCOUNTING_OUTCOMES}
    meta["rows/output"] = counts.get("clean", 0) + counts.get("filtered", 0)
    meta["dagster/row_count"] = meta["rows/output"]
    meta["rows/input"] = sum(counts.get(o, 0) for o in ACCOUNTING_OUTCOMES)
    reasons = query_dicts(con, "clean/quarantine/metadata", {"table": table, "day": day})
    if reasons:
        lines = ["| reason | rows |", "|---|---:|"] + [f"| {r['reason']} | {r['rows']} |" for r in reasons]
        meta["quarantine_reasons"] = dg.MetadataValue.md("\n".join(lines))
    return meta


def clean_params(partition_key: str, pipeline: PipelineConfig) -> dict[str, Any]:
    return day_bounds(partition_key) | {
        "skew_tolerance_s": pipeline.skew_tolerance_seconds,
        "bot_max_requests": pipeline.bot_max_requests_per_day,
        "attribution_days": pipeline.attribution_days,
    }


def build_clean_partition(con, logs_dir, pipeline: PipelineConfig, table: str, partition_key: str) -> dict[str, Any]:
    """Rebuild one partition of a clean table from the logs; returns its metadata."""
    params = clean_params(partition_key, pipeline)
    ensure_schema(con)
    register_partition_sources(con, logs_dir, params["day"])
    write_atomically(con, [f"clean/{table}/build", CLEAN_ACCOUNTING], params | {"table": table})
    meta = accounting_metadata(con, table, params["day"])
    for row in query_dicts(con, f"clean/{table}/metadata", {"day": params["day"]}):
        meta |= {k: v for k, v in row.items() if v is not None}
    return meta


def build_clean_table(con, logs_dir, table: str) -> dict[str, Any]:
    """Rebuild an unpartitioned clean table (items, users, outages); returns its metadata."""
    ensure_schema(con)
    register_table_sources(con, logs_dir, table)
    write_atomically(con, [f"clean/{table}/build", CLEAN_ACCOUNTING], {"day": None, "table": table})
    meta = accounting_metadata(con, table, None)
    for row in query_dicts(con, f"clean/{table}/metadata", {}):
        meta |= {k: v for k, v in row.items() if v is not None}
    return meta


def _clean_partition(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig, table: str
) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_clean_partition(con, load_settings().logs_dir, pipeline, table, context.partition_key)
    return dg.MaterializeResult(metadata=meta)


def _clean_table(warehouse: WarehouseResource, table: str) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_clean_table(con, load_settings().logs_dir, table)
    return dg.MaterializeResult(metadata=meta)


def _code_version(table: str) -> str:
    return sql_code_version(f"clean/{table}/build", CLEAN_ACCOUNTING, f"clean/{table}/metadata", "sources/raw_logs/placed",
                            tables=[table, "quarantine", "row_accounting"])


@dg.asset(
    group_name="clean", pool=WAREHOUSE_POOL, deps=[raw_logs], kinds={"duckdb"}, code_version=_code_version("outages"),
    description="Tracking outage windows (surface, event types) declared in the logs.",
)
def outages(warehouse: WarehouseResource) -> dg.MaterializeResult:
    return _clean_table(warehouse, "outages")


@dg.asset(
    group_name="clean", pool=WAREHOUSE_POOL, deps=[raw_logs], kinds={"duckdb"}, code_version=_code_version("users"),
    description="One row per user: segment, region, age verification.",
)
def users(warehouse: WarehouseResource) -> dg.MaterializeResult:
    return _clean_table(warehouse, "users")


@dg.asset(
    group_name="clean", pool=WAREHOUSE_POOL, deps=[raw_logs], kinds={"duckdb"}, code_version=_code_version("items"),
    description="Item versions (one row per change of an item's state), ties resolved by the documented rule.",
)
def items(warehouse: WarehouseResource) -> dg.MaterializeResult:
    return _clean_table(warehouse, "items")


@dg.asset(
    group_name="clean", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"}, code_version=_code_version("requests"),
    deps=[raw_logs, outages],
    description="Served requests of the day; bot/internal/test traffic kept but flagged (logged or detected).",
)
def requests(context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig) -> dg.MaterializeResult:
    return _clean_partition(context, warehouse, pipeline, "requests")


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="clean", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"}, code_version=_code_version("impressions"),
    deps=[raw_logs, dg.AssetDep(requests, partition_mapping=window(-2, 2))],
    description="Shown items per request and position, deduplicated, slate rules applied.",
)
def impressions(context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig) -> dg.MaterializeResult:
    return _clean_partition(context, warehouse, pipeline, "impressions")


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="clean", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"}, code_version=_code_version("events"),
    deps=[raw_logs, dg.AssetDep(requests, partition_mapping=window(-load_settings().pipeline.attribution_days, 1))],
    description="Clicks, carts, purchases, hides, reports, returns: deduplicated, attributed, clock skew corrected.",
)
def events(context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig) -> dg.MaterializeResult:
    return _clean_partition(context, warehouse, pipeline, "events")


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="clean", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"}, code_version=_code_version("candidates"),
    deps=[raw_logs, requests, dg.AssetDep(impressions, partition_mapping=window(0, 1))],
    description="Generated candidates per request, shown or not (generated-but-not-shown are never labels).",
)
def candidates(context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig) -> dg.MaterializeResult:
    return _clean_partition(context, warehouse, pipeline, "candidates")
