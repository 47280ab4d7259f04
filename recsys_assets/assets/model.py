"""Model layer: position bias, the CTR ranker, its evaluation, and the model registry.

Temporal split over the days that have labels: the last ``eval_days`` are held out for
evaluation, the day before them validates (early stopping) and calibrates, the days
before that train. Nothing is ever fitted on an evaluation day.
"""

import dataclasses
import datetime as dt
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.policies.files import sampler_policy, weight_policy
from recsys_assets.ranker import model_files
from recsys_assets.ranker.dataset import column, load_rows, stream_training_set, training_set
from recsys_assets.ranker.evaluation import evaluate_variants
from recsys_assets.ranker.features import CATEGORICAL, NUMERIC, group_sizes
from recsys_assets.ranker.off_policy import LABELS, Estimate, Verdict, examination_at, judge, paired_estimates
from recsys_assets.ranker.position_bias import Curve, LoggedClicks, estimate
from recsys_assets.ranker.training import Progress, RankerConfig, run_fits, train, train_on_truth
from recsys_assets.ranker.truth import register_truth, trust_slope
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import arrow_query, query_dicts
from recsys_assets.warehouse.tables import ensure_schema, replace_rows, sql_code_version

from .labels import ctr_labels
from .negatives import ranking_negatives
from .snapshots import impression_context

_PIPELINE = load_settings().pipeline


class TemporalSplit:
    def __init__(self, days: list[dt.date], eval_days: int):
        if len(days) < eval_days + 2:
            raise ValueError(f"need at least {eval_days + 2} days of labels (train, validation, {eval_days} evaluation); "
                             f"found {len(days)}")
        self.train = days[: -(eval_days + 1)]
        self.valid = days[-(eval_days + 1)]
        self.eval = days[-eval_days:]

    def describe(self) -> dict[str, str]:
        return {"train_days": f"{self.train[0]} .. {self.train[-1]}", "valid_day": str(self.valid),
                "eval_days": f"{self.eval[0]} .. {self.eval[-1]}"}


def temporal_split(con, pipeline: PipelineConfig) -> TemporalSplit:
    days = [r["day"] for r in query_dicts(con, "model/ctr_ranker/label_days")]
    return TemporalSplit(days, pipeline.eval_days)


def ranker_config(pipeline: PipelineConfig, **overrides: Any) -> RankerConfig:
    values = {"position_handling": pipeline.ranker_position_handling, "use_weights": pipeline.ranker_use_weights,
              "threads": pipeline.ranker_threads, "learning_rate": pipeline.ranker_learning_rate,
              "num_leaves": pipeline.ranker_num_leaves, "max_rounds": pipeline.ranker_max_rounds,
              "refit": pipeline.ranker_refit}
    return RankerConfig(**(values | overrides))


# ------------------------------------------------------------------ position bias


def load_curve(con) -> Curve:
    rows = query_dicts(con, "model/ctr_ranker/position_bias_used")
    if not rows:
        raise ValueError("no position-bias curve: materialize position_bias first")
    offset = np.array([r["offset"] for r in rows], dtype=float)
    return Curve(rows[0]["method"], np.array([r["theta"] for r in rows], dtype=float),
                 offset=offset if offset.any() else None)


def logged_clicks(table: pa.Table) -> LoggedClicks:
    """The estimation rows as arrays: pairs and policies as integer codes (Arrow's dictionary
    encoding, no Python string per row)."""
    def codes(name: str) -> np.ndarray:
        return table.column(name).combine_chunks().dictionary_encode().indices.to_numpy(zero_copy_only=False)
    return LoggedClicks(
        position=column(table, "position", np.int64), click=column(table, "label"),
        exploration=column(table, "is_exploration", bool), pair=codes("pair"), policy=codes("policy"),
        group=group_sizes(table.column("request_id")), propensity=column(table, "propensity"),
        visible_ms=column(table, "visible_ms"),
    )


def build_position_bias(con, pipeline: PipelineConfig, logs_dir) -> dict[str, Any]:
    ensure_schema(con)
    split = temporal_split(con, pipeline)
    first, last = split.train[0], split.valid  # evaluation days never inform training
    table = arrow_query(con, "model/position_bias/rows", {"first_day": first, "last_day": last})
    result = estimate(logged_clicks(table), design=pipeline.exploration_design)
    curves, chosen = result.curves, result.chosen
    tables = []
    for name, curve in curves.items():
        k = np.arange(1, len(curve.theta) + 1)
        nan = np.full(len(k), np.nan)
        tables.append(pa.table({
            "method": [name] * len(k), "position": k.astype(np.int32),
            "theta": pa.array(curve.theta, from_pandas=True),
            "low": pa.array(curve.low if curve.low is not None else nan, from_pandas=True),
            "high": pa.array(curve.high if curve.high is not None else nan, from_pandas=True),
            "used": [name == chosen] * len(k), "first_day": [first] * len(k), "last_day": [last] * len(k),
            "offset": pa.array(curve.offset if curve.offset is not None else nan, from_pandas=True),
            "identified": [result.identified] * len(k)}))
    replace_rows(con, "position_bias", pa.concat_tables(tables), delete="DELETE FROM position_bias")
    meta: dict[str, Any] = {"used_method": chosen, "identified": result.identified, "why": result.reason,
                            **result.info, "first_day": str(first), "last_day": str(last)}
    truth = _true_curve(con, logs_dir)
    shown = [name for name in curves if name != "none"]
    lines = ["| position | " + " | ".join(shown) + (" | truth |" if truth is not None else " |"),
             "|---:|" + "---:|" * (len(shown) + (truth is not None))]
    for k in range(min(20, max(len(curves[c].theta) for c in shown))):
        cells = [f"{curves[c].theta[k]:.3f}" if k < len(curves[c].theta) and np.isfinite(curves[c].theta[k]) else ""
                 for c in shown]
        if truth is not None:
            cells.append(f"{truth[k]:.3f}" if k < len(truth) else "")
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    meta["curves"] = dg.MetadataValue.md("\n".join(lines))
    if truth is not None:
        # a trust-bias curve estimates the slope in relevance (and an offset), not the examination
        trust = trust_slope(Path(logs_dir), truth)
        for name, c in curves.items():
            target = trust[0] if trust is not None and c.offset is not None else truth
            n = min(len(target), len(c.theta))
            meta[f"max_abs_error_vs_truth/{name}"] = round(float(np.nanmax(np.abs(c.theta[:n] - target[:n]))), 4)
        if trust is not None:
            meta["truth/trust_slope"] = json.dumps([round(float(v), 3) for v in trust[0][:10]])
            meta["truth/trust_offset"] = json.dumps([round(float(v), 3) for v in trust[1][:10]])
    for k in (2, 3, 5, 10):
        if k <= len(curves[chosen].theta):
            meta[f"theta/{k}"] = round(float(curves[chosen].theta[k - 1]), 4)
    return meta


def _true_curve(con, logs_dir) -> np.ndarray | None:
    if not register_truth(con, logs_dir):
        return None
    rows = query_dicts(con, "model/position_bias/true_examination")
    return np.array([r["examination"] for r in rows]) if rows else None


@dg.asset(
    group_name="model", pool=WAREHOUSE_POOL, kinds={"duckdb", "numpy"},
    code_version=sql_code_version("model/position_bias/rows", tables=["position_bias"]),
    deps=[ctr_labels, impression_context],
    description="Examination probability by position, estimated by the logs' design: randomized exploration (shuffle, "
    "top-k shuffle, adjacent swaps), interventions harvested across logging policies, trust bias; whether the logs "
    "identify it at all, and why the ranker uses the curve it uses.",
)
def position_bias(warehouse: WarehouseResource, pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_position_bias(con, pipeline, load_settings().logs_dir)
    return dg.MaterializeResult(metadata=meta)


# ------------------------------------------------------------------ ranker


def training_source(con, config: RankerConfig, split) -> str:
    """Which rows the ranker trains on: the request-level negatives (with their clicks), or
    every shown item when configured so, or when the training days have no request-level
    negatives at all (one impression per request: banner or carousel slots)."""
    if config.training_rows == "all_shown":
        return "all_shown"
    (row,) = query_dicts(con, "model/ctr_ranker/negatives_in_days", {"first_day": split.train[0], "last_day": split.train[-1]})
    return "negatives" if row["any_rows"] else "all_shown"


def build_ranker(con, pipeline: PipelineConfig, run_id: str | None = None, log: Progress | None = None) -> dict[str, Any]:
    ensure_schema(con)
    settings = load_settings()
    split = temporal_split(con, pipeline)
    register_truth(con, settings.logs_dir)
    curve = load_curve(con)
    config = ranker_config(pipeline)
    t0 = time.perf_counter()
    silent = [str(r["day"]) for r in query_dicts(con, "model/ctr_ranker/clicks_by_day",
                                                 {"first_day": split.train[0], "last_day": split.train[-1]})
              if r["impressions"] and not r["clicks"]]
    if silent:
        raise ValueError(f"no clicks on the training day{'s' if len(silent) > 1 else ''} {', '.join(silent)} "
                         "(impressions but not one click): every impression would train as a negative; check that "
                         "day's events (a tracking outage?) or leave it out of the logs")
    source = training_source(con, config, split)
    if log and source != ("negatives" if config.training_rows == "ranking_negatives" else "all_shown"):
        log("no request-level negatives in the training days (one impression per request?): "
            "training on every shown item instead")
    # the training days streamed through a spill file (never a whole Arrow table of them), which
    # LightGBM bins batch by batch (no matrix of them either) unless a refit joins them to more rows
    train_set, spec = stream_training_set(con, source, split.train[0], split.train[-1], curve,
                                          exclude=pipeline.ranker_exclude_features, batches=not config.refit)
    valid_rows = load_rows(con, "all_shown", split.valid, split.valid)
    days = f"{split.train[0]}..{split.train[-1]}"
    if len(train_set.label) == 0 or not train_set.label.any():
        raise ValueError(f"no {'clicks' if len(train_set.label) else 'rows'} to train on in the training days {days}: "
                         "check their events (a tracking outage?) and ctr_labels")
    if valid_rows.num_rows == 0 or not column(valid_rows, "label").any():
        raise ValueError(f"no {'clicks' if valid_rows.num_rows else 'rows'} on the validation day {split.valid}: early "
                         "stopping would have nothing to judge by; check that day's events, or hold out other days "
                         "(RECSYS_EVAL_DAYS)")
    categorical = list(range(len(spec.numeric), len(spec.names)))
    load_seconds = time.perf_counter() - t0
    if log:
        log(f"training on {len(train_set.label)} rows of {split.train[0]}..{split.train[-1]} "
            f"({config.position_handling}), validating on {split.valid}")
    valid = training_set(valid_rows, spec, curve)
    # early stopping judges the likelihood the model is trained on: the validation day's rows drawn
    # as the training days' are (the sampler's requests with a click); every shown row of that day
    # scores a different likelihood (requests without a click lower its click rate), which stopped
    # a model at iteration 1 on a small simulation. The calibration is fitted on every shown row.
    stop_rows = valid
    if source != "all_shown":
        stop_rows, _ = stream_training_set(con, source, split.valid, split.valid, curve, spec=spec)
    if not stop_rows.label.any():
        stop_rows = valid  # the validation day's clicks are in requests the sampler left out: judge by every row
    refit_rows = stop_rows if config.refit else None  # for the refit after early stopping
    # the features are dropped once LightGBM has binned them (only their labels and groups are used below)
    ranker = train(config, train_set, stop_rows, categorical, spec.names, progress=log, refit_rows=refit_rows,
                   release_features=True, calibration_rows=valid)
    train_seconds = time.perf_counter() - t0 - load_seconds
    last_trained = split.valid if refit_rows is not None else split.train[-1]  # the refit also learned the validation day
    lineage = query_dicts(con, "model/ctr_ranker/lineage", {"first_day": split.train[0], "last_day": last_trained})[0]
    fingerprint = hashlib.sha256(
        f"{lineage['negatives_fingerprint']}:{lineage['labels_fingerprint']}:{config}".encode()).hexdigest()[:16]
    trained_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    model_id = f"ctr-{trained_at:%Y%m%dT%H%M%S}-{fingerprint[:8]}"
    info = {
        "model_id": model_id, "trained_at": trained_at.isoformat(), "curve": {"method": curve.method, "theta": curve.theta.tolist(),
                                                                    "offset": None if curve.offset is None else curve.offset.tolist()},
        "sampler_version": lineage["sampler_versions"], "weight_policy": lineage["weight_policies"],
        "data_fingerprint": fingerprint, "dagster_run_id": run_id, **split.describe(),
    }
    path = model_files.save(settings.models_dir / model_id, ranker, spec, info)
    reloaded = model_files.load(path)  # what evaluation and serving will score with
    if not np.allclose(reloaded.score(reloaded.spec.encode(valid_rows)), ranker.score(valid.X), rtol=0, atol=1e-9):
        raise RuntimeError(f"{path}: the saved model does not reproduce the trained model's scores on {split.valid}")
    labels = np.concatenate([train_set.label] + ([refit_rows.label] if refit_rows is not None else []))
    groups = len(train_set.group) + (len(refit_rows.group) if refit_rows is not None else 0)
    row = {
        "model_id": model_id, "trained_at": trained_at, "model_path": str(path),
        "position_handling": config.position_handling,
        "training_rows": "ranking_negatives" if source == "negatives" else "all_shown",
        "train_first_day": split.train[0], "train_last_day": last_trained, "valid_day": split.valid,
        "rows": len(labels), "positives": int(labels.sum()), "groups": groups,
        "best_iteration": ranker.best_iteration, "sampler_version": lineage["sampler_versions"],
        "weight_policy": lineage["weight_policies"], "data_fingerprint": fingerprint,
        "config": json.dumps(info | {"config": str(config)}, default=str),
    }
    replace_rows(con, "ctr_ranker", pa.Table.from_pylist([row]))  # a new model_id: appended
    importance = sorted(zip(spec.names, ranker.booster.feature_importance("gain", iteration=ranker.best_iteration)),
                        key=lambda kv: -kv[1])
    total_gain = sum(g for _, g in importance) or 1.0
    meta: dict[str, Any] = {
        "model_id": model_id, "model_path": dg.MetadataValue.path(str(path)),
        "position_handling": config.position_handling, "sampler_version": lineage["sampler_versions"] or "",
        "weight_policy": lineage["weight_policies"] or "", "data_fingerprint": fingerprint,
        "rows": row["rows"], "positives": row["positives"], "groups": row["groups"],
        # the validation day's rows: those drawn like the training rows judge early stopping, every shown one calibrates
        "validation_rows/early_stopping": len(stop_rows.label), "validation_rows/calibration": len(valid.label),
        "best_iteration": ranker.best_iteration, "seconds/load": round(load_seconds, 2), "seconds/train": round(train_seconds, 2),
        "rows_per_second/train": round(row["rows"] / max(train_seconds, 1e-9)),
        "calibration": json.dumps(ranker.calibration), "features": len(spec.names),
        "excluded_features": ",".join(sorted(set(NUMERIC + CATEGORICAL) - set(spec.names))) or "none", **split.describe(),
        "feature_importance": dg.MetadataValue.md("\n".join(
            ["| feature | share of gain |", "|---|---:|"] + [f"| {n} | {g / total_gain:.1%} |" for n, g in importance[:12]])),
    }
    return meta


def _ranker_code_version() -> str:
    policy = sampler_policy(_PIPELINE.ranking_sampler, "ranking")
    weights = weight_policy(_PIPELINE.weight_policy)
    features = hashlib.sha256(json.dumps([NUMERIC, CATEGORICAL, _PIPELINE.ranker_exclude_features,
                                          str(ranker_config(_PIPELINE))]).encode()).hexdigest()[:8]
    return f"{sql_code_version('model/ctr_ranker/ranker_rows', 'model/ctr_ranker/lineage', tables=['ctr_ranker'])}-{features}-" \
           f"{policy.content_hash}-{weights.content_hash}"


@dg.asset(
    group_name="model", pool=WAREHOUSE_POOL, kinds={"lightgbm", "duckdb"},
    code_version=_ranker_code_version(),
    deps=[ranking_negatives, ctr_labels, impression_context, position_bias],
    description="LightGBM CTR ranker on request-level groups from ranking_negatives, position bias handled; "
    "saved as LightGBM text plus a JSON feature spec.",
)
def ctr_ranker(context: dg.AssetExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_ranker(con, pipeline, context.run.run_id, log=context.log.info)
    return dg.MaterializeResult(metadata=meta, data_version=dg.DataVersion(meta["data_fingerprint"]))


# ------------------------------------------------------------------ evaluation


def latest_model(con) -> dict[str, Any]:
    rows = query_dicts(con, "model/model_registry/latest")
    if not rows:
        raise ValueError("no trained model: materialize ctr_ranker first")
    return rows[0]


def build_evaluation(con, pipeline: PipelineConfig, seed: int = 0, log: Progress | None = None) -> dict[str, Any]:
    ensure_schema(con)
    settings = load_settings()
    model = latest_model(con)
    loaded = model_files.load(Path(model["model_path"]))
    split = temporal_split(con, pipeline)
    has_truth = register_truth(con, settings.logs_dir)
    curve = saved_curve(loaded.info["curve"])
    eval_rows = load_rows(con, "all_shown", split.eval[0], split.eval[-1])
    valid_rows = load_rows(con, "all_shown", split.valid, split.valid)
    spec = loaded.spec
    categorical = list(range(len(spec.numeric), len(spec.names)))
    ev = training_set(eval_rows, spec, curve)
    va = training_set(valid_rows, spec, curve)
    scores: dict[str, np.ndarray] = {"model": loaded.score(ev.X), "logging": -ev.position.astype(float)}
    probs: dict[str, np.ndarray] = {"model": loaded.click_probability(ev.X, ev.theta, score=scores["model"])}
    # baselines, trained on the same days with the same hyperparameters
    base_config = ranker_config(pipeline)
    naive_rows, _ = stream_training_set(con, "all_shown", split.train[0], split.train[-1], curve, spec=spec,
                                        batches=not base_config.refit)
    naive_config = RankerConfig(**{**base_config.__dict__, "position_handling": "none", "training_rows": "all_shown",
                                   "use_weights": False})
    # with refit, every model is fitted again on the training days + the validation day
    fits = [lambda threads: train(dataclasses.replace(naive_config, threads=threads), naive_rows, va, categorical,
                                  spec.names, progress=log, label="naive baseline", refit_rows=va,
                                  release_features=True)]
    if has_truth:
        source = training_source(con, base_config, split)
        truth_train, _ = stream_training_set(con, source, split.train[0], split.train[-1], curve, spec=spec,
                                             label_column="truth_attractiveness")
        truth_valid = training_set(valid_rows, spec, curve, label=column(valid_rows, "truth_attractiveness"))
        truth_refit = None
        if base_config.refit:
            truth_refit, _ = stream_training_set(con, source, split.valid, split.valid, curve, spec=spec,
                                                 label_column="truth_attractiveness")
        fits.append(lambda threads: train_on_truth(dataclasses.replace(base_config, threads=threads), truth_train,
                                                   truth_valid, categorical, progress=log, refit_rows=truth_refit))
    # the two baselines side by side, on the cores between them (the rows are all loaded first:
    # the warehouse connection serves one thread)
    naive, *ceiling = run_fits(fits, base_config.threads)
    scores["naive"] = naive.score(ev.X)
    probs["naive"] = naive.click_probability(ev.X, ev.theta, score=scores["naive"])
    if ceiling:
        scores["ceiling"] = ceiling[0].score(ev.X)
    truth = column(eval_rows, "truth_attractiveness") if has_truth else None
    exploration, propensity = column(eval_rows, "is_exploration", bool), column(eval_rows, "propensity")
    results, tables = evaluate_variants(
        scores=scores, probs=probs, clicks=ev.label, positions=ev.position, groups=ev.group,
        segments=eval_rows.column("segment").fill_null("anonymous").to_numpy(zero_copy_only=False).astype(str),
        exploration=exploration, propensity=propensity, truth=truth, seed=seed,
    )
    # off-policy estimates with intervals, and the paired difference model - naive they judge by
    identified = curve_identified(con)
    theta, offset = examination_at(curve, ev.position)
    paired = paired_estimates({v: scores[v] for v in ("model", "naive", "logging", "ceiling") if v in scores},
                              ev.label, ev.position, ev.group, exploration, propensity, truth, theta, offset, seed=seed)
    paired.append({"variant": "model", "metric": "curve_identified", "slice": "all", "value": float(identified)})
    results = with_intervals(results, paired)
    verdict = verdict_of(results)
    rows = pa.Table.from_pylist([{"model_id": model["model_id"], **r} for r in results],
                                schema=pa.schema([("model_id", pa.string()), ("variant", pa.string()), ("metric", pa.string()),
                                                  ("slice", pa.string()), ("value", pa.float64()), ("low", pa.float64()),
                                                  ("high", pa.float64())]))
    replace_rows(con, "ranker_evaluation", rows, delete="DELETE FROM ranker_evaluation WHERE model_id = ?",
                 params=[model["model_id"]])
    headline = {f"{r['variant']}/{r['metric']}": r["value"] for r in results if r["slice"] == "all"}
    meta: dict[str, Any] = {"model_id": model["model_id"], "truth_available": has_truth, **split.describe()}
    meta |= {k: round(float(v), 5) for k, v in headline.items() if v is not None and np.isfinite(v)}
    headline_ndcg = [headline.get(f"{v}/truth_ndcg@10") for v in ("model", "naive", "ceiling")]
    if has_truth and None not in headline_ndcg:  # (one-item slates have no NDCG)
        gap = headline["ceiling/truth_ndcg@10"] - headline["naive/truth_ndcg@10"]
        meta["gap_closed"] = round((headline["model/truth_ndcg@10"] - headline["naive/truth_ndcg@10"]) / gap, 4) if gap > 0 else None
    meta |= {f"{r['variant']}/{r['metric']}/{end}": round(r[end], 5) for r in paired for end in ("low", "high")
             if r.get(end) is not None}
    meta |= {"curve_identified": identified, "best_valid_estimate": LABELS.get(verdict.judged_by or "", "not judged"),
             "judgement": verdict.reason, "promotable": verdict.promoted,
             "click_ndcg": "NDCG@5/10 on clicks are biased toward the logging ranker's order (and so toward the naive "
                           "model, trained to copy it): a figure to watch, not a judge"}
    for name, md in tables.items():
        meta[name] = dg.MetadataValue.md(md)
    meta["off_policy"] = dg.MetadataValue.md(off_policy_table(results))
    return meta


def saved_curve(info: dict[str, Any]) -> Curve:
    """The examination curve a model was trained with, as its files record it (with the trust
    bias offset where the curve has one)."""
    offset = info.get("offset")
    return Curve(info["method"], np.array(info["theta"]), offset=None if offset is None else np.array(offset, dtype=float))


def curve_identified(con) -> bool:
    """Whether the position-bias curve in use is identified by the logs (exploration, or enough
    harvested interventions)."""
    return bool(query_dicts(con, "model/ranker_evaluation/curve_identified")[0]["identified"])


def with_intervals(results: list[dict], paired: list[dict]) -> list[dict]:
    """The evaluation rows with low/high: the paired estimates replace the rows they recompute
    (truth NDCG@10 on the whole set), SNIPS rows take the interval ``off_policy_top1`` gave."""
    replaced = {(r["variant"], r["metric"], r["slice"]) for r in paired}
    get = {(r["variant"], r["metric"], r["slice"]): r["value"] for r in results}
    out = []
    for r in results:
        if (r["variant"], r["metric"], r["slice"]) in replaced:
            continue
        low = high = None
        if r["metric"] == "exploration_snips":
            low, high = get.get((r["variant"], "exploration_snips_low", r["slice"])), \
                get.get((r["variant"], "exploration_snips_high", r["slice"]))
        out.append(r | {"low": low, "high": high})
    return out + [{"low": None, "high": None} | r for r in paired]


def verdict_of(rows: list[dict]) -> Verdict:
    """The judgement of the model against the naive baseline from its evaluation rows (the
    whole evaluation set): see ``off_policy.judge``."""
    nan = float("nan")
    figures = {(r["variant"], r["metric"]): Estimate(*(nan if r.get(k) is None else float(r[k])
                                                      for k in ("value", "low", "high")))
               for r in rows if r.get("slice", "all") == "all"}
    identified = figures.get(("model", "curve_identified"), Estimate(0.0, nan, nan)).value == 1.0
    requests = figures.get(("model", "exploration_requests"), Estimate(0.0, nan, nan)).value
    return judge(figures, identified, requests if np.isfinite(requests) else 0.0)


def evaluation_verdict(con, model_id: str | None = None) -> Verdict | None:
    """The verdict on a model (the latest trained by default) from ranker_evaluation; None when
    it was not evaluated."""
    model_id = model_id or latest_model(con)["model_id"]
    rows = query_dicts(con, "model/ranker_evaluation/headline", {"model_id": model_id})
    return verdict_of(rows) if rows else None


def off_policy_table(results: list[dict]) -> str:
    """Markdown: the estimates that can judge a model, with their 95% intervals, per variant."""
    get = {(r["variant"], r["metric"]): r for r in results if r["slice"] == "all"}
    metrics = [m for m in ("truth_ndcg@10", "ips_dcg@10", "exploration_snips") if any(k[1] == m for k in get)]
    lines = ["| variant | " + " | ".join(f"{m} (95% CI)" for m in metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for v in ("model", "naive", "logging", "ceiling", "model-naive"):
        if not any((v, m) in get for m in metrics):
            continue
        cells = []
        for m in metrics:
            r = get.get((v, m))
            if r is None or r["value"] is None:
                cells.append("")
            elif r.get("low") is not None and r.get("high") is not None:
                cells.append(f"{r['value']:.4f} ({r['low']:.4f} to {r['high']:.4f})")
            else:
                cells.append(f"{r['value']:.4f}")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dg.asset(
    group_name="model", pool=WAREHOUSE_POOL, kinds={"lightgbm", "scikit-learn"},
    code_version=sql_code_version("model/ctr_ranker/ranker_rows", tables=["ranker_evaluation"]),
    deps=[ctr_ranker],
    description="The latest ranker on the held-out days next to the logging ranker, a naive model and (on simulated "
    "logs) a model trained on the truth: AUC, log loss, reliability and ECE by position bucket and segment; "
    "off-policy estimates with 95% intervals (IPS DCG@10 under the examination curve, SNIPS on exploration traffic) "
    "and truth NDCG@10 on simulated logs, each with the paired difference model - naive; click NDCG@5/10, biased "
    "toward the logging ranker's order.",
)
def ranker_evaluation(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_evaluation(con, pipeline, log=context.log.info)
    return dg.MaterializeResult(metadata=meta)


# ------------------------------------------------------------------ registry


def build_registry(con, pipeline: PipelineConfig) -> dict[str, Any]:
    """Register the latest ranker and the latest retrieval model (each one that was trained)."""
    ensure_schema(con)
    split = temporal_split(con, pipeline)
    ranker = ranker_registry_row(con, pipeline, split)
    retrieval = retrieval_registry_row(con, split)
    if ranker is None and retrieval is None:
        raise ValueError("no trained model: materialize ctr_ranker (or retrieval_model) first")
    meta: dict[str, Any] = {}
    for row in (ranker, retrieval):
        if row is not None:
            replace_rows(con, "model_registry", pa.Table.from_pylist([row]),
                         delete="DELETE FROM model_registry WHERE model_id = ?", params=[row["model_id"]])
    if ranker is not None:
        metrics = json.loads(ranker["metrics"])
        meta |= {k: v for k, v in ranker.items() if k not in ("metrics", "registered_at")}
        meta["model_path"] = dg.MetadataValue.path(ranker["model_path"])
        meta |= {k: round(float(v), 5) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    if retrieval is not None:
        meta |= {f"retrieval/{k}": retrieval[k] for k in ("model_id", "sampler_version", "promoted", "promotion_reason")}
    meta["models_registered"] = int(query_dicts(con, "model/model_registry/metadata")[0]["models"])
    in_use = query_dicts(con, "model/model_registry/in_use")
    meta["model_in_use"] = in_use[0]["model_id"] if in_use else "none (no model is promoted)"
    return {k: v for k, v in meta.items() if v is not None}


def ranker_registry_row(con, pipeline: PipelineConfig, split: TemporalSplit) -> dict[str, Any] | None:
    """The registry row of the latest ranker (None when none was trained)."""
    if not query_dicts(con, "model/model_registry/latest"):
        return None
    model = latest_model(con)
    policy = sampler_policy(pipeline.ranking_sampler, "ranking")
    metrics = {f"{r['variant']}/{r['metric']}": r["value"]
               for r in query_dicts(con, "model/ranker_evaluation/headline", {"model_id": model["model_id"]})}
    info = json.loads(model["config"])
    verdict = evaluation_verdict(con, model["model_id"])
    return {
        "model_id": model["model_id"], "registered_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "model_path": model["model_path"], "sampler_version": model["sampler_version"],
        "sampler_policy_hash": policy.content_hash, "weight_policy": model["weight_policy"],
        "training_partitions": ",".join(str(d) for d in [*split.train, split.valid]
                                        if model["train_first_day"] <= d <= model["train_last_day"]),
        "eval_partitions": ",".join(str(d) for d in split.eval), "rows": model["rows"], "positives": model["positives"],
        "data_fingerprint": model["data_fingerprint"], "position_handling": model["position_handling"],
        "metrics": json.dumps(metrics, sort_keys=True), "dagster_run_id": info.get("dagster_run_id"),
        # promoted unless significantly worse than the naive baseline on the best valid estimate
        "promoted": verdict.promoted if verdict is not None else True,
        "judged_by": verdict.judged_by if verdict is not None else None,
        "promotion_reason": verdict.reason if verdict is not None else "not judged: the model has no evaluation",
        "model_kind": "ctr_ranker",
    }


def retrieval_verdict(rows: list[dict[str, Any]]) -> tuple[bool, str | None, str]:
    """(promoted, judged by, why) of a retrieval model from its evaluation rows
    (``retrieval_latest.sql``): promoted unless significantly worse than the popularity
    baseline on full-catalog Recall@100 (against the truth where the logs have it, else
    held-out clicks), i.e. the 95% interval of model - popularity wholly below zero."""
    gaps = {r["metric"]: r for r in rows if r["variant"] == "model-popularity"}
    judged_by = next((m for m in ("truth_recall@100", "recall@100") if m in gaps), None)
    if judged_by is None:
        return True, None, "not judged: the retrieval model has no evaluation"
    gap = gaps[judged_by]
    figures = f"{judged_by} {gap['value']:+.4f} (95% interval {gap['low']:+.4f} to {gap['high']:+.4f})"
    if gap["high"] is not None and gap["high"] < 0:
        return False, judged_by, f"significantly worse than the popularity baseline: {figures}"
    return True, judged_by, f"{figures} against the popularity baseline"


def retrieval_registry_row(con, split: TemporalSplit) -> dict[str, Any] | None:
    """The registry row of the latest retrieval model (None when none was trained): its
    sampler version and policy hash, training days, fingerprint, evaluation figures, and
    whether it is promoted: not significantly worse than the popularity baseline on
    full-catalog Recall@100 (against the truth where the logs have it, else held-out clicks)."""
    rows = query_dicts(con, "model/model_registry/retrieval_latest")
    if not rows:
        return None
    m = rows[0]
    info = json.loads(m["config"])
    metrics = {f"{r['variant']}/{r['metric']}": r["value"] for r in rows if r["metric"] is not None}
    promoted, judged_by, reason = retrieval_verdict(rows)
    days = [d for d in split.train if m["train_first_day"] <= d <= m["train_last_day"]]
    return {
        "model_id": m["model_id"], "registered_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "model_path": m["model_path"], "sampler_version": m["sampler_version"],
        "sampler_policy_hash": info.get("sampler_policy_hash"), "weight_policy": None,
        "training_partitions": ",".join(str(d) for d in days), "eval_partitions": ",".join(str(d) for d in split.eval),
        "rows": m["positives"] + m["negatives"], "positives": m["positives"], "data_fingerprint": m["data_fingerprint"],
        "position_handling": None, "metrics": json.dumps(metrics, sort_keys=True),
        "dagster_run_id": info.get("dagster_run_id"), "promoted": promoted, "judged_by": judged_by,
        "promotion_reason": reason, "model_kind": "retrieval_model",
    }


@dg.asset(
    group_name="model", pool=WAREHOUSE_POOL, kinds={"duckdb"},
    code_version=sql_code_version("model/model_registry/retrieval_latest", tables=["model_registry"]),
    deps=[ctr_ranker, ranker_evaluation, dg.AssetKey("retrieval_model"), dg.AssetKey("retrieval_evaluation")],
    description="One row per trained model, the ranker's and the retrieval model's (`model_kind`): sampler version and "
    "policy hash, weight policy, training partitions, row counts, data fingerprint, metrics, model path, and whether "
    "it is promoted (not significantly worse than its baseline: naive on the best valid estimate for the ranker, "
    "popularity on Recall@100 for the retrieval model), judged by which estimate and why.",
)
def model_registry(warehouse: WarehouseResource, pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_registry(con, pipeline)
    return dg.MaterializeResult(metadata=meta)
