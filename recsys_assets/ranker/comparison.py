"""Comparing sampler/weight/position policies: metrics with paired bootstrap intervals, a
ranking, and a plain-language recommendation.

Every arm is evaluated on the same held-out requests, so intervals are paired: one set of
bootstrap resamples of requests serves every arm, and the difference between two arms
gets its own interval. The primary metric is NDCG@10 against the true attractiveness when
the logs come from the simulator, else the IPS estimate of DCG@10 (``off_policy.ips_dcg``)
when the examination curve is identified by the logs, else SNIPS on the exploration bucket
when it has enough requests, else NDCG@10 on clicks (biased by the logging policy's
positions; the recommendation says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys_assets.ranker.evaluation import (
    _padded,
    classification_metrics,
    off_policy_top1,
    per_request_ndcg,
    tie_averaged_slots,
)
from recsys_assets.ranker.off_policy import ips_dcg

BOOTSTRAP = 200
MIN_EXPLORATION_REQUESTS = 500


def top_k_tail_share(scores: np.ndarray, is_tail: np.ndarray, groups: np.ndarray, k: int = 10) -> float:
    """Share of the top-k slots (re-ranked by ``scores``) that go to long-tail items, pooled
    over requests; items tied across the k-th slot share it (ties broken at random, in
    expectation, not by the logged order)."""
    if len(groups) == 0:
        return float("nan")
    sc = _padded(scores.astype(float), groups, -np.inf)  # padding sorts after every real row
    tail = tie_averaged_slots(_padded(is_tail.astype(float), groups, 0.0), sc)
    return float(tail[:, :k].sum() / np.minimum(groups, k).sum())


@dataclass
class ArmEvaluation:
    name: str
    description: str
    version: str
    training_rows: int
    training_negatives: int
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    per_request: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def evaluate_arm(name: str, description: str, version: str, training_rows: int, training_negatives: int,
                 scores: np.ndarray, probs: np.ndarray, clicks: np.ndarray, groups: np.ndarray, positions: np.ndarray,
                 exploration_groups: np.ndarray, propensity: np.ndarray, is_tail: np.ndarray,
                 truth: np.ndarray | None, seed: int = 0,
                 examination: tuple[np.ndarray, np.ndarray | None] | None = None) -> ArmEvaluation:
    """The arm's metrics on the held-out rows; ``examination`` (theta_k, offset_k at each row's
    logged position) adds the per-request IPS DCG@10."""
    metrics = {k: v for k, v in classification_metrics(probs, clicks).items() if k in ("auc", "log_loss", "ece")}
    per_request: dict[str, np.ndarray] = {}
    values, defined = per_request_ndcg(clicks, scores, groups, 10)
    per_request["ndcg@10"] = np.where(defined, values, np.nan)
    if truth is not None:
        values, defined = per_request_ndcg(truth, scores, groups, 10)
        per_request["truth_ndcg@10"] = np.where(defined, values, np.nan)
    if examination is not None:
        values, defined = ips_dcg(scores, clicks, groups, *examination, k=10)
        per_request["ips_dcg@10"] = np.where(defined, values, np.nan)
    for key, v in per_request.items():
        metrics[key] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    metrics["tail_share@10"] = top_k_tail_share(scores, is_tail, groups, 10)
    intervals: dict[str, tuple[float, float]] = {}
    if exploration_groups.any():
        rows = np.repeat(exploration_groups, groups)
        ope = off_policy_top1(scores[rows], groups[exploration_groups], clicks[rows], positions[rows], propensity[rows],
                              np.random.default_rng(seed))
        if ope:
            metrics |= {"exploration_requests": ope["requests"], "ips": ope["ips"], "snips": ope["snips"]}
            intervals |= {"ips": (ope["ips_low"], ope["ips_high"]), "snips": (ope["snips_low"], ope["snips_high"])}
    return ArmEvaluation(name, description, version, training_rows, training_negatives, metrics, intervals, per_request)


def primary_metric(arms: list[ArmEvaluation], curve_identified: bool = False) -> str:
    """truth > IPS DCG@10 (only where the examination curve is identified) > SNIPS (enough
    exploration requests) > click NDCG@10 (biased)."""
    if all("truth_ndcg@10" in a.per_request for a in arms):
        return "truth_ndcg@10"
    if curve_identified and all("ips_dcg@10" in a.per_request for a in arms):
        return "ips_dcg@10"
    if all(a.metrics.get("exploration_requests", 0) >= MIN_EXPLORATION_REQUESTS for a in arms):
        return "snips"
    return "ndcg@10"


def _bootstrap_weights(n: int, seed: int, rounds: int = BOOTSTRAP) -> np.ndarray:
    """Multinomial resampling counts, one row per bootstrap round, shared by every arm."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=rounds).astype(float) if n else np.zeros((rounds, 0))


def _boot_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    ok = np.isfinite(values)
    w = weights * ok
    return (w @ np.where(ok, values, 0.0)) / np.maximum(w.sum(axis=1), 1e-12)


@dataclass
class Comparison:
    metric: str
    ranked: list[ArmEvaluation]
    differences: dict[str, tuple[float, float, float]]  # arm -> (best - arm, low, high) on the primary metric
    recommendation: str


def compare(arms: list[ArmEvaluation], seed: int = 0, curve_identified: bool = False) -> Comparison:
    """Rank the arms by the primary metric (with 95% bootstrap intervals), and say which
    differences from the best arm are significant."""
    metric = primary_metric(arms, curve_identified)
    differences: dict[str, tuple[float, float, float]] = {}
    if metric == "snips":
        ranked = sorted(arms, key=lambda a: -a.metrics.get("snips", float("-inf")))
        best = ranked[0]
        for a in ranked[1:]:  # independent intervals (the matched requests differ by arm): overlap = not significant
            lo_b, _ = best.intervals["snips"]
            _, hi_a = a.intervals["snips"]
            diff = best.metrics["snips"] - a.metrics["snips"]
            differences[a.name] = (diff, lo_b - hi_a, diff + (hi_a - lo_b))
    else:
        n = len(next(iter(arms)).per_request[metric])
        weights = _bootstrap_weights(n, seed)
        boots = {a.name: _boot_means(a.per_request[metric], weights) for a in arms}
        for a in arms:
            a.intervals[metric] = (float(np.percentile(boots[a.name], 2.5)), float(np.percentile(boots[a.name], 97.5)))
        ranked = sorted(arms, key=lambda a: -a.metrics[metric])
        best = ranked[0]
        for a in ranked[1:]:
            d = boots[best.name] - boots[a.name]
            differences[a.name] = (best.metrics[metric] - a.metrics[metric], float(np.percentile(d, 2.5)),
                                   float(np.percentile(d, 97.5)))
    return Comparison(metric, ranked, differences, recommend(metric, ranked, differences))


METRIC_NAMES = {
    "truth_ndcg@10": "NDCG@10 against the true attractiveness",
    "ips_dcg@10": "DCG@10 estimated from clicks corrected by the examination curve (IPS)",
    "snips": "SNIPS click rate at position 1 on the exploration bucket",
    "ndcg@10": "NDCG@10 on clicks (biased towards the logging ranker's order; no truth or exploration data)",
}


def recommend(metric: str, ranked: list[ArmEvaluation], differences: dict[str, tuple[float, float, float]]) -> str:
    best = ranked[0]
    lo, hi = best.intervals.get(metric, (float("nan"), float("nan")))
    lines = [(f"Recommended: **{best.name}** ({METRIC_NAMES[metric]}: {best.metrics[metric]:.4f}, "
             f"95% interval {lo:.4f}–{hi:.4f}).")]
    tied = [a.name for a in ranked[1:] if differences[a.name][1] <= 0]
    beaten = [a for a in ranked[1:] if differences[a.name][1] > 0]
    if tied:
        lines.append(f"Not significantly different from it: {', '.join(tied)} (the interval of the difference "
                     "includes zero); choose among these on cost or simplicity.")
    if beaten:
        worst = beaten[-1]
        d, dlo, dhi = differences[worst.name]
        lines.append(f"Significantly better than {', '.join(a.name for a in beaten)}; "
                     f"e.g. +{d:.4f} ({dlo:.4f}–{dhi:.4f}) over {worst.name}.")
    if metric == "ndcg@10":
        lines.append("Caution: click NDCG rewards copying the logging ranker's order; prefer logs with an "
                     "exploration bucket to decide.")
    return " ".join(lines)


def markdown_table(comparison: Comparison) -> str:
    metric = comparison.metric
    cols = ["truth_ndcg@10", "ips_dcg@10", "ndcg@10", "auc", "ece", "snips", "tail_share@10"]
    present = [c for c in cols if any(c in a.metrics for a in comparison.ranked)]
    head = "| rank | arm | " + " | ".join(f"{c} (95% CI)" if c in (metric, "snips") else c for c in present) + " | vs best |"
    lines = [head, "|---:|---|" + "---:|" * len(present) + "---:|"]
    for i, a in enumerate(comparison.ranked, 1):
        cells = []
        for c in present:
            v = a.metrics.get(c)
            if v is None or not np.isfinite(v):
                cells.append("")
            elif c in a.intervals:
                lo, hi = a.intervals[c]
                cells.append(f"{v:.4f} ({lo:.4f}–{hi:.4f})")
            else:
                cells.append(f"{v:.4f}")
        if a.name in comparison.differences:
            d, lo, hi = comparison.differences[a.name]
            vs = f"−{d:.4f} ({lo:.4f}–{hi:.4f}){'' if lo > 0 else ', n.s.'}"
        else:
            vs = "best"
        lines.append(f"| {i} | {a.name} | " + " | ".join(cells) + f" | {vs} |")
    return "\n".join(lines)


DISPLAY_METRICS = ("truth_ndcg@10", "ips_dcg@10", "ndcg@10", "auc", "ece", "snips", "tail_share@10")


def display_rows(rows: list[dict]) -> tuple[list[str], list[dict[str, object]]]:
    """Rows of the ``sampler_comparison`` table (one comparison) as a display table: one
    line per arm, best first, values with their intervals as text. Used by the HTML report
    and `recsys compare`."""
    if not rows:
        return [], []
    primary = rows[0]["primary_metric"]
    get = {(r["arm"], r["metric"]): r for r in rows}
    metrics = list(dict.fromkeys(m for m in (primary, *DISPLAY_METRICS) if any(k[1] == m for k in get)))
    table = []
    for rank, arm in sorted({(r["rank"], r["arm"]) for r in rows}):
        line: dict[str, object] = {"rank": rank, "arm": arm}
        for m in metrics:
            r = get.get((arm, m))
            if r is None or r["value"] is None:
                line[m] = ""
            elif r["low"] is not None and r["high"] is not None:
                line[m] = f"{r['value']:.4f} ({r['low']:.4f}–{r['high']:.4f})"
            else:
                line[m] = f"{r['value']:.4f}"
        table.append(line)
    return ["rank", "arm", *metrics], table
