"""Build assets without Dagster, on any DuckDB connection, in the asset graph's order.

The same functions the assets call, for a list of days: used by ``recsys validate`` (the
clean layer in memory), the benchmarks, and tests that need many small warehouses fast.
The order comes from the Definitions' asset graph (every day of a parent before its child),
so nothing here restates the layers' order. Dagster runs (``recsys run``, the UI,
schedules) remain the way to build the real warehouse: they add lineage, checks and
metadata.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from recsys_assets.assets import clean, labels, metrics, model, negatives, retrieval, snapshots, sources
from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.policies.files import weight_policy
from recsys_assets.warehouse.sql import prepare_session
from recsys_assets.warehouse.tables import ensure_schema

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
    prepare_session(con, memory_limit)
    return con


@dataclass(frozen=True)
class Inputs:
    """What a builder may need besides the partition key."""

    con: duckdb.DuckDBPyConnection
    logs: Path | None
    days: tuple[dt.date, ...]
    pipeline: PipelineConfig
    ranking: str | None = None  # sampler policy names (default: the pipeline's)
    retrieval: str | None = None

    @functools.cached_property
    def weights(self) -> dict[str, Any]:
        """The weight policy's SQL parameters, read from its file once per build, not once per day."""
        return weight_policy(self.pipeline.weight_policy).sql_params()


def _raw_logs(b: Inputs) -> dict[str, Any]:
    settings = load_settings().model_copy(
        update={"logs": b.logs, "start_date": b.days[0], "end_date": b.days[-1] + dt.timedelta(days=1)})
    return sources.build_raw_logs(b.con, settings)


def _clean_table(table: str) -> Callable[[Inputs], Any]:
    return lambda b: clean.build_clean_table(b.con, b.logs, table)


def _clean_partition(table: str) -> Callable[[Inputs, str], Any]:
    return lambda b, key: clean.build_clean_partition(b.con, b.logs, b.pipeline, table, key)


def _labels(table: str, task: str) -> Callable[[Inputs, str], Any]:
    def build(b: Inputs, key: str) -> dict[str, Any]:
        weights = b.weights if task == "ctr" else None
        return labels.build_labels(b.con, table, task, b.pipeline, key, weights)
    return build


#: unpartitioned assets: builder(inputs)
TABLE_BUILDERS: dict[str, Callable[[Inputs], Any]] = {
    "raw_logs": _raw_logs,
    "outages": _clean_table("outages"),
    "users": _clean_table("users"),
    "items": _clean_table("items"),
    "item_state": lambda b: snapshots.build_item_state(b.con),
    "multitask_labels": lambda b: labels.build_multitask_labels(b.con),
    "position_bias": lambda b: model.build_position_bias(b.con, b.pipeline, b.logs),
    "ctr_ranker": lambda b: model.build_ranker(b.con, b.pipeline),
    "ranker_evaluation": lambda b: model.build_evaluation(b.con, b.pipeline),
    "retrieval_model": lambda b: retrieval.build_retrieval_model(b.con, b.pipeline),
    "retrieval_evaluation": lambda b: retrieval.build_retrieval_evaluation(b.con, b.pipeline),
    "model_registry": lambda b: model.build_registry(b.con, b.pipeline),
}
#: daily assets: builder(inputs, partition key)
DAILY_BUILDERS: dict[str, Callable[[Inputs, str], Any]] = {
    "requests": _clean_partition("requests"),
    "impressions": _clean_partition("impressions"),
    "events": _clean_partition("events"),
    "candidates": _clean_partition("candidates"),
    "history_rows": lambda b, k: snapshots.build_history_rows(b.con, k),
    "history_rollups": lambda b, k: snapshots.build_history_rollups(b.con, k),
    "impression_context": lambda b, k: snapshots.build_impression_context(b.con, b.pipeline, k),
    "ctr_labels": _labels("ctr_labels", "ctr"),
    "conversion_labels": _labels("conversion_labels", "conversion"),
    "hide_labels": _labels("hide_labels", "hide"),
    "return_labels": _labels("return_labels", "return"),
    "ranking_negatives": lambda b, k: negatives.build_ranking_negatives(b.con, b.pipeline, k, b.ranking),
    "retrieval_negatives": lambda b, k: negatives.build_retrieval_negatives(b.con, b.pipeline, k, b.retrieval),
    "sampler_metrics": lambda b, k: metrics.build_sampler_metrics(b.con, b.logs, b.pipeline, k),
}
#: assets only a Dagster run builds: the comparisons train a model per arm, the report reads every asset
DAGSTER_ONLY = frozenset({"sampler_comparison", "retrieval_comparison", "report"})


@functools.cache
def graph_order() -> tuple[tuple[str, str, bool], ...]:
    """(asset, group, partitioned) of every asset, parents first, from the Definitions."""
    from recsys_assets.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    return tuple((k.to_user_string(), graph.get(k).group_name, graph.get(k).partitions_def is not None)
                 for k in graph.toposorted_asset_keys)


def build_groups(con, logs: Path | None, days: Iterable[dt.date], pipeline: PipelineConfig, groups: Iterable[str],
                 timer: Timer = _plain, ranking: str | None = None, retrieval: str | None = None) -> dict[str, Any]:
    """Build every asset of ``groups`` (every day of a daily asset), parents first; returns each
    asset's metadata (a list over the days for a daily asset). ``timer(name, build)`` runs
    each asset's build (to time it)."""
    inputs = Inputs(con, logs, tuple(days), pipeline, ranking, retrieval)
    groups = set(groups)
    ensure_schema(con)
    out: dict[str, Any] = {}
    for name, group, partitioned in graph_order():
        if group not in groups or name in DAGSTER_ONLY:
            continue
        if partitioned:
            build = DAILY_BUILDERS[name]
            out[name] = timer(name, lambda b=build: [b(inputs, d.isoformat()) for d in inputs.days])
        else:
            out[name] = timer(name, lambda b=TABLE_BUILDERS[name]: b(inputs))
    return out


def build_clean(con, logs: Path, days: list[dt.date], pipeline: PipelineConfig, timer: Timer = _plain) -> None:
    build_groups(con, logs, days, pipeline, ("sources", "clean"), timer)


def build_labels_layer(con, days: list[dt.date], pipeline: PipelineConfig, timer: Timer = _plain) -> None:
    build_groups(con, None, days, pipeline, ("snapshots", "labels"), timer)


def build_negatives_layer(con, logs: Path, days: list[dt.date], pipeline: PipelineConfig, timer: Timer = _plain,
                          ranking: str | None = None, retrieval: str | None = None) -> None:
    build_groups(con, logs, days, pipeline, ("negatives", "metrics"), timer, ranking, retrieval)


def build_model_layer(con, logs: Path, pipeline: PipelineConfig, timer: Timer = _plain) -> dict[str, dict[str, Any]]:
    return build_groups(con, logs, (), pipeline, ("model",), timer)
