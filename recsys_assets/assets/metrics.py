"""Metrics layer: what the samplers produced, per day, as numbers the UI can plot.

``sampler_metrics`` holds one row per (day, sampler, metric, key). The drift check
(``checks/sampler_checks.py``) compares each day's distributions with a trailing baseline.
On simulated logs with full-catalog relevance truth (``ranker/truth.py``) each day also
carries, per sampler and source, the false-negative rate (share of negatives whose expected
true attractiveness is at least ``RELEVANCE_THRESHOLD``) and their mean expected
attractiveness, in the metadata as ``<sampler>/false_negative_rate/<source>``.
"""

from typing import Any

import dagster as dg

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.defs.automation import LOOKBACK_DAYS, refresh_within
from recsys_assets.defs.partitions import daily_partitions, day_bounds
from recsys_assets.ranker.truth import RELEVANCE_THRESHOLD, register_relevance, register_truth
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts
from recsys_assets.warehouse.tables import ensure_schema, sql_code_version, write_atomically

from .labels import ctr_labels
from .negatives import ranking_negatives, retrieval_negatives
from .snapshots import impression_context

DAILY = daily_partitions()
PLOTTED = {  # metric -> metadata label; scalars and key shares the UI plots over partitions
    ("negatives_per_positive", ""): "negatives_per_positive",
    ("false_negative_estimate", ""): "false_negative_estimate",
    ("false_negative_coverage", ""): "false_negative_coverage",
    ("shortfall_rate", ""): "shortfall_rate",
    ("zero_click_rate", ""): "zero_click_rate",
    ("weight", "mean"): "weight_mean",
    ("false_negative_rate", ""): "false_negative_rate",
    ("false_negative_mean", ""): "false_negative_mean",
}
BY_KEY = ("source_share", "filter_rate", "false_negative_rate", "false_negative_mean")
"""Metrics shown per key as ``<sampler>/<metric>/<key>`` (e.g. ``retrieval/false_negative_rate/hard``)."""


def build_sampler_metrics(con, logs_dir, pipeline: PipelineConfig, partition_key: str) -> dict[str, Any]:
    params = day_bounds(partition_key) | {"popularity_days": pipeline.popularity_days,
                                          "relevance_threshold": RELEVANCE_THRESHOLD}
    ensure_schema(con)
    has_truth = register_truth(con, logs_dir)
    has_relevance = register_relevance(con, logs_dir)
    write_atomically(con, "metrics/sampler_metrics/build", params)
    rows = query_dicts(con, "metrics/sampler_metrics/metadata", {"day": params["day"]})
    meta: dict[str, Any] = {"truth_available": has_truth}
    if has_relevance:
        meta["false_negative_threshold"] = RELEVANCE_THRESHOLD
    lines = ["| sampler | metric | key | value |", "|---|---|---|---:|"]
    for r in rows:
        lines.append(f"| {r['sampler']} | {r['metric']} | {r['key']} | {r['value']:.4f} |")
        label = PLOTTED.get((r["metric"], r["key"]))
        if label:
            meta[f"{r['sampler']}/{label}"] = round(float(r["value"]), 5)
        elif r["metric"] in BY_KEY:
            meta[f"{r['sampler']}/{r['metric']}/{r['key']}"] = round(float(r["value"]), 5)
    collisions = {r["sampler"]: r["value"] for r in rows if r["metric"] == "filter_rate" and r["key"] == "not_known_positive"}
    for sampler in ("ranking", "retrieval"):
        meta[f"{sampler}/known_positive_collision_rate"] = round(float(collisions.get(sampler, 0.0)), 5)
        elig = sum(r["value"] for r in rows if r["sampler"] == sampler and r["metric"] == "filter_rate"
                   and r["key"] in ("eligible_at_request_time", "visible_to_user", "not_policy_blocked", "not_known_at_request_time"))
        meta[f"{sampler}/eligibility_filter_rate"] = round(float(elig), 5)
        dedup = sum(r["value"] for r in rows if r["sampler"] == sampler and r["metric"] == "filter_rate"
                    and r["key"] in ("not_same_dedup_group", "duplicate_draw"))
        meta[f"{sampler}/dedup_filter_rate"] = round(float(dedup), 5)
    meta["metrics"] = dg.MetadataValue.md("\n".join(lines))
    meta["dagster/row_count"] = len(rows)
    return meta


@dg.asset(
    automation_condition=refresh_within(LOOKBACK_DAYS),
    group_name="metrics", pool=WAREHOUSE_POOL, partitions_def=DAILY, kinds={"duckdb"},
    code_version=sql_code_version("metrics/sampler_metrics/build", "metrics/sampler_metrics/metadata", "truth_relevance",
                                  tables=["sampler_metrics"]),
    deps=[ranking_negatives, retrieval_negatives, impression_context, ctr_labels],
    description="Per day and sampler: negatives per positive, source/type, category, popularity, item-age, segment and "
    "surface mixes, weight quantiles, filter rates, shortfall and (simulated logs) a false-negative estimate and the "
    "false-negative rate per source (share of negatives truly relevant to the request).",
)
def sampler_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_sampler_metrics(con, load_settings().logs_dir, pipeline, context.partition_key)
    return dg.MaterializeResult(metadata=meta)
