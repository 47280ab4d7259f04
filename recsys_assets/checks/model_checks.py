"""Checks of the model layer: the ranker had something to learn from, and it beats the naive
baseline where that can be judged. Both WARN (the model is still registered): they tell the
user when the tool could not help on these logs instead of leaving every run green."""

from __future__ import annotations

import dagster as dg

from recsys_assets.assets import model
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts
from recsys_assets.warehouse.tables import missing_tables

TRAINING_SIGNAL = "training_signal"
BEATS_NAIVE_BASELINE = "beats_naive_baseline"

#: fewer clicks on the validation day than this leave early stopping nothing to judge by
MIN_VALIDATION_CLICKS = 30
#: a model stopped before this many rounds learned next to nothing
MIN_BEST_ITERATION = 5
#: exploration requests needed before the SNIPS comparison means anything
MIN_EXPLORATION_REQUESTS = 200


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


def beats_naive_result(s: dict | None) -> dg.AssetCheckResult:
    if s is None:
        return dg.AssetCheckResult(passed=True, description="no evaluated model yet")
    if s["model_truth_ndcg"] is not None and s["naive_truth_ndcg"] is not None:
        judge, ours, naive = "truth NDCG@10", s["model_truth_ndcg"], s["naive_truth_ndcg"]
    elif (s["exploration_requests"] or 0) >= MIN_EXPLORATION_REQUESTS and None not in (s["model_snips"], s["naive_snips"]):
        judge, ours, naive = "exploration SNIPS", s["model_snips"], s["naive_snips"]
    else:
        return dg.AssetCheckResult(passed=True, description=(
            f"not judged: no truth, and {int(s['exploration_requests'] or 0)} exploration requests "
            f"(< {MIN_EXPLORATION_REQUESTS}); click metrics favour the naive model by construction"))
    meta = {"judge": judge, "model": round(float(ours), 4), "naive": round(float(naive), 4)}
    if ours < naive:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=meta, description=(
            f"the model is worse than the naive baseline on {judge}: {ours:.4f} < {naive:.4f}; "
            "do not promote it (see the sampler comparison for the arms and their intervals)"))
    return dg.AssetCheckResult(passed=True, metadata=meta, description=f"{judge}: model {ours:.4f} >= naive {naive:.4f}")


@dg.asset_check(asset=model.ctr_ranker, name=TRAINING_SIGNAL, pool=WAREHOUSE_POOL,
                description="The validation day has clicks and training did not stop at once.")
def training_signal(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return training_signal_result(_signal(warehouse))


@dg.asset_check(asset=model.ranker_evaluation, name=BEATS_NAIVE_BASELINE, pool=WAREHOUSE_POOL,
                description="The model is not worse than the naive baseline (truth NDCG@10 on simulated logs, "
                "else SNIPS on enough exploration traffic, else not judged).")
def beats_naive_baseline(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return beats_naive_result(_signal(warehouse))
