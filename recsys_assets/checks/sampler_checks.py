"""Checks of the negatives and the sampler metrics.

Invariants (blocking, ERROR): a model never trains on negatives that collide with a known
positive, that were ineligible or policy-blocked, that come from an item state not known
at the request time, or that lack the sampler version. Drift (not blocking): each day's
mixes and distributions against a trailing baseline, WARN or ERROR by the thresholds in
the policy's ``drift`` section.
"""

from collections import defaultdict
from statistics import NormalDist
from typing import Any

import dagster as dg

from recsys_assets.assets import metrics, negatives
from recsys_assets.config import PipelineConfig
from recsys_assets.defs.partitions import run_partition
from recsys_assets.policies.files import sampler_policy
from recsys_assets.policies.samplers import SamplerPolicy
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts

NO_KNOWN_POSITIVE_COLLISIONS = "no_known_positive_collisions"
NO_INELIGIBLE_NEGATIVES = "no_ineligible_negatives"
NO_FUTURE_NEGATIVES = "no_future_negatives"
SAMPLER_VERSION_PRESENT = "sampler_version_present"
RANKING_SAMPLER_DRIFT = "ranking_sampler_drift"
RETRIEVAL_SAMPLER_DRIFT = "retrieval_sampler_drift"

INVARIANTS = {  # check -> (count column, example column, what a violation is)
    NO_KNOWN_POSITIVE_COLLISIONS: ("collisions", "collision_example", "negatives that are known positives of their user"),
    NO_INELIGIBLE_NEGATIVES: ("ineligible", "ineligible_example", "negatives not eligible for their user at request time"),
    NO_FUTURE_NEGATIVES: ("future", None, "negatives drawn from an item state not known at request time"),
    SAMPLER_VERSION_PRESENT: ("unversioned", None, "negatives without the current sampler version"),
}


def _policy(pipeline: PipelineConfig, sampler: str) -> SamplerPolicy:
    name = pipeline.ranking_sampler if sampler == "ranking" else pipeline.retrieval_sampler
    return sampler_policy(name, sampler)


def invariant_results(con, pipeline: PipelineConfig, sampler: str, day, asset_key: dg.AssetKey) -> list[dg.AssetCheckResult]:
    policy = _policy(pipeline, sampler)
    (counts,) = query_dicts(con, "checks/negative_invariants", {
        "sampler": sampler, "day": day, "sampler_version": policy.version,
        "history_collisions": "not_known_positive" in policy.filters,
        "history_days": pipeline.history_days, "click_window_minutes": pipeline.click_window_minutes,
    })
    results = []
    for check, (column, example_column, what) in INVARIANTS.items():
        bad = int(counts[column] or 0)
        example = counts[example_column] if example_column else None
        description = f"{bad} of {counts['rows']} {what}" + (f", e.g. {example}" if bad and example else "")
        results.append(dg.AssetCheckResult(
            asset_key=asset_key, check_name=check, passed=bad == 0,
            metadata={"violations": bad, "rows_checked": int(counts["rows"]), "sampler_version": policy.version},
            description=description if bad else f"{counts['rows']} negatives checked",
        ))
    return results


def _invariant_checks(asset: dg.AssetsDefinition, sampler: str) -> dg.AssetChecksDefinition:
    specs = [dg.AssetCheckSpec(name, asset=asset, blocking=True, description=what) for name, (_, _, what) in INVARIANTS.items()]

    @dg.multi_asset_check(specs=specs, name=f"{sampler}_negative_invariants", pool=WAREHOUSE_POOL)
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig):
        with warehouse.get_connection() as con:
            yield from invariant_results(con, pipeline, sampler, run_partition(context), asset.key)

    return _check


ranking_invariants = _invariant_checks(negatives.ranking_negatives, "ranking")
retrieval_invariants = _invariant_checks(negatives.retrieval_negatives, "retrieval")


def drift_result(con, policy: SamplerPolicy, sampler: str, day, check_name: str,
                 popularity_days: int = 7) -> dg.AssetCheckResult:
    """Compare one day's distributions with the trailing baseline; the message says what moved.

    Sample-size aware (the SQL computes the effective sizes n and the noise bounds, per
    metric, in one query): a metric with n below ``drift.min_n`` on the day or in the
    baseline is not judged; a judged metric WARNs when PSI >= psi_warn and ERRORs when
    PSI >= psi_error, in both cases only if PSI also exceeds ``psi_noise`` (what two samples
    of these sizes from one distribution exceed with probability 1 - confidence); a source
    share ERRORs when it moved by share_tolerance or more and the move is significant.
    """
    drift = policy.drift
    z = NormalDist().inv_cdf(drift.confidence)
    complete = query_dicts(con, "checks/history_complete_from", {"popularity_days": popularity_days})
    complete_from = complete[0]["day"] if complete else day
    rows = query_dicts(con, "checks/sampler_drift", {"sampler": sampler, "day": day, "history_complete_from": complete_from,
                                                      "baseline_days": drift.baseline_days, "z": z})
    baseline_days = int(rows[0]["baseline_days"] or 0) if rows else 0
    meta: dict[str, Any] = {"baseline_days": baseline_days, "sampler_version": policy.version, "min_n": drift.min_n}
    if baseline_days == 0:
        return dg.AssetCheckResult(asset_key=metrics.sampler_metrics.key, check_name=check_name, passed=True,
                                   metadata=meta, description=f"{sampler}: no baseline yet")
    by_metric: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_metric[r["metric"]].append(r)
    judged: dict[str, dict[str, Any]] = {}
    unjudged: list[tuple[float, str, dict[str, Any]]] = []  # (n, side, first row)
    for metric, rs in by_metric.items():
        first = rs[0]
        n, side = min((float(first["current_n"]), "this day"), (float(first["baseline_n"]), "baseline"))
        if n < drift.min_n:
            unjudged.append((n, side, first))
            continue
        worst = max(rs, key=lambda r: abs(r["current_share"] - r["baseline_share"]))
        judged[metric] = {"psi": sum(r["psi_term"] for r in rs), "js": sum(r["js_term"] for r in rs),
                          "noise": float(first["psi_noise"]), "n": float(first["current_n"]), "worst": worst,
                          "share_alarm": metric == "source_share" and any(
                              abs(r["current_share"] - r["baseline_share"]) >= drift.share_tolerance and r["share_z"] >= z
                              for r in rs)}
    first = rows[0]
    meta |= {"n": round(float(first["current_n"]), 1), "baseline_n": round(float(first["baseline_n"]), 1),
             "negatives": int(first["negatives"]), "requests": int(first["requests"]), "items": int(first["items"])}
    if not judged:
        n, side, r = min(unjudged, key=lambda u: u[0])
        where = "in the baseline" if side == "baseline" else (
            f"on {day}: {int(r['negatives']):,} negatives from {int(r['requests']):,} requests on {int(r['items']):,} items")
        return dg.AssetCheckResult(
            asset_key=metrics.sampler_metrics.key, check_name=check_name, passed=True, metadata=meta,
            description=f"{sampler}: not enough data (n = {n:,.0f} < {drift.min_n:,}): drift not judged "
                        f"(n is the effective sample size {where})")
    problems: list[tuple[int, float, str]] = []  # (severity rank, psi, message)
    for metric, m in judged.items():
        meta[f"psi/{metric}"] = round(m["psi"], 5)
        meta[f"js/{metric}"] = round(m["js"], 5)
        meta[f"psi_noise/{metric}"] = round(m["noise"], 5)
        w = m["worst"]
        message = (f"{sampler} {metric.removesuffix('_share')}: {w['key']} share {w['current_share']:.1%} vs "
                   f"{w['baseline_share']:.1%} baseline (PSI {m['psi']:.2f}, noise bound {m['noise']:.2f} at n = {m['n']:,.0f}, "
                   f"JS {m['js']:.3f})")
        significant = m["psi"] >= m["noise"]
        if (significant and m["psi"] >= drift.psi_error) or m["share_alarm"]:
            problems.append((2, m["psi"], message))
        elif significant and m["psi"] >= drift.psi_warn:
            problems.append((1, m["psi"], message))
    skipped = "".join(f"; {r['metric'].removesuffix('_share')} not judged (n = {n:,.0f} < {drift.min_n:,})"
                      for n, _, r in sorted(unjudged, key=lambda u: u[2]["metric"]))
    if not problems:
        metric, m = max(judged.items(), key=lambda kv: kv[1]["psi"])
        return dg.AssetCheckResult(
            asset_key=metrics.sampler_metrics.key, check_name=check_name, passed=True, metadata=meta,
            description=f"{sampler}: largest drift {metric} PSI {m['psi']:.3f} (noise bound {m['noise']:.3f} at "
                        f"n = {m['n']:,.0f}){skipped}")
    problems.sort(reverse=True)
    severity = dg.AssetCheckSeverity.ERROR if problems[0][0] == 2 else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(asset_key=metrics.sampler_metrics.key, check_name=check_name, passed=False,
                               severity=severity, metadata=meta, description="; ".join(p[2] for p in problems) + skipped)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(RANKING_SAMPLER_DRIFT, asset=metrics.sampler_metrics,
                          description="Ranking negatives' mixes against the trailing baseline (PSI, JS, share rules)."),
        dg.AssetCheckSpec(RETRIEVAL_SAMPLER_DRIFT, asset=metrics.sampler_metrics,
                          description="Retrieval negatives' mixes against the trailing baseline (PSI, JS, share rules)."),
    ],
    pool=WAREHOUSE_POOL,
)
def sampler_drift(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, pipeline: PipelineConfig):
    day = run_partition(context)
    with warehouse.get_connection() as con:
        if day is None:  # launched on its own: check the latest day with metrics
            latest = query_dicts(con, "checks/latest_metrics_day")
            day = latest[0]["day"] if latest else None
        for sampler, name in (("ranking", RANKING_SAMPLER_DRIFT), ("retrieval", RETRIEVAL_SAMPLER_DRIFT)):
            yield drift_result(con, _policy(pipeline, sampler), sampler, day, name, pipeline.popularity_days)
