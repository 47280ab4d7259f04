"""Negatives layer: request-level negatives for the ranker and sampled pools for retrieval.

Both are drawn by a versioned sampler policy (``policies/samplers/*.yaml``); every row
carries the policy's version (name + content hash), and the asset's code version includes
it, so editing a policy shows every downstream asset as unsynced in the UI.
"""

import time
from typing import Any

import dagster as dg

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.defs.automation import LOOKBACK_DAYS, refresh_within
from recsys_assets.defs.partitions import daily_partitions, day_bounds, window
from recsys_assets.policies.files import sampler_policy
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts, run_sql
from recsys_assets.warehouse.tables import ensure_schema, sql_code_version, write_atomically

from .clean import candidates, events, users
from .labels import ctr_labels
from .snapshots import impression_context, item_state

DAILY = daily_partitions()
_PIPELINE = load_settings().pipeline


def negative_params(partition_key: str, pipeline: PipelineConfig) -> dict[str, Any]:
    return day_bounds(partition_key) | {
        "history_days": pipeline.history_days,
        "popularity_days": pipeline.popularity_days,
        "click_window_minutes": pipeline.click_window_minutes,
    }


def _draws_metadata(con, sampler: str, day) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for r in query_dicts(con, "negatives/sampler_draws/metadata", {"day": day, "sampler": sampler}):
        meta[f"draws/{r['outcome']}"] = int(r["rows"])
    return meta


def build_ranking_negatives(con, pipeline: PipelineConfig, partition_key: str, policy_name: str | None = None) -> dict[str, Any]:
    policy = sampler_policy(policy_name or pipeline.ranking_sampler, "ranking")
    params = negative_params(partition_key, pipeline) | policy.ranking_params()
    ensure_schema(con)
    t0 = time.perf_counter()
    run_sql(con, "negatives/ranking_negatives/known_positives", params)
    run_sql(con, "negatives/ranking_negatives/candidates", params)
    write_atomically(con, "negatives/ranking_negatives/build", params)
    seconds = time.perf_counter() - t0
    meta = {k: v for r in query_dicts(con, "negatives/ranking_negatives/metadata", {"day": params["day"]}) for k, v in r.items()}
    meta |= _draws_metadata(con, "ranking", params["day"])
    meta["negatives_per_positive"] = round(meta["rows"] / meta["positives"], 3) if meta.get("positives") else 0.0
    meta["negatives_per_second"] = round(meta["rows"] / seconds) if seconds > 0 else 0
    meta["sampler_version"] = policy.version
    meta["dagster/row_count"] = meta["rows"]
    return meta


def build_retrieval_negatives(con, pipeline: PipelineConfig, partition_key: str, policy_name: str | None = None) -> dict[str, Any]:
    policy = sampler_policy(policy_name or pipeline.retrieval_sampler, "retrieval")
    params = negative_params(partition_key, pipeline) | policy.retrieval_params()
    ensure_schema(con)
    t0 = time.perf_counter()
    run_sql(con, "negatives/ranking_negatives/known_positives", params)
    run_sql(con, "negatives/retrieval_negatives/draws", params)
    write_atomically(con, "negatives/retrieval_negatives/build", params)
    seconds = time.perf_counter() - t0
    meta = {k: v for r in query_dicts(con, "negatives/retrieval_negatives/metadata", {"day": params["day"]}) for k, v in r.items()}
    meta |= _draws_metadata(con, "retrieval", params["day"])
    meta["negatives_per_second"] = round(meta["rows"] / seconds) if seconds > 0 else 0
    meta["sampler_version"] = policy.version
    meta["dagster/row_count"] = meta["rows"]
    return meta


_RANKING = sampler_policy(_PIPELINE.ranking_sampler, "ranking")
_RETRIEVAL = sampler_policy(_PIPELINE.retrieval_sampler, "retrieval")


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="negatives", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version("negatives/ranking_negatives/known_positives", "negatives/ranking_negatives/candidates", "negatives/ranking_negatives/build",
                                  "negatives/ranking_negatives/metadata", tables=["ranking_negatives"])
    + "-" + _RANKING.content_hash,
    deps=[ctr_labels, impression_context, dg.AssetDep(events, partition_mapping=window(-_PIPELINE.history_days - 1, 1))],
    description="Request-level negatives for the ranker: typed, weighted no-clicks of clicked requests, by sampler policy.",
    metadata={"sampler_version": _RANKING.version},
)
def ranking_negatives(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_ranking_negatives(con, pipeline, context.partition_key)
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="negatives", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version("negatives/ranking_negatives/known_positives", "negatives/retrieval_negatives/draws",
                                  "negatives/retrieval_negatives/build",
                                  "negatives/retrieval_negatives/metadata", tables=["retrieval_negatives", "sampler_draws"])
    + "-" + _RETRIEVAL.content_hash,
    deps=[ctr_labels, impression_context, item_state, users, candidates,
          dg.AssetDep(events, partition_mapping=window(-max(_PIPELINE.history_days, _PIPELINE.popularity_days) - 1, 1))],
    description="Sampled negatives per click from the retrieval policy's sources, with sampling_prob for logQ correction.",
    metadata={"sampler_version": _RETRIEVAL.version},
)
def retrieval_negatives(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                        pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_retrieval_negatives(con, pipeline, context.partition_key)
    return dg.MaterializeResult(metadata=meta)
