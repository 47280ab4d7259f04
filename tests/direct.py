"""Build the warehouse layers without Dagster, on any DuckDB connection (fast, for
property tests). Uses the same functions the assets call, in the same order."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import duckdb

from recsys_assets.assets.clean import build_clean_partition, build_clean_table
from recsys_assets.assets.labels import build_labels
from recsys_assets.assets.snapshots import build_impression_context
from recsys_assets.assets.sources import build_raw_logs
from recsys_assets.config import PipelineConfig
from recsys_assets.policy_files import weight_policy
from recsys_assets.settings import load_settings
from recsys_assets.sql import execute, run_sql
from recsys_assets.warehouse import ensure_schema, write_atomically


def connect(path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path)
    execute(con, "SET TimeZone = 'UTC'")
    run_sql(con, "macros")
    return con


def build_through_labels(con, logs: Path, days: list[dt.date], pipeline: PipelineConfig | None = None) -> None:
    pipeline = pipeline or PipelineConfig()
    keys = [d.isoformat() for d in days]
    settings = dataclasses.replace(load_settings(), logs=logs, start_date=days[0], end_date=days[-1] + dt.timedelta(days=1))
    ensure_schema(con)
    build_raw_logs(con, settings)
    for table in ("outages", "users", "items"):
        build_clean_table(con, logs, table)
    for table in ("requests", "impressions", "events", "candidates"):
        for key in keys:
            build_clean_partition(con, logs, pipeline, table, key)
    write_atomically(con, "snapshots/item_state", {})
    for key in keys:
        build_impression_context(con, pipeline, key)
    weights = weight_policy(pipeline.weight_policy).sql_params()
    for key in keys:
        build_labels(con, "ctr_labels", "ctr", pipeline, key, weights)
    for key in keys:
        build_labels(con, "conversion_labels", "conversion", pipeline, key)
        build_labels(con, "hide_labels", "hide", pipeline, key)
        build_labels(con, "return_labels", "return", pipeline, key)


def rows(con, query: str, params: list | None = None) -> list[dict]:
    cur = con.execute(query, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def build_negatives_and_metrics(con, logs: Path, days: list[dt.date], pipeline: PipelineConfig | None = None,
                                ranking: str | None = None, retrieval: str | None = None) -> None:
    from recsys_assets.assets.metrics import build_sampler_metrics
    from recsys_assets.assets.negatives import build_ranking_negatives, build_retrieval_negatives

    pipeline = pipeline or PipelineConfig()
    for day in days:
        build_ranking_negatives(con, pipeline, day.isoformat(), ranking)
        build_retrieval_negatives(con, pipeline, day.isoformat(), retrieval)
        build_sampler_metrics(con, logs, pipeline, day.isoformat())
