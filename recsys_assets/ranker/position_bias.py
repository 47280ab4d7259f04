"""Examination probability by position (the position bias curve), estimated from the logs.

Three estimators, all normalized so that position 1 has examination 1:

- ``exploration_ratio``: on randomized (exploration) requests, an item's position is
  independent of its relevance, so the click rate at position k over the click rate at
  position 1 estimates theta_k / theta_1 without any model. Unbiased, but noisy where
  exploration traffic is small; reported with a 95% interval (delta method).
- ``exploration_fit``: the same exploration clicks fitted by maximum likelihood to
  theta_k = v_k * k^-eta, where v_k is the share of impressions at position k that were
  scrolled into view (visible_ms > 0, observed on all traffic; 1 where unknown) and eta is
  one parameter. Pooling every position makes it far more precise than the ratio; a
  chi-square goodness-of-fit against the ratio estimate says whether the shape holds.
- ``pbm_em``: no randomization needed. The position-based click model
  P(click) = theta_k * gamma_(context, item) fitted by expectation-maximization on every
  valid impression (Chuklin et al., "Click Models for Web Search"), with a Beta prior on
  gamma. It is biased when the logging ranker placed items higher for users who like them
  more, which randomization avoids.

The curve the ranker uses is the exploration fit when exploration data exist and its
shape fits, else the exploration ratio (smoothed to be non-increasing), else pbm_em.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from sklearn.isotonic import IsotonicRegression

MIN_EXPLORATION_CLICKS_AT_TOP = 50


@dataclass
class Curve:
    method: str
    theta: np.ndarray  # theta[k - 1] for position k
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    def at(self, positions: np.ndarray, floor: float = 1e-3) -> np.ndarray:
        idx = np.clip(positions.astype(np.int64), 1, len(self.theta)) - 1
        return np.maximum(self.theta[idx], floor)


def exploration_ratio(positions: np.ndarray, clicks: np.ndarray, max_position: int) -> Curve | None:
    """CTR at k over CTR at 1 on exploration impressions, with a delta-method 95% interval."""
    n = np.bincount(positions - 1, minlength=max_position)[:max_position].astype(float)
    c = np.bincount(positions - 1, weights=clicks, minlength=max_position)[:max_position]
    if n[0] == 0 or c[0] < MIN_EXPLORATION_CLICKS_AT_TOP:
        return None
    ctr = np.divide(c, n, out=np.zeros_like(c), where=n > 0)
    theta = ctr / ctr[0]
    rel_var = np.divide(1 - ctr, np.maximum(c, 1)) + (1 - ctr[0]) / c[0]
    half = 1.96 * theta * np.sqrt(rel_var)
    return Curve("exploration_ratio", theta, np.maximum(theta - half, 0), theta + half)


def visibility_by_position(positions: np.ndarray, visible_ms: np.ndarray, max_position: int) -> np.ndarray:
    """Share of impressions at each position that were scrolled into view (1 where unknown)."""
    known = ~np.isnan(visible_ms)
    n = np.bincount(positions[known] - 1, minlength=max_position)[:max_position].astype(float)
    seen = np.bincount(positions[known] - 1, weights=(visible_ms[known] > 0).astype(float), minlength=max_position)[:max_position]
    return np.where(n > 0, seen / np.maximum(n, 1), 1.0)


def exploration_fit(positions: np.ndarray, clicks: np.ndarray, visibility: np.ndarray,
                    ratio: Curve) -> tuple[Curve, float, float]:
    """MLE of theta_k = v_k * k^-eta on exploration clicks; returns (curve, eta, GOF p-value)."""
    k = np.arange(1, len(visibility) + 1, dtype=float)
    n = np.bincount(positions - 1, minlength=len(k))[: len(k)].astype(float)
    c = np.bincount(positions - 1, weights=clicks, minlength=len(k))[: len(k)]
    shape = lambda eta: visibility / visibility[0] * k ** -eta

    def nll(eta: float) -> float:
        s = shape(eta)
        mu = c.sum() / np.sum(n * s)  # closed-form scale for this eta
        p = np.clip(mu * s, 1e-12, 1 - 1e-12)
        return -float(np.sum(c * np.log(p) + (n - c) * np.log(1 - p)))

    eta = float(optimize.minimize_scalar(nll, bounds=(0.0, 5.0), method="bounded").x)
    theta = shape(eta)
    mu = c.sum() / np.sum(n * theta)
    expected = mu * theta * n
    mask = expected >= 5
    chi2 = float(np.sum((c[mask] - expected[mask]) ** 2 / expected[mask]))
    p_value = float(stats.chi2.sf(chi2, max(int(mask.sum()) - 2, 1)))
    return Curve("exploration_fit", theta), eta, p_value


def pbm_em(positions: np.ndarray, clicks: np.ndarray, pairs: np.ndarray, max_position: int,
           iterations: int = 50, prior: tuple[float, float] = (1.0, 4.0)) -> Curve:
    """Position-based model by EM: theta_k per position, gamma per (context, item) pair."""
    pos = positions - 1
    n_pairs = int(pairs.max()) + 1 if len(pairs) else 0
    theta = 1.0 / np.arange(1, max_position + 1)
    gamma = np.full(n_pairs, prior[0] / (prior[0] + prior[1]))
    counts_pos = np.maximum(np.bincount(pos, minlength=max_position)[:max_position], 1)
    counts_pair = np.bincount(pairs, minlength=n_pairs)
    for _ in range(iterations):
        th, g = theta[pos], gamma[pairs]
        denom = 1.0 - th * g
        examined = np.where(clicks > 0, 1.0, th * (1.0 - g) / denom)
        relevant = np.where(clicks > 0, 1.0, (1.0 - th) * g / denom)
        theta = np.bincount(pos, weights=examined, minlength=max_position)[:max_position] / counts_pos
        theta = np.clip(theta / theta[0], 1e-6, 1.0)
        gamma = (np.bincount(pairs, weights=relevant, minlength=n_pairs) + prior[0]) / (counts_pair + prior[0] + prior[1])
    return Curve("pbm_em", theta)


def monotone(curve: Curve) -> Curve:
    """The closest non-increasing curve (isotonic), pinned to 1 at position 1."""
    k = np.arange(1, len(curve.theta) + 1)
    fitted = IsotonicRegression(increasing=False, y_min=0.0, y_max=1.0).fit_transform(k, curve.theta)
    return Curve(curve.method + "_monotone", fitted / fitted[0], curve.low, curve.high)


def estimate_curves(positions: np.ndarray, clicks: np.ndarray, visible_ms: np.ndarray, exploration: np.ndarray,
                    pairs, max_position: int | None = None) -> tuple[dict[str, Curve], str, dict[str, float]]:
    """Every estimator that applies, the name of the one to use, and figures for metadata."""
    max_position = int(max_position or positions.max())
    curves: dict[str, Curve] = {}
    info: dict[str, float] = {"impressions": float(len(positions)), "exploration_impressions": float(exploration.sum())}
    codes = np.unique(np.asarray(pairs.to_numpy(zero_copy_only=False) if hasattr(pairs, "to_numpy") else pairs),
                      return_inverse=True)[1]
    curves["pbm_em"] = pbm_em(positions, clicks, codes, max_position)
    chosen = "pbm_em"
    ratio = exploration_ratio(positions[exploration], clicks[exploration], max_position)
    if ratio is not None:
        curves["exploration_ratio"] = ratio
        visibility = visibility_by_position(positions, visible_ms, max_position)
        fit, eta, p_value = exploration_fit(positions[exploration], clicks[exploration], visibility, ratio)
        curves["exploration_fit"] = fit
        info |= {"exploration_fit/eta": round(eta, 4), "exploration_fit/gof_p_value": round(p_value, 4)}
        chosen = "exploration_fit" if p_value >= 0.01 else "exploration_ratio"
        if chosen == "exploration_ratio":
            curves["exploration_ratio_monotone"] = monotone(ratio)
            chosen = "exploration_ratio_monotone"
    return curves, chosen, info
