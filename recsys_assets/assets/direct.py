"""Build the warehouse layers without Dagster, on any DuckDB connection.

The same functions the assets call, in dependency order, for a list of days: used by
``recsys validate`` (clean layer in memory), the benchmarks, and tests that need many
small warehouses fast. Dagster runs (``recsys run``, the UI, schedules) remain the way to
build the real warehouse: they add lineage, checks and metadata.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.warehouse.sql import execute, run_sql
from recsys_assets.warehouse.tables import ensure_schema, write_atomically

Timer = Callable[[str, Callable[[], Any]], Any]


def _plain(stage: str, fn: Callable[[], Any]) -> Any:
    return fn()


def connect(path: str = ":memory:", memory_limit: str | None = None, spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    # as the warehouse resource: spill, don't OOM; return freed memory to the OS
    config: dict[str, Any] = {"preserve_insertion_order": False, "allocator_background_threads": True}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if spill:
        config["temp_directory"] = str(spill)
    con = duckdb.connect(path, config=config)
    execute(con, "SET TimeZone = 'UTC'")
    run_sql(con, "macros")
    return con


def build_clean(con, logs: Path, days: list[dt.date], pipeline: PipelineConfig, timer: Timer = _plain) -> None:
    from recsys_assets.assets.clean import build_clean_partition, build_clean_table
    from recsys_assets.assets.sources import build_raw_logs

    keys = [d.isoformat() for d in days]
    settings = load_settings().model_copy(update={"logs": logs, "start_date": days[0], "end_date": days[-1] + dt.timedelta(days=1)})
    ensure_schema(con)
    timer("raw_logs", lambda: build_raw_logs(con, settings))
    for table in ("outages", "users", "items"):
        timer(table, lambda t=table: build_clean_table(con, logs, t))
    for table in ("requests", "impressions", "events", "candidates"):
        timer(table, lambda t=table: [build_clean_partition(con, logs, pipeline, t, k) for k in keys])


def build_labels_layer(con, days: list[dt.date], pipeline: PipelineConfig, timer: Timer = _plain) -> None:
    from recsys_assets.assets.labels import build_labels
    from recsys_assets.assets.snapshots import build_impression_context
    from recsys_assets.policies.files import weight_policy

    keys = [d.isoformat() for d in days]
    timer("item_state", lambda: write_atomically(con, "snapshots/item_state/build", {}))
    timer("impression_context", lambda: [build_impression_context(con, pipeline, k) for k in keys])
    weights = weight_policy(pipeline.weight_policy).sql_params()
    timer("ctr_labels", lambda: [build_labels(con, "ctr_labels", "ctr", pipeline, k, weights) for k in keys])
    timer("conversion_labels", lambda: [build_labels(con, "conversion_labels", "conversion", pipeline, k) for k in keys])
    timer("hide_labels", lambda: [build_labels(con, "hide_labels", "hide", pipeline, k) for k in keys])
    timer("return_labels", lambda: [build_labels(con, "return_labels", "return", pipeline, k) for k in keys])


def build_negatives_layer(con, logs: Path, days: list[dt.date], pipeline: PipelineConfig, timer: Timer = _plain,
                          ranking: str | None = None, retrieval: str | None = None) -> None:
    from recsys_assets.assets.metrics import build_sampler_metrics
    from recsys_assets.assets.negatives import build_ranking_negatives, build_retrieval_negatives

    keys = [d.isoformat() for d in days]
    timer("ranking_negatives", lambda: [build_ranking_negatives(con, pipeline, k, ranking) for k in keys])
    timer("retrieval_negatives", lambda: [build_retrieval_negatives(con, pipeline, k, retrieval) for k in keys])
    timer("sampler_metrics", lambda: [build_sampler_metrics(con, logs, pipeline, k) for k in keys])


def build_model_layer(con, logs: Path, pipeline: PipelineConfig, timer: Timer = _plain) -> dict[str, dict[str, Any]]:
    from recsys_assets.assets.model import build_evaluation, build_position_bias, build_ranker, build_registry

    return {
        "position_bias": timer("position_bias", lambda: build_position_bias(con, pipeline, logs)),
        "ctr_ranker": timer("ctr_ranker", lambda: build_ranker(con, pipeline)),
        "ranker_evaluation": timer("ranker_evaluation", lambda: build_evaluation(con, pipeline)),
        "model_registry": timer("model_registry", lambda: build_registry(con, pipeline)),
    }


def build_all(con, logs: Path, days: list[dt.date], pipeline: PipelineConfig | None = None,
              timer: Timer = _plain) -> dict[str, dict[str, Any]]:
    pipeline = pipeline or PipelineConfig()
    build_clean(con, logs, days, pipeline, timer)
    build_labels_layer(con, days, pipeline, timer)
    build_negatives_layer(con, logs, days, pipeline, timer)
    return build_model_layer(con, logs, pipeline, timer)
