"""Sampler comparison: which negatives make the best ranker, on the user's own logs.

Every arm (``policies/comparison/*.yaml``, plus the user's folder) trains the ranker on
the same training days, stops early on the same validation day and is evaluated on the
same held-out days as ``ctr_ranker``. Only the training rows (which shown non-clicks are
negatives), their weights and the position handling differ.
"""

import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys_assets.assets.labels import ctr_labels
from recsys_assets.assets.model import (
    curve_identified,
    load_curve,
    position_bias,
    ranker_config,
    temporal_split,
)
from recsys_assets.assets.negatives import negative_params
from recsys_assets.assets.snapshots import impression_context
from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.policies.arms import ComparisonArm
from recsys_assets.policies.files import comparison_arms, policy_files, sampler_policies
from recsys_assets.ranker.comparison import Comparison, compare, evaluate_arm, markdown_table
from recsys_assets.ranker.dataset import column, load_rows, training_set
from recsys_assets.ranker.features import FeatureSpec, group_sizes
from recsys_assets.ranker.off_policy import examination_at
from recsys_assets.ranker.training import Progress, RankerConfig, run_fits, train
from recsys_assets.ranker.truth import register_truth
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import arrow_query, run_sql
from recsys_assets.warehouse.tables import ensure_schema, replace_rows, sql_code_version

_KEY_SEP = "\x1f"


def selected_arms(pipeline: PipelineConfig) -> list[ComparisonArm]:
    arms = comparison_arms()
    wanted = [a.strip() for a in pipeline.compare_arms.split(",") if a.strip()]
    unknown = sorted(set(wanted) - set(arms))
    if unknown:
        raise ValueError(f"RECSYS_COMPARE_ARMS names unknown arm(s) {unknown}; available: {sorted(arms)}")
    chosen = [arms[name] for name in wanted] if wanted else list(arms.values())
    if len(chosen) < 2:
        raise ValueError(f"a comparison needs at least two arms, got {[a.name for a in chosen]}")
    return chosen


def _keys(table: pa.Table) -> pa.ChunkedArray:
    return pc.binary_join_element_wise(table.column("request_id"), table.column("item_id"), _KEY_SEP)


def subsample_requests(rows: pa.Table, max_requests: int, seed: int) -> pa.Table:
    """At most ``max_requests`` whole requests, drawn uniformly with a fixed seed (0 = all):
    every arm trains on the same requests, so the comparison stays paired."""
    groups = group_sizes(rows.column("request_id"))
    if max_requests <= 0 or len(groups) <= max_requests:
        return rows
    keep = np.zeros(len(groups), dtype=bool)
    keep[np.random.default_rng(seed).choice(len(groups), size=max_requests, replace=False)] = True
    return rows.filter(pa.array(np.repeat(keep, groups)))


def arm_negatives(con, pipeline: PipelineConfig, arm: ComparisonArm, days: list[dt.date],
                  by_name: dict) -> pa.Array:
    """(request, item) keys of the arm's negatives on the days: the union of what each of its
    sampler policies keeps, by the same SQL the ranking_negatives asset runs."""
    parts = []
    samplers = arm.samplers(by_name)
    for day in days:
        day_params = negative_params(day.isoformat(), pipeline)
        run_sql(con, "negatives/ranking_negatives/known_positives", day_params)  # the day's, whatever the policy
        for policy in samplers:
            run_sql(con, "negatives/ranking_negatives/candidates", day_params | policy.ranking_params())
            parts.append(arrow_query(con, "model/sampler_comparison/negatives"))
    keys = pa.concat_arrays([_keys(t).combine_chunks() for t in parts]) if parts else pa.array([], pa.string())
    return pc.unique(keys)


def build_sampler_comparison(con, pipeline: PipelineConfig, log: Progress | None = None, seed: int = 0
                             ) -> tuple[Comparison, dict[str, Any]]:
    ensure_schema(con)
    settings = load_settings()
    arms = selected_arms(pipeline)
    by_name = sampler_policies()
    split = temporal_split(con, pipeline)
    has_truth = register_truth(con, settings.logs_dir)
    curve = load_curve(con)
    train_rows = load_rows(con, "all_shown", split.train[0], split.train[-1])
    valid_rows = load_rows(con, "all_shown", split.valid, split.valid)
    eval_rows = load_rows(con, "all_shown", split.eval[0], split.eval[-1])
    if min(train_rows.num_rows, valid_rows.num_rows, eval_rows.num_rows) == 0:
        raise ValueError(f"no rows to compare on: {train_rows.num_rows} training, {valid_rows.num_rows} validation, "
                         f"{eval_rows.num_rows} evaluation")
    train_rows = subsample_requests(train_rows, pipeline.compare_max_train_requests, seed)
    spec = FeatureSpec.fit(train_rows, exclude=pipeline.ranker_exclude_features)
    categorical = list(range(len(spec.numeric), len(spec.names)))
    valid, ev = training_set(valid_rows, spec, curve), training_set(eval_rows, spec, curve)
    train_keys = _keys(train_rows)
    train_labels = column(train_rows, "label")
    head = arrow_query(con, "model/sampler_comparison/head_items", {"first_day": split.train[0], "last_day": split.train[-1],
                                                  "head_share": pipeline.compare_head_share}).column("item_id")
    is_tail = ~pc.is_in(eval_rows.column("item_id"), value_set=head).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.cumsum(ev.group)[:-1]])
    exploration_groups = column(eval_rows, "is_exploration", bool)[starts] if len(starts) else np.zeros(0, bool)
    truth = column(eval_rows, "truth_attractiveness") if has_truth else None
    propensity = column(eval_rows, "propensity")
    examination = examination_at(curve, ev.position)  # for the IPS estimate of DCG@10

    # the training rows encoded once; an arm's rows are a subset of them (the same values as
    # encoding the arm's rows alone: the encoding is row by row)
    full = training_set(train_rows, spec, curve)
    # each arm's negatives by SQL on the one warehouse connection, here; its fit starts on
    # another thread as soon as they are known, while the next arm's are selected
    plans, seconds = [], {}

    valid_keys, valid_labels = _keys(valid_rows), column(valid_rows, "label")

    def drawn(keys: pa.ChunkedArray, labels: np.ndarray, negatives: pa.Array) -> np.ndarray:
        """The rows an arm keeps: every click, and the no-clicks its samplers drew."""
        return (labels > 0) | (pc.is_in(keys, value_set=negatives).to_numpy(zero_copy_only=False) & (labels == 0))

    def fit(arm: ComparisonArm, config: RankerConfig, mask: np.ndarray,
            valid_mask: np.ndarray) -> Callable[[int], tuple[np.ndarray, np.ndarray, float]]:
        def run(threads: int) -> tuple[np.ndarray, np.ndarray, float]:
            t0 = time.perf_counter()
            rows = full.subset(mask)
            # early stopping on the validation day drawn like the arm's training days (as the
            # ranker's); the calibration on every shown row of that day
            stop = valid.subset(valid_mask) if valid.label[valid_mask].any() else valid
            model = train(dataclasses.replace(config, threads=threads), rows, stop, categorical, spec.names,
                          progress=log, label=arm.name, release_features=True, calibration_rows=valid)
            scores = model.score(ev.X)
            return scores, model.click_probability(ev.X, ev.theta, score=scores), time.perf_counter() - t0
        return run

    def fits() -> Iterator[Callable[[int], tuple[np.ndarray, np.ndarray, float]]]:
        for i, arm in enumerate(arms, 1):
            t0 = time.perf_counter()
            mask = drawn(train_keys, train_labels, arm_negatives(con, pipeline, arm, split.train, by_name))
            is_negative = mask & (train_labels == 0)
            valid_mask = drawn(valid_keys, valid_labels, arm_negatives(con, pipeline, arm, [split.valid], by_name))
            config = ranker_config(pipeline, position_handling=arm.position_handling,
                                   use_weights=arm.weights == "labels", training_rows="all_shown")
            if log:
                log(f"arm {i}/{len(arms)} {arm.name}: {int(mask.sum())} rows ({int(is_negative.sum())} negatives), "
                    f"{arm.position_handling}, {arm.weights} weights")
            plans.append((arm, mask, int(is_negative.sum())))
            seconds[arm.name] = time.perf_counter() - t0
            yield fit(arm, config, mask, valid_mask)

    fitted = run_fits(fits(), pipeline.ranker_threads, count=len(arms))
    evaluations = []
    for (arm, mask, negatives), (scores, probs, fit_seconds) in zip(plans, fitted, strict=True):
        evaluations.append(evaluate_arm(
            arm.name, arm.description, arm.version, int(mask.sum()), negatives, scores, probs, ev.label, ev.group,
            ev.position, exploration_groups, propensity, is_tail, truth, seed, examination))
        seconds[arm.name] += fit_seconds
    comparison = compare(evaluations, seed, curve_identified(con))
    _write(con, comparison, split)
    return comparison, _metadata(comparison, split, seconds, len(group_sizes(train_rows.column("request_id"))))


def _write(con, comparison: Comparison, split) -> None:
    compared_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    fingerprint = hashlib.sha256("|".join(a.version for a in comparison.ranked).encode()
                                 + str(split.describe()).encode()).hexdigest()[:8]
    comparison_id = f"cmp-{compared_at:%Y%m%dT%H%M%S}-{fingerprint}"
    rows = []
    for rank, a in enumerate(comparison.ranked, 1):
        for metric, value in a.metrics.items():
            lo, hi = a.intervals.get(metric, (None, None))
            rows.append({"comparison_id": comparison_id, "compared_at": compared_at, "arm": a.name, "arm_version": a.version,
                         "description": a.description, "rank": rank, "primary_metric": comparison.metric, "metric": metric,
                         "value": float(value) if np.isfinite(value) else None, "low": lo, "high": hi,
                         "recommendation": comparison.recommendation})
    replace_rows(con, "sampler_comparison", pa.Table.from_pylist(rows))  # a new comparison_id: appended


def _metadata(comparison: Comparison, split, seconds: dict[str, float], training_requests: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"primary_metric": comparison.metric, "best_arm": comparison.ranked[0].name,
                            "training_requests": training_requests,
                            "arms": len(comparison.ranked), **split.describe()}
    for a in comparison.ranked:
        meta[f"{a.name}/{comparison.metric}"] = round(a.metrics[comparison.metric], 5)
        meta[f"{a.name}/training_rows"] = a.training_rows
        meta[f"{a.name}/seconds"] = round(seconds[a.name], 1)
    meta["comparison"] = dg.MetadataValue.md(markdown_table(comparison))
    meta["recommendation"] = dg.MetadataValue.md(comparison.recommendation)
    return meta



def _code_version() -> str:
    pipeline = load_settings().pipeline  # the feature set and LightGBM settings every arm trains with
    files = "".join(p.read_text() for p in policy_files("comparison")) + pipeline.ranker_exclude_features + \
        str(ranker_config(pipeline))
    return sql_code_version("model/sampler_comparison/negatives", "negatives/ranking_negatives/candidates", "model/sampler_comparison/head_items",
                            "model/ctr_ranker/ranker_rows", tables=["sampler_comparison"]) + "-" + \
        hashlib.sha256(files.encode()).hexdigest()[:8]


@dg.asset(
    group_name="model", pool=WAREHOUSE_POOL, kinds={"lightgbm", "duckdb"},
    code_version=_code_version(),
    deps=[position_bias, ctr_labels, impression_context],
    description="The ranker trained under every comparison arm (negatives, weights, position handling) on the same "
    "days, evaluated on the same held-out days with bootstrap intervals; ranked, with a recommendation.",
)
def sampler_comparison(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                       pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        _, meta = build_sampler_comparison(con, pipeline, log=context.log.info)
    return dg.MaterializeResult(metadata=meta)
