"""Labels layer: one exposure-aware label table per task, plus a multi-task view.

Every label table keeps "not seen", "not eligible", "not yet known" and "seen and passed
over" apart: exclusions are counted in ``label_exclusions`` (never rows), censored
outcomes are rows with label NULL and a ``censor_reason``, negatives keep their type and
a weight from the versioned weight policy. Label windows that reach past the partition's
day are explicit partition mappings (a day's conversion labels read seven more days of
events), so Dagster shows a day's labels as stale when later events arrive; they are
rebuilt until the window closes (see README, "Label windows").
"""

import datetime as dt
from typing import Any

import dagster as dg

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.defs.automation import LOOKBACK_DAYS, follow_upstream, refresh_within
from recsys_assets.defs.partitions import daily_partitions, day_bounds, window
from recsys_assets.policies.files import weight_policy
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts, run_sql
from recsys_assets.warehouse.tables import ensure_schema, sql_code_version, write_atomically

from .clean import candidates, events, impressions, items, outages, requests
from .snapshots import impression_context

DAILY = daily_partitions()
_PIPELINE = load_settings().pipeline
_WEIGHTS = weight_policy(_PIPELINE.weight_policy)


def label_params(partition_key: str, pipeline: PipelineConfig, con=None) -> dict[str, Any]:
    params = day_bounds(partition_key) | {
        "click_window_minutes": pipeline.click_window_minutes,
        "conversion_window_days": pipeline.conversion_window_days,
        "return_window_days": pipeline.return_window_days,
    }
    if con is not None:
        cutoff = query_dicts(con, "labels/label_cutoff")[0]["label_cutoff"]
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        params["label_cutoff"] = min(cutoff, now) if cutoff is not None else params["start"]
    return params


def _metadata(con, table: str, task: str, day: dt.date) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for row in query_dicts(con, f"labels/{table}/metadata", {"day": day}):
        meta |= {k: v for k, v in row.items() if v is not None}
    meta["dagster/row_count"] = meta.get("rows", 0)
    excluded = query_dicts(con, "labels/label_exclusions/metadata", {"day": day, "task": task})
    meta["excluded/total"] = sum(int(r["rows"]) for r in excluded)
    for r in excluded:
        meta[f"excluded/{r['reason']}"] = int(r["rows"])
    return meta


def build_labels(con, table: str, task: str, pipeline: PipelineConfig, partition_key: str,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rebuild one partition of a label table; returns its metadata."""
    ensure_schema(con)
    params = label_params(partition_key, pipeline, con) | (extra or {})
    write_atomically(con, f"labels/{table}/build", params)
    meta = _metadata(con, table, task, params["day"])
    if "label_cutoff" in params:
        meta["label_cutoff"] = params["label_cutoff"].isoformat()
    return meta


def _weights_for(pipeline: PipelineConfig):
    return weight_policy(pipeline.weight_policy)


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="labels", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version("labels/ctr_labels/build", "labels/ctr_labels/metadata", tables=["ctr_labels", "label_exclusions"])
    + "-" + _WEIGHTS.content_hash,
    deps=[
        impression_context, outages, candidates,
        dg.AssetDep(events, partition_mapping=window(-1, 1)),
        dg.AssetDep(impressions, partition_mapping=window(-1, 1)),
        dg.AssetDep(requests, partition_mapping=window(-2, 1)),
    ],
    description="CTR labels on valid impressions: click within the window; negatives typed and weighted by the weight policy.",
)
def ctr_labels(context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig) -> dg.MaterializeResult:
    policy = _weights_for(pipeline)
    with warehouse.get_connection() as con:
        meta = build_labels(con, "ctr_labels", "ctr", pipeline, context.partition_key, policy.sql_params())
    meta["weight_policy"] = policy.version
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS + _PIPELINE.conversion_window_days),
    group_name="labels", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version("labels/conversion_labels/build", "labels/conversion_labels/metadata", tables=["conversion_labels"]),
    deps=[
        ctr_labels, impression_context, items, outages,
        dg.AssetDep(events, partition_mapping=window(0, _PIPELINE.conversion_window_days + 1)),
    ],
    description="Conversion labels on clicks: purchase within the window; censored (NULL + reason) when unobservable.",
)
def conversion_labels(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_labels(con, "conversion_labels", "conversion", pipeline, context.partition_key)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="labels", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version("labels/hide_labels/build", "labels/hide_labels/metadata", tables=["hide_labels"]),
    deps=[ctr_labels, impression_context, outages, dg.AssetDep(events, partition_mapping=window(-1, 1))],
    description="Hide labels on visible valid impressions: hidden within the click window.",
)
def hide_labels(context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_labels(con, "hide_labels", "hide", pipeline, context.partition_key)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS + _PIPELINE.return_window_days),
    group_name="labels", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version("labels/return_labels/build", "labels/return_labels/metadata", tables=["return_labels"]),
    deps=[outages, dg.AssetDep(events, partition_mapping=window(0, _PIPELINE.return_window_days + 1))],
    description="Return labels on purchases: returned within the window (a post-conversion negative).",
)
def return_labels(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_labels(con, "return_labels", "return", pipeline, context.partition_key)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    automation_condition=follow_upstream(),
    group_name="labels", pool=WAREHOUSE_POOL, kinds={"duckdb"},
    code_version=sql_code_version("labels/multitask_labels/build", "labels/multitask_labels/metadata"),
    deps=[ctr_labels, conversion_labels, hide_labels, return_labels],
    description="A view with every task's label, weight and mask per impression, for multi-task training.",
)
def multitask_labels(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        return dg.MaterializeResult(metadata=build_multitask_labels(con))


def build_multitask_labels(con) -> dict[str, Any]:
    ensure_schema(con)
    run_sql(con, "labels/multitask_labels/build")
    meta: dict[str, Any] = {}
    for row in query_dicts(con, "labels/multitask_labels/metadata"):
        meta |= {k: v for k, v in row.items() if v is not None}
    meta["dagster/row_count"] = meta.get("rows", 0)
    return meta
