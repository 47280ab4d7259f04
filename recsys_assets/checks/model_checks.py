"""Checks of the model layer: the ranker had something to learn from (WARN), and it is not
significantly worse than the naive baseline on the best valid estimate (ERROR: the registry
does not promote such a model); the retrieval model is not significantly worse than
popularity (ERROR). They tell the user when the tool could not help on these logs instead of
leaving every run green."""

from __future__ import annotations

import dagster as dg

from recsys_assets.assets import model, retrieval
from recsys_assets.ranker.off_policy import Verdict
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts
from recsys_assets.warehouse.tables import missing_tables

TRAINING_SIGNAL = "training_signal"
BEATS_NAIVE_BASELINE = "beats_naive_baseline"
BEATS_POPULARITY_BASELINE = "beats_popularity_baseline"

#: fewer clicks on the validation day than this leave early stopping nothing to judge by
MIN_VALIDATION_CLICKS = 30
#: a model stopped before this many rounds learned next to nothing
MIN_BEST_ITERATION = 5


def _signal(warehouse: WarehouseResource) -> dict | None:
    with warehouse.get_connection() as con:
        if missing_tables(con, ["ctr_ranker", "ranker_evaluation", "ctr_labels"]):
            return None
        rows = query_dicts(con, "checks/model_signal")
    return rows[0] if rows else None


def training_signal_result(s: dict | None) -> dg.AssetCheckResult:
    if s is None:
        return dg.AssetCheckResult(passed=True, description="no model yet")
    meta = {"valid_day": str(s["valid_day"]), "valid_clicks": int(s["valid_clicks"]), "best_iteration": int(s["best_iteration"])}
    problems = []
    if s["valid_clicks"] < MIN_VALIDATION_CLICKS:
        problems.append(f"the validation day {s['valid_day']} has {s['valid_clicks']} clicks (< {MIN_VALIDATION_CLICKS}): "
                        "early stopping had little to judge by")
    if s["best_iteration"] < MIN_BEST_ITERATION:
        problems.append(f"training stopped at iteration {s['best_iteration']} (< {MIN_BEST_ITERATION}): the model learned "
                        "next to nothing")
    if problems:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="; ".join(problems),
                                   metadata=meta)
    return dg.AssetCheckResult(passed=True, metadata=meta,
                               description=f"{s['valid_clicks']} validation clicks, best iteration {s['best_iteration']}")


def _verdict(warehouse: WarehouseResource) -> Verdict | None:
    with warehouse.get_connection() as con:
        if missing_tables(con, ["ctr_ranker", "ranker_evaluation"]):
            return None
        return model.evaluation_verdict(con)


def beats_naive_result(verdict: Verdict | None) -> dg.AssetCheckResult:
    """Fails (ERROR) when the model is significantly worse than the naive baseline on the best
    valid estimate (the 95% interval of model - naive wholly below zero); passes otherwise,
    with the figures and the judge, or with the reason it could not be judged."""
    if verdict is None:
        return dg.AssetCheckResult(passed=True, description="no evaluated model yet")
    meta = verdict.metadata()
    if verdict.worse:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata=meta, description=(
            f"the model is {verdict.reason}; it is not promoted: keep serving the last promoted model "
            "(see the sampler comparison for the arms and their intervals)"))
    return dg.AssetCheckResult(passed=True, metadata=meta, description=verdict.reason)


@dg.asset_check(asset=model.ctr_ranker, name=TRAINING_SIGNAL, pool=WAREHOUSE_POOL,
                description="The validation day has clicks and training did not stop at once.")
def training_signal(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return training_signal_result(_signal(warehouse))


@dg.asset_check(asset=model.ranker_evaluation, name=BEATS_NAIVE_BASELINE, pool=WAREHOUSE_POOL,
                description="The model is not significantly worse than the naive baseline on the best valid "
                "estimate: truth NDCG@10 on simulated logs, else IPS DCG@10 when the examination curve is identified, "
                "else SNIPS on enough exploration traffic, else not judged.")
def beats_naive_baseline(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return beats_naive_result(_verdict(warehouse))


def beats_popularity_result(rows: list[dict] | None) -> dg.AssetCheckResult:
    """Fails (ERROR) when the retrieval model is significantly worse than the popularity baseline
    over the full catalog (see ``model.retrieval_verdict``); passes otherwise, with the figures."""
    if not rows:
        return dg.AssetCheckResult(passed=True, description="no evaluated retrieval model yet")
    promoted, judged_by, reason = model.retrieval_verdict(rows)
    meta = {"model_id": rows[0]["model_id"], "judged_by": judged_by or "not judged"}
    if not promoted:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata=meta, description=(
            f"the retrieval model is {reason}; it is not promoted: too little data for it, or its pools do not fit "
            "these logs (see retrieval_comparison)"))
    return dg.AssetCheckResult(passed=True, metadata=meta, description=reason)


@dg.asset_check(asset=retrieval.retrieval_evaluation, name=BEATS_POPULARITY_BASELINE, pool=WAREHOUSE_POOL,
                description="The retrieval model is not significantly worse than the popularity baseline on "
                "full-catalog Recall@100 (against the truth on simulated logs, else held-out clicks).")
def beats_popularity_baseline(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        if missing_tables(con, ["retrieval_model", "retrieval_evaluation"]):
            return beats_popularity_result(None)
        rows = query_dicts(con, "model/model_registry/retrieval_latest")
    return beats_popularity_result([r for r in rows if r["metric"] is not None])
