"""The user population and its latent tastes.

Model:

* segment ``new`` / ``casual`` / ``power`` with probabilities 0.3 / 0.5 / 0.2; ``new`` users
  signed up in the 30 days before the window, the others one month to three years before it;
* home region NA / EU / APAC / LATAM (0.35 / 0.30 / 0.25 / 0.10), preferred device mobile /
  desktop / tablet (0.6 / 0.3 / 0.1), ``age_verified`` with probability 0.85;
* preference over categories ``pref[c] = N(0, 1) + 2 * [c is a favourite]`` with 2 or 3
  favourite categories drawn (without replacement) from the global category share;
* price sensitivity ``exp(N(0, 0.5))``;
* activity (relative request rate) Pareto(1.5) times 0.5 / 1 / 4 by segment: a few users
  make most requests.

A handful of users are special accounts: the unlabeled bots (traffic ``user`` but scripted),
the accounts behind labelled bot traffic, employees (internal traffic) and QA (test traffic).
They take no part in organic traffic (activity 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .config import SimulatorConfig
from .timebase import US_PER_DAY, US_PER_SECOND, date_to_us
from .vocabulary import (
    BOT_ACCOUNT,
    DEVICES,
    INTERNAL_ACCOUNT,
    ORGANIC,
    REGIONS,
    SEGMENTS,
    TEST_ACCOUNT,
    UNLABELED_BOT,
)

SEGMENT_SHARE = (0.3, 0.5, 0.2)
SEGMENT_ACTIVITY = (0.5, 1.0, 4.0)
REGION_SHARE = (0.35, 0.30, 0.25, 0.10)
DEVICE_SHARE = (0.6, 0.3, 0.1)
AGE_VERIFIED_SHARE = 0.85
FAVOURITE_BOOST = 2.0
MAX_FAVOURITES = 3
"""Users have two or three favourite categories (fewer if there are fewer categories)."""
ACTIVITY_PARETO_SHAPE = 1.5
PRICE_SENSITIVITY_SIGMA = 0.5
ACCOUNTS = {BOT_ACCOUNT: 5, INTERNAL_ACCOUNT: 10, TEST_ACCOUNT: 2}
"""Number of accounts behind labelled bot, internal and test traffic."""


@dataclass(frozen=True)
class Population:
    """Per-user arrays indexed by user number (``user_id`` = ``u`` + zero-padded number)."""

    segment: NDArray[np.int8]
    region: NDArray[np.int8]
    device: NDArray[np.int8]
    created_us: NDArray[np.int64]
    age_verified: NDArray[np.bool_]
    preference: NDArray[np.float32]
    """``(users, categories)`` latent preference."""
    favourites: NDArray[np.int32]
    """``(users, MAX_FAVOURITES)`` favourite categories, -1 padded."""
    price_sensitivity: NDArray[np.float32]
    activity_cdf: NDArray[np.float64]
    """Cumulative request-rate weights (normalised to 1) of organic users."""
    role: NDArray[np.int8]
    """Index into ``ACCOUNT_ROLES``."""

    @property
    def size(self) -> int:
        return len(self.segment)

    def accounts(self, role: int) -> NDArray[np.intp]:
        """User numbers with the given role."""
        return np.flatnonzero(self.role == role)


def draw_preferences(
    rng: np.random.Generator, count: int, category_share: NDArray[np.float64]
) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """Draw ``count`` preference vectors and their favourite categories (see module docstring)."""
    categories = len(category_share)
    keys = np.log(category_share) + rng.gumbel(size=(count, categories))
    top = np.full((count, MAX_FAVOURITES), -1, np.int32)
    top[:, : min(MAX_FAVOURITES, categories)] = np.argsort(-keys, axis=1)[:, :MAX_FAVOURITES]
    chosen = np.arange(MAX_FAVOURITES) < MAX_FAVOURITES - 1 + (rng.random((count, 1)) < 0.5)
    favourites = np.where(chosen, top, -1).astype(np.int32)
    preference = rng.standard_normal((count, categories), dtype=np.float32)
    rows = np.repeat(np.arange(count), MAX_FAVOURITES)
    flat = favourites.ravel()
    keep = flat >= 0
    preference[rows[keep], flat[keep]] += FAVOURITE_BOOST
    return preference, favourites


def build_population(
    config: SimulatorConfig, category_share: NDArray[np.float64], rng: np.random.Generator
) -> Population:
    """Draw the population described in the module docstring."""
    n = config.users
    segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARE).astype(np.int8)
    start_us = date_to_us(config.start)
    new_age = rng.uniform(0, 30 * US_PER_DAY, n)
    old_age = rng.uniform(30 * US_PER_DAY, 3 * 365 * US_PER_DAY, n)
    created = start_us - np.where(segment == 0, new_age, old_age)
    preference, favourites = draw_preferences(rng, n, category_share)
    pareto = (1.0 - rng.random(n)) ** (-1.0 / ACTIVITY_PARETO_SHAPE)
    activity = pareto * np.asarray(SEGMENT_ACTIVITY)[segment]

    role = np.full(n, ORGANIC, np.int8)
    special = [(UNLABELED_BOT, config.unlabeled_bot_users), *ACCOUNTS.items()]
    chosen = rng.permutation(n)[: sum(count for _, count in special)]
    role[chosen] = np.repeat([r for r, _ in special], [c for _, c in special])
    activity[role != ORGANIC] = 0.0
    cdf = np.cumsum(activity)

    return Population(
        segment=segment,
        region=rng.choice(len(REGIONS), size=n, p=REGION_SHARE).astype(np.int8),
        device=rng.choice(len(DEVICES), size=n, p=DEVICE_SHARE).astype(np.int8),
        created_us=(created // US_PER_SECOND).astype(np.int64) * US_PER_SECOND,
        age_verified=rng.random(n) < AGE_VERIFIED_SHARE,
        preference=preference,
        favourites=favourites,
        price_sensitivity=np.exp(PRICE_SENSITIVITY_SIGMA * rng.standard_normal(n)).astype(np.float32),
        activity_cdf=cdf / cdf[-1],
        role=role,
    )
