"""Off-policy estimates of a ranking's quality from logged clicks, with paired bootstrap
intervals, and the judgement of a model against the naive baseline they support.

The estimate valid for any logging design, given a correct click model
P(click | position k, relevance r) = theta_k * r + offset_k (theta_1 = 1; offset = 0 for
the position-based model, the trust bias otherwise): each logged item's relevance is
estimated by (click - offset_k) / theta_k at its *logged* position k, unbiased for r
(Joachims et al. 2017, "Unbiased learning-to-rank with biased feedback"; the affine
correction for trust bias: Vardasbi et al. 2020, "When inverse propensity scoring does not
work"). A ranking's DCG@10 is linear in the gains, so re-ranking a request's logged items by
the model's scores and summing these estimates with the DCG discounts is an unbiased
estimate of the DCG@10 the model would get with the true relevance (``ips_dcg@10``). It is
not normalized: an estimated ideal DCG in the denominator would bias it. Tied scores share
their slots (``tie_averaged_slots``), so the logged order is never credited to a model.

The other estimate, SNIPS of the click rate at position 1 on randomized requests
(``evaluation.off_policy_top1``), needs exploration traffic but no click model.

Every estimate is a ratio of sums over requests (a mean: values over ones), so one set of
bootstrap resamples of requests gives an interval for every model and, paired, for the
difference of two (model - naive).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from recsys_assets.ranker.evaluation import _padded, per_request_ndcg, tie_averaged_slots, top1_terms

#: exploration requests below which SNIPS does not judge a model
MIN_EXPLORATION_REQUESTS = 200
BOOTSTRAP_ROUNDS = 1000
#: the judges of a model against the naive baseline, best first: (metric, words)
JUDGES = (("truth_ndcg@10", "truth NDCG@10"), ("ips_dcg@10", "IPS DCG@10"), ("exploration_snips", "exploration SNIPS"))
LABELS = dict(JUDGES)


def examination_at(curve, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """theta_k and offset_k at each row's logged position (offset 0 for a curve without one)."""
    theta = curve.at(positions)
    offset_at = getattr(curve, "offset_at", None)
    offset = offset_at(positions) if offset_at is not None else None
    return theta, np.zeros(len(positions)) if offset is None else np.asarray(offset, dtype=float)


def relevance_estimate(clicks: np.ndarray, theta: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """(click - offset_k) / theta_k: unbiased for the relevance of an item logged at k."""
    return (clicks - (0.0 if offset is None else offset)) / theta


def per_request_dcg(gains: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """DCG@k of every request re-ranked by ``scores`` (ties sharing their slots), and the mask
    of requests where a ranking matters (two rows or more)."""
    g = _padded(gains.astype(float), groups, 0.0)
    sc = _padded(scores.astype(float), groups, -1e30)
    width = g.shape[1]
    discount = np.zeros(width)
    top = min(k, width)
    discount[:top] = 1.0 / np.log2(np.arange(2, top + 2))
    values = (tie_averaged_slots(g, sc) * discount).sum(axis=1) if len(groups) else np.zeros(0)
    return values, np.asarray(groups) >= 2


def ips_dcg(scores: np.ndarray, clicks: np.ndarray, groups: np.ndarray, theta: np.ndarray,
            offset: np.ndarray | None = None, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Per-request IPS estimate of DCG@k of the ranking by ``scores`` (rows of a request in
    logged order; ``theta``/``offset`` at each row's logged position), and where it is defined."""
    return per_request_dcg(relevance_estimate(clicks, theta, offset), scores, groups, k)


# ------------------------------------------------------------------ intervals


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


def mean_terms(values: np.ndarray, defined: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A per-request mean as (numerator, denominator) terms: values where defined, over ones."""
    return np.where(defined, values, 0.0), defined.astype(float)


def snips_terms(scores: np.ndarray, groups: np.ndarray, clicks: np.ndarray, positions: np.ndarray,
                propensity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SNIPS of the click rate at position 1 as (w * click, w) per request: the sum of the one
    over the sum of the other is ``off_policy_top1``'s SNIPS."""
    w, c, _, _ = top1_terms(scores, groups, clicks, positions, propensity)
    return w * c, w


def paired_bootstrap(terms: Mapping[str, tuple[np.ndarray, np.ndarray]], contrasts: Iterable[tuple[str, str]] = (),
                     rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> dict[str, Estimate]:
    """Estimate sum(numerator) / sum(denominator) of every entry of ``terms`` (per-request
    arrays, all over the same requests) with a 95% percentile interval, and of every contrast
    (a, b) the difference a - b (named "a-b"), its interval from the same resamples of
    requests (paired). Resamples are drawn in chunks of at most ~2M indices."""
    if not terms:
        return {}
    n = len(next(iter(terms.values()))[0])
    contrasts = [(a, b) for a, b in contrasts if a in terms and b in terms]
    ratio = {name: _ratio(num.sum(), den.sum()) for name, (num, den) in terms.items()}
    out: dict[str, Estimate] = {}
    if n == 0:
        return {name: Estimate(v, np.nan, np.nan) for name, v in ratio.items()}
    rng = np.random.default_rng(seed)
    boots = {name: np.empty(rounds) for name in terms}
    chunk = max(1, 2_000_000 // n)
    for start in range(0, rounds, chunk):
        idx = rng.integers(0, n, size=(min(chunk, rounds - start), n))
        for name, (num, den) in terms.items():
            s_num, s_den = num[idx].sum(axis=1), den[idx].sum(axis=1)
            boots[name][start:start + len(idx)] = np.divide(s_num, s_den, out=np.full(len(idx), np.nan), where=s_den > 0)
    for name, b in boots.items():
        out[name] = Estimate(ratio[name], *_interval(b))
    for a, b in contrasts:
        out[f"{a}-{b}"] = Estimate(ratio[a] - ratio[b], *_interval(boots[a] - boots[b]))
    return out


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def _interval(boots: np.ndarray) -> tuple[float, float]:
    defined = boots[np.isfinite(boots)]
    if len(defined) == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high)


def paired_estimates(scores: Mapping[str, np.ndarray], clicks: np.ndarray, positions: np.ndarray, groups: np.ndarray,
                     exploration: np.ndarray, propensity: np.ndarray, truth: np.ndarray | None,
                     theta: np.ndarray, offset: np.ndarray | None, contrast: tuple[str, str] = ("model", "naive"),
                     seed: int = 0, rounds: int = BOOTSTRAP_ROUNDS) -> list[dict]:
    """Rows (variant, metric, slice 'all', value, low, high) of truth NDCG@10 (when ``truth``
    is given) and ips_dcg@10 for every variant with 95% intervals, and of the paired
    difference ``contrast`` ("model-naive") on those and on exploration SNIPS (interval only
    for the difference: each variant's own SNIPS interval is ``off_policy_top1``'s).
    ``exploration`` flags the rows of randomized requests."""
    rows: list[dict] = []

    def add(variant: str, metric: str, e: Estimate) -> None:
        rows.append({"variant": variant, "metric": metric, "slice": "all",
                     **{k: (float(v) if np.isfinite(v) else None) for k, v in
                        (("value", e.value), ("low", e.low), ("high", e.high))}})

    name = f"{contrast[0]}-{contrast[1]}"
    per_request: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {"ips_dcg@10": {}}
    if truth is not None:
        per_request["truth_ndcg@10"] = {}
    for variant, sc in scores.items():
        per_request["ips_dcg@10"][variant] = mean_terms(*ips_dcg(sc, clicks, groups, theta, offset, 10))
        if truth is not None:
            per_request["truth_ndcg@10"][variant] = mean_terms(*per_request_ndcg(truth, sc, groups, 10))
    for i, (metric, terms) in enumerate(sorted(per_request.items())):
        if any(den.any() for _, den in terms.values()):
            for key, e in paired_bootstrap(terms, [contrast], rounds, seed + i).items():
                add(key, metric, e)
    starts = np.concatenate([[0], np.cumsum(groups)[:-1]]).astype(np.int64) if len(groups) else np.zeros(0, np.int64)
    explore = exploration[starts] if len(groups) else np.zeros(0, bool)
    if explore.any() and all(v in scores for v in contrast):
        rows_mask = np.repeat(explore, groups)
        terms = {v: snips_terms(scores[v][rows_mask], groups[explore], clicks[rows_mask], positions[rows_mask],
                                propensity[rows_mask]) for v in contrast}
        if all(den.sum() > 0 for _, den in terms.values()):
            add(name, "exploration_snips", paired_bootstrap(terms, [contrast], rounds, seed + 2)[name])
    return rows


# ------------------------------------------------------------------ the judgement


@dataclass(frozen=True)
class Verdict:
    """The model against the naive baseline on the best valid estimate available."""

    judged_by: str | None           # a metric of JUDGES, None when not judged
    reason: str                     # in words, for the check, the registry and the summary
    model: float | None = None
    naive: float | None = None
    difference: Estimate | None = None

    @property
    def worse(self) -> bool:
        """Significantly worse: the whole 95% interval of model - naive below zero."""
        return self.difference is not None and bool(np.isfinite(self.difference.high)) and self.difference.high < 0

    @property
    def promoted(self) -> bool:
        return not self.worse

    def metadata(self) -> dict[str, float | str]:
        meta: dict[str, float | str] = {"judge": LABELS.get(self.judged_by or "", "not judged")}
        if self.judged_by is not None and self.difference is not None:
            meta |= {"model": round(float(self.model), 4), "naive": round(float(self.naive), 4),
                     "model_minus_naive": round(self.difference.value, 4),
                     "model_minus_naive/low": round(self.difference.low, 4),
                     "model_minus_naive/high": round(self.difference.high, 4)}
        return meta


def judge(figures: Mapping[tuple[str, str], Estimate], curve_identified: bool, exploration_requests: float,
          contrast: tuple[str, str] = ("model", "naive")) -> Verdict:
    """The best valid estimate and what it says of ``contrast``: truth NDCG@10 when the logs
    come with a truth; else IPS DCG@10 when the examination curve is identified by the data;
    else exploration SNIPS with enough exploration requests; else not judged (and why).
    ``figures`` maps (variant, metric) to estimates (NaN where unknown), the difference under
    variant "a-b"."""
    a, b = contrast
    diff_name = f"{a}-{b}"
    missing = []
    for metric, label in JUDGES:
        usable = {(a, metric), (b, metric), (diff_name, metric)} <= set(figures)
        if metric == "ips_dcg@10" and usable and not curve_identified:
            missing.append("the examination curve is not identified by these logs (no exploration, too few "
                           "harvested interventions), so IPS DCG@10 could be wrong")
            continue
        if metric == "exploration_snips" and usable and exploration_requests < MIN_EXPLORATION_REQUESTS:
            missing.append(f"{int(exploration_requests)} exploration requests (< {MIN_EXPLORATION_REQUESTS}) are too few "
                           "for SNIPS")
            continue
        if not usable:
            if metric == "truth_ndcg@10":
                missing.append("no truth (logs not simulated)")
            continue
        d = figures[(diff_name, metric)]
        if not (np.isfinite(d.low) and np.isfinite(d.high)):
            missing.append(f"no interval for {label}")
            continue
        ours, theirs = figures[(a, metric)].value, figures[(b, metric)].value
        figures_text = (f"{label}: {a} {ours:.4f}, {b} {theirs:.4f}, difference {d.value:+.4f} "
                        f"(95% interval {d.low:+.4f} to {d.high:+.4f})")
        if d.high < 0:
            reason = f"significantly worse than the {b} baseline on {figures_text}"
        elif d.low > 0:
            reason = f"significantly better than the {b} baseline on {figures_text}"
        else:
            reason = f"not significantly different from the {b} baseline on {figures_text}"
        return Verdict(metric, reason, ours, theirs, d)
    if not missing:
        missing.append("no estimate of the model next to the naive baseline")
    return Verdict(None, "not judged: " + "; ".join(missing) + "; click NDCG favours the naive model by construction")
