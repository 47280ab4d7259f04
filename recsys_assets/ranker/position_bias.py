"""Examination probability by position (the position bias curve), estimated from the logs
by the design they actually have, and whether the logs identify it at all.

A click needs examination and relevance: P(click | position k, item) = theta_k * gamma,
theta normalized to 1 at position 1. From clicks alone the two are confounded: the logging
ranker puts relevant items on top. What separates them is variation of an item's position
that does not follow its relevance (an intervention), and the estimators differ in where
they find it:

- ``exploration_ratio`` / ``exploration_fit``: randomized exploration requests. The design
  (whole-slate shuffle, top-k shuffle, one random adjacent swap) is read from the logged
  propensities, or set (``RECSYS_EXPLORATION_DESIGN``). Under a design, the exploration
  click rate at k is theta_k * sum_j M_kj R_j, where M_kj is the probability that the item
  the logging ranker put at j is shown at k and R_j = y_j / theta_j the mean relevance at j
  (y_j the click rate of ordinary traffic at j). The ratio estimate leaves every identified
  theta_k free (maximum likelihood, 95% intervals by parametric bootstrap); the fit
  constrains theta_k = v_k k^-eta (v_k the share of impressions at k scrolled into view) and
  reaches positions the design does not randomize (below the top k); a chi-square test says
  whether that shape holds. For the whole-slate shuffle both reduce to the click rate at k
  over the click rate at 1.
- ``harvest_em``: intervention harvesting (Agarwal et al., WSDM 2019): the same (context,
  item) pair shown at different positions by different logging policies (A/B buckets,
  ranker versions, exploration) or by a stochastic logger. The position-based model fitted
  by EM on those pairs only.
- ``pbm_em``: the same model on every pair (Chuklin et al., "Click Models for Web Search").
  It needs no intervention, but where the only position variation is the logging ranker's
  own (personalization), it learns the ranker's order as examination.
- ``trust_em``: trust bias (Agarwal et al., WWW 2019; Vardasbi et al., CIKM 2020): an
  examined item is clicked with probability eps+_k if relevant and eps-_k if not, i.e.
  P(click) = alpha_k gamma + beta_k. EM over a latent relevance on the harvested pairs;
  ``theta`` holds alpha_k / alpha_1 and ``offset`` beta_k (absolute click probability).

Choice, by evidence (``estimate``): the exploration fit when exploration identifies the
curve and its shape holds, else the exploration ratio (non-increasing, filled below the
randomized block by the fit); the harvested EM instead when exploration is too thin to pin
the curve (wide intervals) and there are enough interventions; else the harvested EM when
there are enough interventions;
else no correction at all (theta = 1, ``identified`` false: a WARN check tells the user).
The trust-bias curve replaces the choice when a likelihood-ratio test on the harvested pairs
prefers it and its offset is material.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, sparse, stats
from scipy.sparse import csgraph
from sklearn.isotonic import IsotonicRegression

#: exploration clicks at position 1 below which exploration does not identify the curve
MIN_EXPLORATION_CLICKS_AT_TOP = 50
#: harvested (context, item) pairs and their clicks below which harvesting does not identify it
MIN_HARVESTED_PAIRS = 200
MIN_HARVESTED_CLICKS = 500
#: trust bias is used only when the likelihood-ratio test is this sure, and some offset is
#: at least this share of the position's slope (a smaller one changes no ranking)
TRUST_P_VALUE = 1e-3
TRUST_MIN_RELATIVE_OFFSET = 0.05
#: the exploration fit's shape is rejected below this goodness-of-fit p-value
GOF_P_VALUE = 0.01
#: exploration whose free estimate's 95% intervals are wider than this on average (positions
#: 2-10; a curve spans 0..1) is too thin to pin the curve: harvested interventions, where
#: they identify it, are used instead (e.g. one adjacent swap in a few thousand requests)
MAX_EXPLORATION_INTERVAL_WIDTH = 0.25
#: the positions (first, last) that width is averaged over
WIDTH_POSITIONS = (2, 10)
BOOTSTRAP_ROUNDS = 40
#: standard deviation of the prior on the log ratio of the exploration bucket's click level
#: to the one the logged traffic predicts (a random sample of the same traffic: 0)
SCALE_PRIOR_SD = 0.001
DESIGNS = ("shuffle", "topk_shuffle", "adjacent_swap")


@dataclass
class Curve:
    method: str
    theta: np.ndarray  # theta[k - 1] for position k
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    offset: np.ndarray | None = None  # trust bias: P(click | k, not relevant); None = 0

    def at(self, positions: np.ndarray, floor: float = 1e-3) -> np.ndarray:
        return np.maximum(self.theta[self._index(positions)], floor)

    def offset_at(self, positions: np.ndarray) -> np.ndarray:
        """The offset at each position (zeros for a position-based curve)."""
        if self.offset is None:
            return np.zeros(len(positions))
        return self.offset[self._index(positions)]

    def _index(self, positions: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(positions).astype(np.int64), 1, len(self.theta)) - 1


@dataclass
class LoggedClicks:
    """Valid impressions, ordered by request then position (requests contiguous)."""

    position: np.ndarray  # int, 1-based
    click: np.ndarray  # 0/1
    exploration: np.ndarray  # bool, per row (the request's flag)
    pair: np.ndarray  # int code of (context, item)
    policy: np.ndarray  # int code of the request's logging policy
    group: np.ndarray  # rows per request
    propensity: np.ndarray | None = None  # NaN = unknown
    visible_ms: np.ndarray | None = None  # NaN = unknown

    def __post_init__(self) -> None:
        n = len(self.position)
        self.position = np.asarray(self.position, dtype=np.int64)
        self.click = np.asarray(self.click, dtype=float)
        self.exploration = np.asarray(self.exploration, dtype=bool)
        if self.propensity is None:
            self.propensity = np.full(n, np.nan)
        if self.visible_ms is None:
            self.visible_ms = np.full(n, np.nan)


@dataclass
class Estimate:
    curves: dict[str, Curve]
    chosen: str
    identified: bool
    reason: str  # why this curve, in words
    info: dict[str, float | str] = field(default_factory=dict)

    @property
    def used(self) -> Curve:
        return self.curves[self.chosen]


# ------------------------------------------------------------------ exploration designs


def _padded(values: np.ndarray, group: np.ndarray, fill: float) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(group)[:-1]]).astype(np.int64)
    width = int(group.max()) if len(group) else 0
    offsets = np.arange(width)
    valid = offsets[None, :] < group[:, None]
    out = np.full((len(group), width), fill, dtype=float)
    out[valid] = values[(starts[:, None] + offsets[None, :])[valid]]
    return out


def detect_design(propensity: np.ndarray, group: np.ndarray, tolerance: float = 0.02) -> tuple[str | None, int, float]:
    """The exploration design that the logged propensities of exploration requests show:
    (design, k of a top-k shuffle, share of requests with propensities that match it).
    ``None`` when no request has propensities."""
    p = _padded(np.asarray(propensity, dtype=float), group, np.nan)
    n = group.astype(float)[:, None]
    inside = np.arange(p.shape[1])[None, :] < n
    known = np.all(np.isfinite(p) | ~inside, axis=1) & (group >= 2)
    if not known.any():
        return None, 0, 0.0
    p, n, inside, group = p[known], n[known], inside[known], group[known]
    close = lambda a, b: np.abs(a - b) <= tolerance * np.maximum(np.abs(b), 1e-12)
    shuffle = np.all(close(p, 1.0 / n) | ~inside, axis=1)
    below_one = (p < 1 - tolerance) & inside
    m = below_one.sum(axis=1)
    prefix = np.arange(p.shape[1])[None, :] < m[:, None]
    topk = ~shuffle & (m >= 2) & (m < group) & np.all(~inside | np.where(prefix, close(p * m[:, None], 1.0),
                                                                         close(p, 1.0)), axis=1)
    swapped = close(p * (n - 1), 1.0) & inside
    first = np.argmax(swapped, axis=1)
    swap = ~shuffle & ~topk & (swapped.sum(axis=1) == 2) & swapped[np.arange(len(first)), np.minimum(first + 1, p.shape[1] - 1)]
    votes = {"shuffle": int(shuffle.sum()), "topk_shuffle": int(topk.sum()), "adjacent_swap": int(swap.sum())}
    design = max(votes, key=votes.get)
    if votes[design] == 0:
        return "unknown", 0, 0.0
    top_k = int(np.bincount(m[topk]).argmax()) if design == "topk_shuffle" else 0
    return design, top_k, votes[design] / len(group)


def design_matrix(design: str, n: int, top_k: int = 0) -> np.ndarray:
    """M[k, j]: probability that the item the logging ranker put at position j + 1 is shown
    at position k + 1 in an exploration request of ``n`` items."""
    if design == "shuffle":
        return np.full((n, n), 1.0 / n)
    if design == "topk_shuffle":
        m = np.eye(n)
        t = min(top_k, n)
        m[:t, :t] = 1.0 / t
        return m
    if design == "adjacent_swap":
        if n < 2:
            return np.eye(n)
        m = np.zeros((n, n))
        idx = np.arange(n - 1)
        m[idx, idx + 1] = m[idx + 1, idx] = 1.0 / (n - 1)
        m[np.arange(n), np.arange(n)] = 1.0 - m.sum(axis=1)
        return m
    raise ValueError(f"unknown exploration design {design!r}; expected one of {', '.join(DESIGNS)}")


def mixing_matrix(design: str, lengths: np.ndarray, size: int, top_k: int = 0) -> np.ndarray:
    """The design's M averaged over the exploration requests' slate lengths, each row over
    the requests that have that position."""
    total, count = np.zeros((size, size)), np.zeros(size)
    values, counts = np.unique(np.minimum(lengths, size), return_counts=True)
    for n, c in zip(values.tolist(), counts.tolist(), strict=True):  # one step per distinct slate length
        total[:n, :n] += c * design_matrix(design, n, top_k)
        count[:n] += c
    return np.divide(total, count[:, None], out=np.eye(size), where=count[:, None] > 0)


def swap_origins(position: np.ndarray, propensity: np.ndarray, group: np.ndarray,
                 tolerance: float = 0.02) -> np.ndarray:
    """Under the adjacent-swap design, the position each exploration impression had in the
    logging ranker's slate: the two items with propensity 1 / (n - 1) traded places, the
    others stayed. Rows must be the exploration requests' rows only."""
    n = np.repeat(group, group).astype(float)
    swapped = np.abs(propensity * (n - 1) - 1.0) <= tolerance
    owner = np.repeat(np.arange(len(group)), group)
    swapped &= np.bincount(owner, weights=swapped.astype(float), minlength=len(group))[owner] == 2
    first = np.full(len(group), -1)
    rows = np.flatnonzero(swapped)
    np.minimum.at(first, owner[rows], 0)  # mark requests with a swap
    lowest = np.full(len(group), np.iinfo(np.int64).max)
    np.minimum.at(lowest, owner[rows], position[rows])
    origin = position.copy()
    top = swapped & (position == lowest[owner])
    origin[top] += 1
    origin[swapped & ~top] -= 1
    return origin


@dataclass
class DesignCells:
    """Exploration impressions grouped by the position shown and where their items came
    from: ``rows[i]`` is the distribution of the logged position of the items of cell i."""

    position: np.ndarray  # 0-based position shown, per cell
    rows: np.ndarray  # cells x size
    n: np.ndarray
    c: np.ndarray
    y: np.ndarray  # click rate of the logged order at each position (ordinary traffic)

    def identified(self) -> np.ndarray:
        """Positions tied to position 1 through cells whose items came from elsewhere."""
        size = len(self.y)
        linked = np.zeros((size, size), dtype=bool)
        has = self.n > 0
        k, o = np.nonzero((self.rows > 1e-12) & has[:, None])
        linked[self.position[k], o] = True
        np.fill_diagonal(linked, False)
        shown = np.bincount(self.position[has], minlength=size)[:size] > 0
        _, label = csgraph.connected_components(sparse.csr_matrix(linked | linked.T), directed=False)
        return shown & (label == label[0])


def design_cells(data: LoggedClicks, size: int, design: str, top_k: int) -> DesignCells:
    explore = data.exploration
    n_all, c_all = _counts(data.position[~explore], data.click[~explore], size)
    n_e, c_e = _counts(data.position[explore], data.click[explore], size)
    y = np.where(n_all > 0, c_all / np.maximum(n_all, 1), np.where(n_e > 0, c_e / np.maximum(n_e, 1), 0.0))
    y = np.maximum(y, 1e-6)
    starts = np.r_[0, np.cumsum(data.group)[:-1]].astype(np.int64)
    groups = data.group[explore[starts]] if len(starts) else data.group
    position, click = data.position[explore], data.click[explore]
    if design == "adjacent_swap" and np.isfinite(data.propensity[explore]).any():
        origin = np.clip(swap_origins(position, data.propensity[explore], groups), 1, size)
        key = (position - 1) * size + (origin - 1)
        n = np.bincount(key, minlength=size * size).astype(float)
        c = np.bincount(key, weights=click, minlength=size * size)
        keep = np.flatnonzero(n > 0)
        rows = np.zeros((len(keep), size))
        rows[np.arange(len(keep)), keep % size] = 1.0
        return DesignCells(keep // size, rows, n[keep], c[keep], y)
    # the origin is not known per impression: the design's average mixing at each position
    mixing = mixing_matrix(design, groups, size, top_k)
    return DesignCells(np.arange(size), mixing, n_e, c_e, y)


def _counts(position: np.ndarray, click: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    n = np.bincount(position - 1, minlength=size)[:size].astype(float)
    c = np.bincount(position - 1, weights=click, minlength=size)[:size]
    return n, c


class _DesignLikelihood:
    """Binomial likelihood of the exploration cells given theta: the expected click rate of
    cell i is s * theta_k(i) * rows_i . (y / theta), counted on cells at identified positions;
    a tight prior keeps s (the exploration bucket's click level relative to the logged
    traffic's) near 1."""

    def __init__(self, cells: DesignCells, free: np.ndarray):
        self.cells, self.use = cells, free[cells.position] & (cells.n > 0)

    def rates(self, theta: np.ndarray, s: float = 1.0) -> np.ndarray:
        cells = self.cells
        return np.clip(s * theta[cells.position] * (cells.rows @ (cells.y / theta)), 1e-12, 1 - 1e-9)

    def nll(self, theta: np.ndarray) -> float:
        return self.nll_and_gradient(np.r_[0.0, np.log(theta)], np.arange(len(theta)), self.cells.c, theta_free=False)[0]

    def nll_and_gradient(self, x: np.ndarray, idx: np.ndarray, c: np.ndarray,
                         theta_free: bool = True) -> tuple[float, np.ndarray]:
        """NLL and its gradient in x = (log s, log theta[idx]) (theta = 1 elsewhere):
        d log p_i / d log theta_j = [k(i) = j] - rows_ij w_j / (rows_i . w) with w = y / theta."""
        cells, use = self.cells, self.use
        theta = np.ones(len(cells.y))
        theta[idx] = np.exp(x[1:])
        w = cells.y / theta
        mw = np.maximum(cells.rows @ w, 1e-300)
        p = np.clip(np.exp(x[0]) * theta[cells.position] * mw, 1e-12, 1 - 1e-9)
        nll = -float(np.sum((c * np.log(p) + (cells.n - c) * np.log1p(-p))[use]))
        g = np.where(use, -c + (cells.n - c) * p / (1 - p), 0.0)  # d NLL / d log p_i
        d_theta = np.bincount(cells.position, weights=g, minlength=len(theta)) - w * (cells.rows.T @ (g / mw))
        nll += 0.5 * (x[0] / SCALE_PRIOR_SD) ** 2
        return nll, np.concatenate([[g.sum() + x[0] / SCALE_PRIOR_SD ** 2], d_theta[idx]])

    def fit_scale(self, theta: np.ndarray) -> float:
        result = optimize.minimize_scalar(lambda ls: self.nll_and_gradient(np.r_[ls, np.log(theta)],
                                                                           np.arange(len(theta)), self.cells.c)[0],
                                          bounds=(-1.0, 1.0), method="bounded")
        return float(np.exp(result.x))


def exploration_ratio(data: LoggedClicks, size: int, design: str = "shuffle", top_k: int = 0,
                      seed: int = 0) -> Curve | None:
    """Every identified theta_k free, by maximum likelihood under the design, with a 95%
    parametric-bootstrap interval; positions the design does not identify are NaN."""
    cells = design_cells(data, size, design, top_k)
    free = cells.identified()
    top = cells.position == 0
    if cells.c[top].sum() < MIN_EXPLORATION_CLICKS_AT_TOP or free.sum() < 2:
        return None
    lik = _DesignLikelihood(cells, free)
    idx = np.flatnonzero(free)[1:]

    def solve(counts: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, float]:
        x0 = np.concatenate([[0.0], np.log(start[idx])])
        # unconstrained in logs (theta > 0; the prior holds s): BFGS, far cheaper than a bounded method here
        result = optimize.minimize(lik.nll_and_gradient, x0, args=(idx, counts), jac=True, method="BFGS")
        theta = np.ones(size)
        theta[idx] = np.exp(np.clip(result.x[1:], np.log(1e-4), np.log(5.0)))
        return theta, float(np.exp(result.x[0]))

    n_pos = np.bincount(cells.position, weights=cells.n, minlength=size)
    c_pos = np.bincount(cells.position, weights=cells.c, minlength=size)
    start = np.where(n_pos > 0, (c_pos / np.maximum(n_pos, 1)) / max(c_pos[0] / n_pos[0], 1e-12), 1.0)
    theta, s = solve(cells.c, np.clip(np.where(free, start, 1.0), 1e-3, 5.0))
    rng = np.random.default_rng(seed)
    rate = lik.rates(theta, s)
    boots = np.array([solve(rng.binomial(cells.n.astype(np.int64), rate).astype(float), theta)[0]
                      for _ in range(BOOTSTRAP_ROUNDS)])  # rounds, not rows
    low, high = np.percentile(boots, 2.5, axis=0), np.percentile(boots, 97.5, axis=0)
    nan = np.where(free, 0.0, np.nan)
    return Curve("exploration_ratio", theta + nan, low + nan, high + nan)


def interval_width(curve: Curve) -> float:
    """Mean width of a curve's 95% intervals over ``WIDTH_POSITIONS`` where it has them;
    infinite when it has none."""
    if curve.low is None or curve.high is None:
        return float("inf")
    first, last = WIDTH_POSITIONS
    width = (curve.high - curve.low)[first - 1:last]
    width = width[np.isfinite(width)]
    return float(width.mean()) if len(width) else float("inf")


def thin_exploration(width: float) -> str:
    """Why an exploration estimate of this interval width is too thin, in words."""
    first, last = WIDTH_POSITIONS
    return (f"its 95% intervals average {width:.2f} wide over positions {first}-{last} "
            f"(> {MAX_EXPLORATION_INTERVAL_WIDTH})")


def visibility_by_position(positions: np.ndarray, visible_ms: np.ndarray, max_position: int) -> np.ndarray:
    """Share of impressions at each position that were scrolled into view (1 where unknown)."""
    known = ~np.isnan(visible_ms)
    n = np.bincount(positions[known] - 1, minlength=max_position)[:max_position].astype(float)
    seen = np.bincount(positions[known] - 1, weights=(visible_ms[known] > 0).astype(float), minlength=max_position)[:max_position]
    return np.where(n > 0, seen / np.maximum(n, 1), 1.0)


def exploration_fit(data: LoggedClicks, visibility: np.ndarray, design: str = "shuffle",
                    top_k: int = 0) -> tuple[Curve, float, float]:
    """theta_k = v_k / v_1 * k^-eta by maximum likelihood under the design; (curve, eta,
    goodness-of-fit p-value of the shape on the identified positions' cells)."""
    size = len(visibility)
    cells = design_cells(data, size, design, top_k)
    free = cells.identified()
    k = np.arange(1, size + 1, dtype=float)
    shape = lambda eta: visibility / visibility[0] * k ** -eta
    lik = _DesignLikelihood(cells, free)
    eta = float(optimize.minimize_scalar(lambda e: lik.nll(shape(e)), bounds=(0.0, 5.0), method="bounded").x)
    theta = shape(eta)
    expected = lik.rates(theta, lik.fit_scale(theta)) * cells.n
    mask = lik.use & (expected >= 5)
    chi2 = float(np.sum((cells.c[mask] - expected[mask]) ** 2 / expected[mask]))
    p_value = float(stats.chi2.sf(chi2, max(int(mask.sum()) - 2, 1)))
    return Curve("exploration_fit", theta), eta, p_value


# ------------------------------------------------------------------ click models by EM on (pair, position) cells


@dataclass
class Cells:
    """Impressions and clicks per (pair, position): the sufficient statistics of the EMs."""

    pair: np.ndarray  # dense codes 0..pairs-1
    position: np.ndarray  # 0-based
    n: np.ndarray
    c: np.ndarray
    size: int

    @classmethod
    def of(cls, pair: np.ndarray, position: np.ndarray, click: np.ndarray, size: int) -> Cells:
        key = np.asarray(pair, dtype=np.int64) * size + (position - 1)
        unique, inverse = np.unique(key, return_inverse=True)
        dense = np.unique(unique // size, return_inverse=True)[1]
        return cls(dense, (unique % size).astype(np.int64), np.bincount(inverse).astype(float),
                   np.bincount(inverse, weights=click), size)

    @property
    def pairs(self) -> int:
        return int(self.pair.max()) + 1 if len(self.pair) else 0

    def by_position(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.position, weights=values, minlength=self.size)[: self.size]

    def by_pair(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.pair, weights=values, minlength=self.pairs)


@dataclass
class EMFit:
    curve: Curve
    loglik: float
    scale: np.ndarray  # theta (or alpha) in click-probability units, before normalization
    gamma: np.ndarray  # per pair


def pbm_em(cells: Cells, iterations: int = 60, prior: tuple[float, float] = (1.0, 4.0),
           method: str = "pbm_em", start: EMFit | None = None, weight: np.ndarray | None = None) -> EMFit:
    """Position-based model P(click) = theta_k gamma_pair by EM (the curve normalized at
    position 1); ``start`` continues from a fit, ``weight`` (per cell) resamples the cells."""
    n, c = (cells.n, cells.c) if weight is None else (cells.n * weight, cells.c * weight)
    n_pos = np.maximum(cells.by_position(n), 1e-12)
    theta = 0.5 / np.arange(1, cells.size + 1) ** 0.5 if start is None else start.scale
    gamma = np.full(cells.pairs, prior[0] / sum(prior)) if start is None else start.gamma
    n_pair = cells.by_pair(n)
    unclicked = n - c
    for _ in range(iterations):
        th, g = theta[cells.position], gamma[cells.pair]
        denom = np.maximum(1.0 - th * g, 1e-12)
        examined = c + unclicked * th * (1.0 - g) / denom
        relevant = c + unclicked * (1.0 - th) * g / denom
        theta = np.clip(cells.by_position(examined) / n_pos, 1e-6, 1.0)
        gamma = (cells.by_pair(relevant) + prior[0]) / (n_pair + sum(prior))
    q = np.clip(theta[cells.position] * gamma[cells.pair], 1e-12, 1 - 1e-12)
    loglik = float(np.sum(c * np.log(q) + unclicked * np.log1p(-q)))
    return EMFit(Curve(method, theta / theta[0]), loglik, theta, gamma)


def with_interval(cells: Cells, fit: EMFit, rounds: int = 20, iterations: int = 15, seed: int = 0) -> Curve:
    """The fit's curve with a 95% interval from a bootstrap over (context, item) pairs (each
    pair's cells weighted by one Poisson(1) draw), every round continuing from the fit."""
    rng = np.random.default_rng(seed)
    boots = np.array([pbm_em(cells, iterations, start=fit,
                             weight=rng.poisson(1.0, cells.pairs)[cells.pair].astype(float)).curve.theta
                      for _ in range(rounds)])  # rounds, not rows
    curve = fit.curve
    return Curve(curve.method, curve.theta, np.percentile(boots, 2.5, axis=0), np.percentile(boots, 97.5, axis=0))


def trust_em(cells: Cells, start: EMFit, iterations: int = 300,
             prior: tuple[float, float] = (1.0, 4.0)) -> tuple[Curve, float, float]:
    """Trust bias by EM over a latent relevance R ~ Bernoulli(gamma_pair): an impression at k
    is clicked with probability alpha_k if relevant, beta_k if not, so P(click) = beta_k +
    (alpha_k - beta_k) gamma. Returns the curve (theta = the slope alpha_k - beta_k over
    its value at position 1, offset = beta_k), the log-likelihood, and the largest
    offset relative to its position's slope."""
    # from the position-based fit (the model with beta = 0), beta a little above it
    alpha = np.clip(start.scale, 1e-4, 0.99)
    beta = 0.02 * alpha
    gamma = start.gamma.copy()
    n_pair = cells.by_pair(cells.n)
    unclicked = cells.n - cells.c
    for _ in range(iterations):
        a, b, g = alpha[cells.position], beta[cells.position], gamma[cells.pair]
        post_click = a * g / np.maximum(a * g + b * (1 - g), 1e-12)
        post_none = (1 - a) * g / np.maximum((1 - a) * g + (1 - b) * (1 - g), 1e-12)
        relevant = cells.c * post_click + unclicked * post_none
        alpha = np.clip(cells.by_position(cells.c * post_click) / np.maximum(cells.by_position(relevant), 1e-12), 1e-6, 0.999)
        beta = np.clip(cells.by_position(cells.c * (1 - post_click)) / np.maximum(cells.by_position(cells.n - relevant), 1e-12),
                       0.0, 0.999)
        gamma = (cells.by_pair(relevant) + prior[0]) / (n_pair + sum(prior))
    g = gamma[cells.pair]
    q = np.clip(alpha[cells.position] * g + beta[cells.position] * (1 - g), 1e-12, 1 - 1e-12)
    loglik = float(np.sum(cells.c * np.log(q) + unclicked * np.log1p(-q)))
    seen = cells.by_position(cells.n) > 0
    slope = np.maximum(alpha - beta, 1e-9)  # P(click) = beta + (alpha - beta) gamma
    relative = float(np.max((beta / slope)[seen])) if seen.any() else 0.0
    return Curve("trust_em", slope / slope[0], offset=beta), loglik, relative


def harvested(data: LoggedClicks) -> np.ndarray:
    """Rows of the (context, item) pairs that carry interventions: shown at two or more
    positions, by two or more logging policies or by a stochastic logger (propensity < 1
    outside exploration)."""
    pair = np.unique(data.pair, return_inverse=True)[1]
    stochastic = ~data.exploration & np.isfinite(data.propensity) & (data.propensity < 0.999)
    # distinct policies and positions per pair, by counting distinct (pair, x) keys
    policies = np.bincount(pair[np.unique(pair.astype(np.int64) * (int(data.policy.max(initial=0)) + 1) + data.policy,
                                          return_index=True)[1]])
    positions = np.bincount(pair[np.unique(pair.astype(np.int64) * (int(data.position.max(initial=0)) + 1) + data.position,
                                           return_index=True)[1]])
    random_pairs = np.bincount(pair, weights=stochastic.astype(float)) > 0
    return ((policies >= 2) | random_pairs)[pair] & (positions >= 2)[pair]


# ------------------------------------------------------------------ choosing


def monotone(curve: Curve) -> Curve:
    """The closest non-increasing curve (isotonic), pinned to 1 at position 1."""
    k = np.arange(1, len(curve.theta) + 1)
    known = np.isfinite(curve.theta)
    fitted = IsotonicRegression(increasing=False, y_min=0.0, y_max=1.0).fit(k[known], curve.theta[known]).predict(k)
    return Curve(curve.method + "_monotone", fitted / fitted[0], curve.low, curve.high, curve.offset)


def _filled(curve: Curve, fill: Curve) -> Curve:
    """``curve`` with its unidentified (NaN) positions taken from ``fill``, scaled to meet it
    at the last identified position above them."""
    theta = curve.theta.copy()
    known = np.isfinite(theta)
    if known.all():
        return curve
    last = np.flatnonzero(known)[-1]
    scale = theta[last] / max(fill.theta[last], 1e-12)
    theta[~known] = fill.theta[~known] * scale
    return Curve(curve.method, theta, curve.low, curve.high, curve.offset)


def _max_gap(a: Curve, b: Curve) -> float:
    n = min(len(a.theta), len(b.theta))
    d = np.abs(a.theta[:n] - b.theta[:n])
    return float(np.nanmax(d)) if np.isfinite(d).any() else float("nan")


def estimate(data: LoggedClicks, max_position: int | None = None, design: str = "auto", seed: int = 0) -> Estimate:
    """Every estimator that applies, the one to use and why, and figures for metadata."""
    size = int(max_position or data.position.max())
    data.position = np.minimum(data.position, size)
    curves: dict[str, Curve] = {}
    explore_rows = data.exploration
    starts = np.r_[0, np.cumsum(data.group)[:-1]].astype(np.int64)
    explore_requests = data.exploration[starts] if len(starts) else np.zeros(0, bool)
    info: dict[str, float | str] = {
        "impressions": float(len(data.position)), "exploration_impressions": float(explore_rows.sum()),
        "exploration_requests": float(explore_requests.sum()),
        "exploration_clicks": float(data.click[explore_rows].sum()), "policies_in_logs": float(len(np.unique(data.policy))),
    }
    # the exploration design: set, or read from the propensities
    top_k = 0
    if explore_requests.any():
        if design == "auto":
            detected, top_k, share = detect_design(data.propensity[explore_rows], data.group[explore_requests])
            info["exploration_design/detected_share"] = round(share, 4)
            chosen_design = detected if detected in DESIGNS else "shuffle"
            info["exploration_design"] = chosen_design + ("" if detected in DESIGNS else " (assumed: no propensities match a known design)")
        else:
            chosen_design, _, k = design.partition(":")
            top_k = int(k or 10)
            info["exploration_design"] = f"{chosen_design} (set)"
        if chosen_design == "topk_shuffle":
            info["exploration_design/top_k"] = float(top_k)
        design = chosen_design
    visibility = visibility_by_position(data.position, data.visible_ms, size)

    # click models on (pair, position) cells: every pair, and the harvested pairs only
    all_cells = Cells.of(data.pair, data.position, data.click, size)
    curves["pbm_em"] = pbm_em(all_cells).curve
    harvest = harvested(data)
    harvest_cells = Cells.of(data.pair[harvest], data.position[harvest], data.click[harvest], size)
    info |= {"harvest/pairs": float(harvest_cells.pairs), "harvest/clicks": float(data.click[harvest].sum()),
             "harvest/share_of_pairs": round(harvest_cells.pairs / max(all_cells.pairs, 1), 4),
             "harvest/share_of_impressions": round(float(harvest.mean()) if len(harvest) else 0.0, 4)}
    harvest_ok = harvest_cells.pairs >= MIN_HARVESTED_PAIRS and info["harvest/clicks"] >= MIN_HARVESTED_CLICKS
    harvest_fit = None
    if harvest_cells.pairs:
        harvest_fit = pbm_em(harvest_cells, method="harvest_em")
        curves["harvest_em"] = with_interval(harvest_cells, harvest_fit, seed=seed)

    chosen, identified, reason = "none", False, ""
    ratio = exploration_ratio(data, size, design, top_k, seed) if explore_requests.any() else None
    if ratio is not None:
        curves["exploration_ratio"] = ratio
        fit, eta, p_value = exploration_fit(data, visibility, design, top_k)
        curves["exploration_fit"] = fit
        info |= {"exploration_fit/eta": round(eta, 4), "exploration_fit/gof_p_value": round(p_value, 4),
                 "exploration_ratio/identified_positions": float(np.isfinite(ratio.theta).sum())}
        identified = True
        width = interval_width(ratio)
        info["exploration_ratio/mean_interval_width"] = round(width, 4)
        thin = width > MAX_EXPLORATION_INTERVAL_WIDTH
        if thin and harvest_ok:
            chosen = "harvest_em"
            reason = (f"exploration ({int(info['exploration_requests'])} requests, {design}) is too thin to pin the "
                      f"curve ({thin_exploration(width)}); {harvest_cells.pairs} (context, item) pairs shown at "
                      f"different positions by different logging policies ({int(info['harvest/clicks'])} clicks) "
                      "identify it: intervention harvesting")
        elif p_value >= GOF_P_VALUE:
            chosen = "exploration_fit"
            reason = (f"exploration ({int(info['exploration_requests'])} requests, {design}) identifies the curve and "
                      f"the fitted shape holds (goodness of fit p = {p_value:.3f})")
        else:
            curves["exploration_ratio_monotone"] = monotone(_filled(ratio, fit))
            chosen = "exploration_ratio_monotone"
            reason = (f"exploration ({int(info['exploration_requests'])} requests, {design}) identifies the curve; the "
                      f"fitted shape does not hold (p = {p_value:.3g}), so the free estimate (made non-increasing) is used")
        if thin and not harvest_ok:
            reason += f"; {thin_exploration(width)}: more exploration traffic would pin it"
    elif harvest_ok:
        chosen, identified = "harvest_em", True
        reason = (f"no usable exploration; {harvest_cells.pairs} (context, item) pairs were shown at different positions "
                  f"by different logging policies ({int(info['harvest/clicks'])} clicks): intervention harvesting")
    else:
        reason = (f"not identified: {int(info['exploration_requests'])} exploration requests "
                  f"({int(info['exploration_clicks'])} clicks), {harvest_cells.pairs} harvested pairs "
                  f"(< {MIN_HARVESTED_PAIRS}) with {int(info['harvest/clicks'])} clicks; one logging ranker's order "
                  "cannot be told apart from relevance, so no position correction is applied")
    curves["none"] = Curve("none", np.ones(size))

    # trust bias, where the harvested pairs identify it and the evidence says so
    if identified and harvest_ok and harvest_fit is not None:
        trust, trust_loglik, relative = trust_em(harvest_cells, harvest_fit)
        curves["trust_em"] = trust
        statistic = max(2.0 * (trust_loglik - harvest_fit.loglik), 0.0)
        p_trust = float(stats.chi2.sf(statistic, size))
        info |= {"trust_em/lr_p_value": p_trust, "trust_em/max_offset_over_slope": round(relative, 4)}
        plausible = bool(np.all(trust.theta[1:] <= 1.05))  # a slope steeper below the top than at it is not a curve
        info["trust_em/plausible"] = plausible
        if p_trust < TRUST_P_VALUE and relative >= TRUST_MIN_RELATIVE_OFFSET and not plausible:
            reason += ("; the trust-bias model fits better but its curve rises below position 1 (not identified "
                       "as trust bias): not used")
        elif p_trust < TRUST_P_VALUE and relative >= TRUST_MIN_RELATIVE_OFFSET:
            chosen = "trust_em"
            reason += (f"; trust bias detected (likelihood-ratio p = {p_trust:.2g}, clicks on non-relevant items up to "
                       f"{relative:.0%} of the relevant click rate): the affine correction is used")
    for name, curve in curves.items():
        if name not in (chosen, "none"):
            info[f"agreement/max_abs_difference/{name}"] = round(_max_gap(curves[chosen], curve), 4)
    return Estimate(curves, chosen, identified, reason, info)

