"""Candidate generation: ``candidates_per_request`` distinct items per request.

Model: a request with intent category ``c`` on surface ``s`` retrieves ``k_int`` items from
its intent pool (items of category ``c``; source ``query`` on search, ``affinity`` on home)
and ``K - k_int`` from the popular pool of ``c`` (the most popular items outside category
``c``, 10% of the retrievable catalog but at least ``4 K``; source ``popular``), where
``k_int`` is 70% of ``K`` on search and 50% on home (fewer when the category is small). Only items created before the start of the
day are retrievable. Within a pool, items are drawn without replacement with inclusion
probabilities ``pi_i ∝ popularity_prior_i ** 0.5`` (capped at 1 and renormalised), by
systematic sampling: the pool is laid out in a random order (one of four per pool and day),
item ``i`` covers an interval of length ``pi_i``, and the items under the points
``u, u + 1, ..., u + k - 1`` (``u ~ U(0, 1)``) are retrieved. Each point falls into a
different item, so the sample is distinct, and ``P(i retrieved) = pi_i`` exactly.

The retrieval score is ``1 + 0.4 z(log pop) + 0.3 q + N(0, 0.6)`` for intent candidates and
``0.6 z(log pop) + N(0, 0.6)`` for popular ones; candidates are ranked by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .catalog import Catalog
from .config import SimulatorConfig
from .traffic import Requests
from .vocabulary import AFFINITY_SOURCE, HOME, POPULAR_SOURCE, QUERY_SOURCE, SEARCH, SURFACES

INTENT_SHARE = {SEARCH: 0.7, HOME: 0.5}
POPULAR_POOL_SHARE = 0.1
POPULAR_POOL_MIN_FACTOR = 4
POOL_ORDERINGS = 4
WEIGHT_EXPONENT = 0.5
RETRIEVAL_NOISE = 0.6
_EDGE = 1e-6
"""Sampling offsets stay this far from the interval ends, so float error never moves a point."""


@dataclass(frozen=True)
class Candidates:
    """``(requests, K)`` matrices sorted by retrieval rank (column ``j`` has rank ``j + 1``)."""

    item: NDArray[np.int32]
    source: NDArray[np.int8]
    score: NDArray[np.float64]


@dataclass(frozen=True)
class Pools:
    """All sampling segments of a day, laid end to end on one cumulative axis."""

    items: NDArray[np.int32]
    cumulative: NDArray[np.float64]
    start: NDArray[np.float64]
    """Where segment ``(pool, category, surface, ordering)`` begins (pool 0 = intent, 1 = popular)."""
    intent_k: NDArray[np.int64]
    """``(categories, surfaces)`` number of intent candidates."""


def inclusion_probabilities(weights: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """Inclusion probabilities ``pi ∝ weights`` with ``sum(pi) = k`` and ``pi <= 1`` (iterative capping)."""
    pi = np.zeros(len(weights))
    capped = np.zeros(len(weights), bool)
    while k > 0:
        free = ~capped
        pi[free] = weights[free] * (k - capped.sum()) / weights[free].sum()
        pi[capped] = 1.0
        over = free & (pi > 1.0)
        if not over.any():
            break
        capped |= over
    return np.minimum(pi, 1.0 - 1e-9)


def build_pools(
    config: SimulatorConfig, catalog: Catalog, retrievable: NDArray[np.bool_], rng: np.random.Generator
) -> Pools:
    """Lay out every ``(pool, category, surface, ordering)`` segment of the day."""
    k_total = config.candidates_per_request
    categories = config.categories
    alive = np.flatnonzero(retrievable)
    popular_size = max(round(POPULAR_POOL_SHARE * len(alive)), POPULAR_POOL_MIN_FACTOR * k_total)
    by_popularity = alive[np.argsort(-catalog.popularity[alive], kind="stable")]
    weight = catalog.popularity**WEIGHT_EXPONENT

    intent_k = np.zeros((categories, len(SURFACES)), np.int64)
    intent_pools: list[tuple[NDArray[np.intp], int]] = []
    popular_pools: list[tuple[NDArray[np.intp], int]] = []
    for c in range(categories):
        own = alive[catalog.category[alive] == c]
        popular = by_popularity[catalog.category[by_popularity] != c][:popular_size]
        for s in range(len(SURFACES)):
            k = max(min(round(INTENT_SHARE[s] * k_total), len(own)), k_total - len(popular))
            intent_k[c, s] = k
            intent_pools.append((own, k))
            popular_pools.append((popular, k_total - k))

    items: list[NDArray[np.intp]] = []
    lengths: list[NDArray[np.float64]] = []
    for pool, k in intent_pools + popular_pools:
        pi = inclusion_probabilities(weight[pool], k)
        for _ in range(POOL_ORDERINGS):
            permutation = rng.permutation(len(pool))
            items.append(pool[permutation])
            lengths.append(pi[permutation])
    sizes = np.array([len(x) for x in items])
    cumulative = np.cumsum(np.concatenate(lengths))
    start = np.concatenate([[0.0], cumulative])[np.cumsum(sizes) - sizes]
    return Pools(
        items=np.concatenate(items).astype(np.int32),
        cumulative=cumulative,
        start=start,
        intent_k=intent_k,
    )


def retrieve(
    config: SimulatorConfig, catalog: Catalog, requests: Requests, pools: Pools, rng: np.random.Generator
) -> Candidates:
    """Draw and rank every request's candidates from the day's pools (see module docstring)."""
    n, k_total = requests.size, config.candidates_per_request
    surfaces = len(SURFACES)
    ordering = rng.integers(0, POOL_ORDERINGS, n)
    cell = (requests.intent.astype(np.int64) * surfaces + requests.surface) * POOL_ORDERINGS + ordering
    per_pool = config.categories * surfaces * POOL_ORDERINGS
    k_intent = pools.intent_k.ravel()[cell // POOL_ORDERINGS]
    offsets = rng.uniform(_EDGE, 1 - _EDGE, (n, 2))
    column = np.arange(k_total)
    from_intent = column < k_intent[:, None]
    points = np.where(
        from_intent,
        (pools.start[cell] + offsets[:, 0])[:, None] + column,
        (pools.start[per_pool + cell] + offsets[:, 1] - k_intent)[:, None] + column,
    )
    order = np.argsort(cell, kind="stable")
    found = np.empty((n, k_total), np.intp)
    found[order] = np.searchsorted(pools.cumulative, points[order], side="right")
    item = pools.items[found]

    intent_source = np.where(requests.surface == SEARCH, QUERY_SOURCE, AFFINITY_SOURCE).astype(np.int8)
    source = np.where(from_intent, intent_source[:, None], np.int8(POPULAR_SOURCE))
    noise = rng.standard_normal((n, k_total), dtype=np.float32)
    popularity_z = catalog.popularity_z.astype(np.float32)[item]
    quality = catalog.quality.astype(np.float32)[item]
    score = np.where(
        from_intent,
        1.0 + 0.4 * popularity_z + 0.3 * quality + RETRIEVAL_NOISE * noise,
        0.6 * popularity_z + RETRIEVAL_NOISE * noise,
    )
    rank = np.argsort(-score, axis=1)
    return Candidates(
        item=np.take_along_axis(item, rank, axis=1),
        source=np.take_along_axis(source, rank, axis=1),
        score=np.take_along_axis(score, rank, axis=1).astype(np.float64),
    )
