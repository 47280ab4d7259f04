"""Serving: eligibility filtering, true attractiveness, the logging ranker and the slate.

Model, for request ``r`` and candidate item ``i``:

* eligibility at the request time: the item's version is active and in stock, the item is
  sellable in the request's region and not age restricted unless the user is age verified.
  Ineligible candidates are filtered out, except that each one slips through with
  probability ``eligibility_leak_rate`` (its first failing reason, in the order of
  ``INELIGIBILITY_REASONS``, is recorded);
* utility ``x = 0.8 q_i + 0.8 pref[r, cat_i] + 1.2 [cat_i = intent_r] - 0.5 misfit + N(0, 0.3)``
  with ``misfit = price_sensitivity_r * max(0, log(price_i / median_cat))``, and true
  attractiveness ``A = sigmoid(b0 + x)`` = P(click | examined) before click noise. ``b0`` is
  calibrated once, on the first block of requests, so that the mean ``A`` over the slates
  shown to human traffic is 0.2 (the slate does not depend on ``b0``, see below). Every input
  of ``x`` but the noise is in the truth (``truth/requests``: intent, price sensitivity and an
  anonymous request's preference; ``truth/users``: users' preferences; ``truth/items``:
  quality, category and ``price_premium`` = ``log(price / median_cat)``; the manifest's
  ``model.relevance``: the weights, from the constants below), so the expected
  attractiveness without noise, ``sigmoid(b0 + x - noise)``, of any (request, item) pair of
  the catalog can be recomputed, not only of the retrieved candidates;
* logging ranker: ``score = (1 - L) z(log popularity_prior) + L z(x) + N(0, 0.5)`` with
  ``L = logging_quality`` (``z(x) = z(logit A)``, standardised with the mean and standard
  deviation of ``x`` over the first block of candidates);
  the eligible (or leaked) candidates with the top ``slate_size`` scores are shown in score
  order. Exploration requests show the same items in a uniformly random order, so every
  item has propensity ``1 / n`` for each position (``n`` = slate length, ``slate_size``
  unless too few candidates are eligible).

That is the default. More generally (``SimulatorConfig`` documents each option):

* several logging policies: request ``r`` goes to policy ``p = hash(seed, number_r) mod P``,
  whose ranker has its own ``L_p`` and noise ``sigma_p`` (``logging_qualities``,
  ``logging_noises``); with several rankers (policies or versions over days) each version
  also adds a fixed per-item offset ``N(0, ranker_item_noise)`` to its scores;
* ``logger = plackett_luce``: the slate is drawn from the Plackett-Luce distribution of
  ``score / T`` (Gumbel-max trick), and each shown item gets its exact conditional
  probability given the items above as its propensity;
* exploration designs perturb the request's own slate: ``shuffle`` (above), ``topk_shuffle``
  (positions ``1..k`` in random order) and ``adjacent_swap`` (one uniformly chosen adjacent
  pair swapped), each with the propensities documented in ``SimulatorConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .catalog import Catalog
from .config import SimulatorConfig
from .lifecycle import DayIndex, ItemTimeline
from .retrieval import Candidates
from .traffic import Requests
from .vocabulary import BANNED, DELETED, EXPLORE, RANKER

QUALITY_WEIGHT = 0.8
PREFERENCE_WEIGHT = 0.8
INTENT_WEIGHT = 1.2
PRICE_WEIGHT = 0.5
UTILITY_NOISE = 0.3
RANKER_NOISE = 0.5
RANKER_OFFSET_STREAM = 0x52414E4B
"""Spawn key of the random stream of the ranker versions' item offsets."""
TARGET_MEAN_ATTRACTIVENESS = 0.2
RELEVANCE_WEIGHTS = {
    "quality": QUALITY_WEIGHT,
    "preference": PREFERENCE_WEIGHT,
    "intent": INTENT_WEIGHT,
    "price": PRICE_WEIGHT,
    "noise_sd": UTILITY_NOISE,
}
"""The utility's weights as the manifest records them (``model.relevance``)."""


@dataclass(frozen=True)
class Assessment:
    """Per-candidate ``(requests, K)`` facts known to the simulator before ranking."""

    reason: NDArray[np.int8]
    """Index into ``INELIGIBILITY_REASONS``, -1 when eligible."""
    leaked: NDArray[np.bool_]
    """Ineligible but not filtered."""
    utility: NDArray[np.float32]
    """``x`` = logit of attractiveness minus ``b0``."""

    def attractiveness(self, intercept: float) -> NDArray[np.float64]:
        """True ``A = sigmoid(b0 + x)`` per candidate."""
        logit = self.utility.astype(np.float64)
        logit += intercept
        np.negative(logit, out=logit)
        np.exp(logit, out=logit)
        logit += 1.0
        return np.reciprocal(logit, out=logit)


@dataclass(frozen=True)
class Served:
    """The slates: ``(requests, slate_size)`` candidate column shown at each position."""

    slate: NDArray[np.int16]
    """Candidate column shown at each position, -1 past the end of the slate."""
    length: NDArray[np.int32]
    """Number of items shown per request."""
    propensity: NDArray[np.float64]
    """``(requests, slate_size)`` logged propensity of the item at each position, NaN = unknown."""

    def positions(self, candidates: int) -> NDArray[np.int32]:
        """``(requests, candidates)`` 1-based shown position of each candidate, 0 if not shown."""
        n, slots = self.slate.shape
        position = np.zeros((n, candidates), np.int32)
        shown = self.slate >= 0
        rows = np.broadcast_to(np.arange(n)[:, None], (n, slots))[shown]
        position[rows, self.slate[shown]] = np.broadcast_to(
            np.arange(1, slots + 1, dtype=np.int32), (n, slots)
        )[shown]
        return position


def eligibility(
    requests: Requests,
    candidates: Candidates,
    catalog: Catalog,
    timeline: ItemTimeline,
    day: DayIndex,
) -> NDArray[np.int8]:
    """First failing eligibility reason per candidate (-1 = eligible), see ``INELIGIBILITY_REASONS``."""
    item = candidates.item.ravel()
    row = np.repeat(np.arange(requests.size, dtype=np.int32), candidates.item.shape[1])
    version = timeline.versions_at(item, requests.ts_us[row], day)
    region_mask = catalog.region_mask[item]
    sellable = (region_mask == 0) | ((region_mask >> requests.region[row].astype(np.uint8)) & 1).astype(bool)
    adult_ok = ~catalog.age_restricted[item] | requests.age_verified[row]
    eligible = timeline.available[version] & sellable & adult_ok
    reason = np.full(len(item), -1, np.int8)
    bad = np.flatnonzero(~eligible)
    status = timeline.status[version[bad]]
    reason[bad] = np.select(
        [status == DELETED, status == BANNED, ~timeline.in_stock[version[bad]], ~sellable[bad]],
        [0, 1, 2, 3],
        4,
    )
    return reason.reshape(candidates.item.shape)


def assess(
    config: SimulatorConfig,
    requests: Requests,
    candidates: Candidates,
    catalog: Catalog,
    timeline: ItemTimeline,
    day: DayIndex,
    rng: np.random.Generator,
) -> Assessment:
    """Eligibility, leaks and utility of every candidate (see module docstring)."""
    n, k = candidates.item.shape
    reason = eligibility(requests, candidates, catalog, timeline, day)
    leaked = np.zeros(reason.shape, bool)
    ineligible = np.flatnonzero(reason >= 0)
    leaked.ravel()[ineligible] = rng.random(len(ineligible)) < config.eligibility_leak_rate

    item = candidates.item
    category = catalog.category[item]
    utility = np.take_along_axis(requests.preference, category, axis=1)
    utility *= np.float32(PREFERENCE_WEIGHT)
    utility += np.float32(QUALITY_WEIGHT) * catalog.quality.astype(np.float32)[item]
    utility += np.where(category == requests.intent[:, None], np.float32(INTENT_WEIGHT), np.float32(0))
    premium = np.maximum(catalog.price_premium, 0).astype(np.float32)[item]
    premium *= requests.price_sensitivity[:, None] * np.float32(PRICE_WEIGHT)
    utility -= premium
    utility += np.float32(UTILITY_NOISE) * rng.standard_normal((n, k), dtype=np.float32)
    return Assessment(reason=reason, leaked=leaked, utility=utility)


@dataclass(frozen=True)
class Rankers:
    """The logging rankers live on one day: one per policy, at the day's version."""

    quality: NDArray[np.float32]
    """``L_p`` per policy."""
    noise: NDArray[np.float32]
    """Standard deviation of the per-request score noise per policy."""
    offset: NDArray[np.float32] | None
    """``(policies, items)`` fixed score offset of the day's version, None for the single ranker."""
    version: int


def day_rankers(config: SimulatorConfig, day: int, items: int) -> Rankers:
    """The rankers of day ``day`` (their item offsets depend only on the seed and the version)."""
    every = config.ranker_versions_change_every_days
    version = day // every if every else 0
    offset = None
    if config.several_rankers:
        seed = np.random.SeedSequence(config.seed, spawn_key=(RANKER_OFFSET_STREAM, version))
        offset = np.random.default_rng(seed).standard_normal(
            (config.logging_policies, items), dtype=np.float32
        )
        offset *= np.float32(config.ranker_item_noise)
    return Rankers(
        quality=np.array(config.policy_values(config.logging_qualities, config.logging_quality), np.float32),
        noise=np.array(config.policy_values(config.logging_noises, RANKER_NOISE), np.float32),
        offset=offset,
        version=version,
    )


def assign_policy(config: SimulatorConfig, number: NDArray[np.int64]) -> NDArray[np.int32]:
    """A/B bucket of each request: a hash (splitmix64) of the seed and the request number."""
    if config.logging_policies == 1:
        return np.zeros(len(number), np.int32)
    z = number.astype(np.uint64) ^ np.uint64((config.seed * 0x9E3779B97F4A7C15 + 0x5BD1E995) % 2**64)
    z += np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z % np.uint64(config.logging_policies)).astype(np.int32)


def policy_labels(config: SimulatorConfig) -> tuple[str, ...]:
    """Values of ``requests.policy``: code 0 is the first ranker, 1 exploration, then the others.

    The default configuration gives ``("ranker_v3", "explore_v1")``.
    """
    explore = {
        "shuffle": "explore_v1",
        "topk_shuffle": f"explore_top{config.exploration_top_k}_v1",
        "adjacent_swap": "explore_swap_v1",
    }[config.exploration_design]
    policies = config.logging_policies

    def name(code: int) -> str:
        version, policy = divmod(code, policies)
        suffix = f"_{chr(ord('a') + policy)}" if policies > 1 else ""
        return f"ranker_v{3 + version}{suffix}"

    codes = range(1, policies * config.ranker_versions)
    return (name(0), explore, *(name(code) for code in codes))


def policy_codes(config: SimulatorConfig, requests: Requests, version: int) -> NDArray[np.int8]:
    """Code of ``requests.policy`` (into :func:`policy_labels`) per request."""
    ranker = version * config.logging_policies + assign_policy(config, requests.number)
    return np.where(requests.explore, EXPLORE, np.where(ranker == 0, RANKER, ranker + 1)).astype(np.int8)


def rank(
    config: SimulatorConfig,
    requests: Requests,
    candidates: Candidates,
    assessment: Assessment,
    catalog: Catalog,
    utility_moments: tuple[float, float],
    rankers: Rankers,
    rng: np.random.Generator,
) -> Served:
    """The logging rankers and the exploration designs (see module docstring).

    ``utility_moments`` (mean, standard deviation) standardise the utility; they are measured
    once, on the first block of requests, like a ranker trained once and then frozen.
    """
    n, k = candidates.item.shape
    policy = assign_policy(config, requests.number)
    quality = rankers.quality[policy][:, None]
    mean, std = utility_moments
    score = assessment.utility - np.float32(mean)
    score *= quality / np.float32(std)
    score += (1 - quality) * catalog.popularity_z.astype(np.float32)[candidates.item]
    score += rankers.noise[policy][:, None] * rng.standard_normal((n, k), dtype=np.float32)
    if rankers.offset is not None:
        score += rankers.offset[policy[:, None], candidates.item]
    servable = (assessment.reason < 0) | assessment.leaked
    score[~servable] = -np.inf
    slots = config.slate_size
    stochastic = config.logger == "plackett_luce"
    if stochastic:
        logits = score.astype(np.float64) / config.logger_temperature
        order = plackett_luce_order(logits, rng)
    else:
        order = np.argsort(-score, axis=1)
    slate = order[:, :slots].astype(np.int16)
    length = np.minimum(servable.sum(axis=1), slots).astype(np.int32)
    past_end = np.arange(slots) >= length[:, None]
    slate[past_end] = -1
    if stochastic:
        propensity = plackett_luce_propensity(logits, slate, length)
    else:
        propensity = np.full((n, slots), np.nan)

    explore = np.flatnonzero(requests.explore)
    slate[explore], propensity[explore] = exploration_slates(config, slate[explore], length[explore], rng)
    return Served(slate=slate, length=length, propensity=propensity)


def plackett_luce_order(logits: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.intp]:
    """Per row, a Plackett-Luce draw of the columns by ``softmax(logits)`` (Gumbel-max trick)."""
    return np.argsort(-(logits - np.log(-np.log(rng.random(logits.shape)))), axis=1)


def plackett_luce_propensity(
    logits: NDArray[np.float64], slate: NDArray[np.int16], length: NDArray[np.int32]
) -> NDArray[np.float64]:
    """``P(item at k | items at 1..k-1)`` of the Plackett-Luce logger, per position (NaN past the end)."""
    n, slots = slate.shape
    remaining = logits.copy()
    rows = np.arange(n)
    propensity = np.full((n, slots), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        for position in range(slots):
            _plackett_luce_step(remaining, slate, length, rows, position, propensity)
    return propensity


def _plackett_luce_step(
    remaining: NDArray[np.float64],
    slate: NDArray[np.int16],
    length: NDArray[np.int32],
    rows: NDArray[np.intp],
    position: int,
    propensity: NDArray[np.float64],
) -> None:
    """Fill ``propensity[:, position]`` and take the chosen items out of ``remaining``."""
    shown = position < length
    column = np.where(shown, slate[:, position], 0)
    top = remaining.max(axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    log_total = np.log(np.exp(remaining - top[:, None]).sum(axis=1)) + top
    chosen = remaining[rows, column]
    propensity[:, position] = np.where(shown, np.exp(chosen - log_total), np.nan)
    remaining[rows[shown], column[shown]] = -np.inf


def exploration_slates(
    config: SimulatorConfig, slate: NDArray[np.int16], length: NDArray[np.int32], rng: np.random.Generator
) -> tuple[NDArray[np.int16], NDArray[np.float64]]:
    """The exploration slates of ``exploration_design`` and their propensities."""
    m, slots = slate.shape
    past_end = np.arange(slots) >= length[:, None]
    design = config.exploration_design
    if design == "shuffle":
        shuffle = rng.random((m, slots))
        shuffle[past_end] = np.inf
        slate = np.take_along_axis(slate, np.argsort(shuffle, axis=1), axis=1)
        propensity = np.broadcast_to((1.0 / np.maximum(length, 1))[:, None], (m, slots)).copy()
    elif design == "topk_shuffle":
        top = config.exploration_top_k
        column = np.arange(slots)
        shuffle = rng.random((m, slots))
        fixed = column >= top
        shuffle[:, fixed] = 1.0 + column[fixed]
        shuffle[past_end] = np.inf
        slate = np.take_along_axis(slate, np.argsort(shuffle, axis=1), axis=1)
        share = 1.0 / np.maximum(np.minimum(length, top), 1)
        propensity = np.where(column < top, share[:, None], 1.0)
    else:
        pairs = np.maximum(length - 1, 0)
        first = np.minimum((rng.random(m) * pairs).astype(np.int32), np.maximum(pairs - 1, 0))
        rows = np.flatnonzero(pairs >= 1)
        left, right = first[rows], first[rows] + 1
        slate = slate.copy()
        slate[rows, left], slate[rows, right] = slate[rows, right], slate[rows, left]
        column = np.arange(slots)
        member = (column > 0).astype(np.float64) + (column < length[:, None] - 1)
        safe = np.maximum(pairs, 1)[:, None]
        propensity = np.where(pairs[:, None] >= 1, 1.0 - member / safe, 1.0)
        propensity[rows, left] = propensity[rows, right] = 1.0 / pairs[rows]
    propensity[past_end] = np.nan
    return slate, propensity


def calibrate_intercept(utility: NDArray[np.float32], target: float = TARGET_MEAN_ATTRACTIVENESS) -> float:
    """Solve ``mean(sigmoid(b0 + utility)) = target`` for ``b0`` by Newton's method."""
    x = utility.astype(np.float64)
    intercept = float(np.log(target / (1 - target)) - np.median(x))
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(intercept + x)))
        step = (p.mean() - target) / max(float((p * (1 - p)).mean()), 1e-12)
        intercept -= step
        if abs(step) < 1e-10:
            break
    return intercept
