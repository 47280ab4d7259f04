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
  shown to human traffic is 0.2 (the slate does not depend on ``b0``, see below);
* logging ranker: ``score = (1 - L) z(log popularity_prior) + L z(x) + N(0, 0.5)`` with
  ``L = logging_quality`` (``z(x) = z(logit A)``, standardised with the mean and standard
  deviation of ``x`` over the first block of candidates);
  the eligible (or leaked) candidates with the top ``slate_size`` scores are shown in score
  order. Exploration requests show the same items in a uniformly random order, so every
  item has propensity ``1 / n`` for each position (``n`` = slate length, ``slate_size``
  unless too few candidates are eligible).
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
from .vocabulary import BANNED, DELETED

QUALITY_WEIGHT = 0.8
PREFERENCE_WEIGHT = 0.8
INTENT_WEIGHT = 1.2
PRICE_WEIGHT = 0.5
UTILITY_NOISE = 0.3
RANKER_NOISE = 0.5
TARGET_MEAN_ATTRACTIVENESS = 0.2


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


def rank(
    config: SimulatorConfig,
    requests: Requests,
    candidates: Candidates,
    assessment: Assessment,
    catalog: Catalog,
    utility_moments: tuple[float, float],
    rng: np.random.Generator,
) -> Served:
    """The logging ranker and the exploration shuffle (see module docstring).

    ``utility_moments`` (mean, standard deviation) standardise the utility; they are measured
    once, on the first block of requests, like a ranker trained once and then frozen.
    """
    n, k = candidates.item.shape
    quality = np.float32(config.logging_quality)
    mean, std = utility_moments
    score = assessment.utility - np.float32(mean)
    score *= quality / np.float32(std)
    score += (1 - quality) * catalog.popularity_z.astype(np.float32)[candidates.item]
    score += np.float32(RANKER_NOISE) * rng.standard_normal((n, k), dtype=np.float32)
    servable = (assessment.reason < 0) | assessment.leaked
    score[~servable] = -np.inf
    slots = config.slate_size
    slate = np.argsort(-score, axis=1)[:, :slots].astype(np.int16)
    length = np.minimum(servable.sum(axis=1), slots).astype(np.int32)
    past_end = np.arange(slots) >= length[:, None]
    slate[past_end] = -1

    explore = np.flatnonzero(requests.explore)
    shuffle = rng.random((len(explore), slots))
    shuffle[past_end[explore]] = np.inf
    slate[explore] = np.take_along_axis(slate[explore], np.argsort(shuffle, axis=1), axis=1)
    return Served(slate=slate, length=length)


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
