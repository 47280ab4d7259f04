"""Requests of one day: who asks, when, on which surface and with which intent.

Model:

* ``requests_per_day`` ordinary requests, labelled ``bot`` / ``internal`` / ``test`` with the
  configured shares and ``user`` otherwise, plus ``600 + Poisson(100)`` requests per unlabeled
  bot user (labelled ``user``);
* times: user, internal and test traffic follow a diurnal curve
  ``1 + 0.6 cos(2π (hour - 20) / 24)`` (peak 20:00 UTC); bots are uniform over the day;
* users: user traffic is anonymous with probability ``anonymous_share``, otherwise drawn in
  proportion to user activity; bot traffic comes from a few bot accounts or anonymously
  (half each); internal traffic from employee accounts, test traffic from QA accounts or
  anonymously. Anonymous requests get a fresh preference vector and price sensitivity;
* region: the user's home region (anonymous: drawn from the region shares); device: the
  user's preferred device with probability 0.85, otherwise drawn from the device shares;
* surface ``search`` with probability 0.7, else ``home``. Search intent is drawn from
  ``0.7 softmax(pref) + 0.3 p_global``; the query is one of the category's query strings.
  Home intent is one of the user's favourite categories;
* scroll depth ``S``: ``base + Geometric(1 / mean)`` capped at ``slate_size``, with
  (base, mean) = (3, 9) on mobile, (5, 15) on desktop, (4, 12) on tablet; scripted traffic
  (bots) "sees" the whole slate;
* sessions: consecutive requests of a user less than 30 minutes apart, split at midnight;
  each anonymous request is its own session.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from .catalog import Catalog
from .config import SimulatorConfig
from .timebase import US_PER_DAY, US_PER_MINUTE
from .users import DEVICE_SHARE, PRICE_SENSITIVITY_SIGMA, REGION_SHARE, Population, draw_preferences
from .vocabulary import (
    BOT_ACCOUNT,
    BOT_TRAFFIC,
    DESKTOP,
    DEVICES,
    HOME,
    INTERNAL_ACCOUNT,
    INTERNAL_TRAFFIC,
    MOBILE,
    QUERY_PATTERNS,
    SEARCH,
    TABLET,
    TEST_ACCOUNT,
    TEST_TRAFFIC,
    UNLABELED_BOT,
    USER_TRAFFIC,
)

DIURNAL_AMPLITUDE = 0.6
DIURNAL_PEAK_HOUR = 20
SEARCH_SHARE = 0.7
DEVICE_LOYALTY = 0.85
INTENT_PREFERENCE_WEIGHT = 0.7
SESSION_GAP_US = 30 * US_PER_MINUTE
UNLABELED_BOT_REQUESTS = 600
UNLABELED_BOT_EXTRA_MEAN = 100
ANONYMOUS_BOT_SHARE = 0.5
ANONYMOUS_TEST_SHARE = 0.5
SCROLL_DEPTH = {MOBILE: (3, 9.0), DESKTOP: (5, 15.0), TABLET: (4, 12.0)}
"""``(base, geometric mean)`` of the scroll depth per device."""


@dataclass(frozen=True)
class Requests:
    """One day's requests in timestamp order; row ``i`` has id ``r`` + ``number[i]``."""

    number: NDArray[np.int64]
    ts_us: NDArray[np.int64]
    user: NDArray[np.int32]
    """User number, -1 for anonymous requests."""
    session: NDArray[np.int64]
    surface: NDArray[np.int8]
    query: NDArray[np.int32]
    """Index into ``query_strings``, -1 on the home surface."""
    device: NDArray[np.int8]
    region: NDArray[np.int8]
    explore: NDArray[np.bool_]
    traffic: NDArray[np.int8]
    scripted: NDArray[np.bool_]
    """Bot behaviour: labelled bots and unlabeled bot users."""
    intent: NDArray[np.int32]
    scroll_depth: NDArray[np.int32]
    visibility_unknown: NDArray[np.bool_]
    age_verified: NDArray[np.bool_]
    price_sensitivity: NDArray[np.float32]
    preference: NDArray[np.float32]
    """``(requests, categories)`` preference of the requesting user (fresh if anonymous)."""

    @property
    def size(self) -> int:
        return len(self.number)

    def slice(self, start: int, stop: int) -> Requests:
        """Rows ``start:stop`` (views, no copy)."""
        return Requests(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})

    @property
    def human(self) -> NDArray[np.bool_]:
        """Requests of genuine people: traffic ``user`` minus the unlabeled bots."""
        return (self.traffic == USER_TRAFFIC) & ~self.scripted


def generate_requests(
    config: SimulatorConfig,
    catalog: Catalog,
    population: Population,
    day_start_us: int,
    first_number: int,
    first_session: int,
    rng: np.random.Generator,
) -> Requests:
    """Draw one day of requests (see module docstring); numbers and sessions continue the counters."""
    ordinary = config.requests_per_day
    shares = np.array([0.0, config.bot_share, config.internal_share, config.test_share])
    shares[USER_TRAFFIC] = max(0.0, 1.0 - shares.sum())
    traffic = rng.choice(len(shares), size=ordinary, p=shares / shares.sum()).astype(np.int8)
    bot_users = population.accounts(UNLABELED_BOT)
    bot_counts = UNLABELED_BOT_REQUESTS + rng.poisson(UNLABELED_BOT_EXTRA_MEAN, len(bot_users))
    scripted_user = np.repeat(bot_users, bot_counts).astype(np.int32)
    traffic = np.concatenate([traffic, np.full(len(scripted_user), USER_TRAFFIC, np.int8)])
    scripted = np.concatenate([traffic[:ordinary] == BOT_TRAFFIC, np.ones(len(scripted_user), bool)])
    n = len(traffic)

    offset = np.where(scripted, rng.random(n) * US_PER_DAY, _diurnal_offsets(rng, n)).astype(np.int64)
    order = np.argsort(offset, kind="stable")
    ts_us = day_start_us + offset[order]
    traffic, scripted = traffic[order], scripted[order]
    user = np.concatenate([np.full(ordinary, -1, np.int32), scripted_user])[order]
    user = _assign_users(config, population, traffic, user, rng)
    known = user >= 0
    anonymous = np.flatnonzero(~known)

    preference = population.preference[np.maximum(user, 0)]
    favourites = population.favourites[np.maximum(user, 0)]
    fresh_pref, fresh_fav = draw_preferences(rng, len(anonymous), catalog.category_share)
    preference[anonymous], favourites[anonymous] = fresh_pref, fresh_fav
    sensitivity = population.price_sensitivity[np.maximum(user, 0)]
    sensitivity[anonymous] = np.exp(PRICE_SENSITIVITY_SIGMA * rng.standard_normal(len(anonymous))).astype(
        np.float32
    )

    region = np.where(known, population.region[np.maximum(user, 0)], _draw(rng, REGION_SHARE, n))
    loyal = known & (rng.random(n) < DEVICE_LOYALTY)
    device = np.where(loyal, population.device[np.maximum(user, 0)], _draw(rng, DEVICE_SHARE, n))

    surface = np.where(rng.random(n) < SEARCH_SHARE, SEARCH, HOME).astype(np.int8)
    intent = np.where(
        surface == SEARCH, _search_intent(rng, preference, catalog), _home_intent(rng, favourites)
    )
    pattern = rng.integers(0, len(QUERY_PATTERNS), n)
    query = np.where(surface == SEARCH, intent * len(QUERY_PATTERNS) + pattern, -1).astype(np.int32)

    base = np.array([SCROLL_DEPTH[d][0] for d in range(len(DEVICES))])[device]
    mean = np.array([SCROLL_DEPTH[d][1] for d in range(len(DEVICES))])[device]
    depth = np.minimum(base + rng.geometric(1.0 / mean), config.slate_size)
    depth = np.where(scripted, config.slate_size, depth).astype(np.int32)

    return Requests(
        number=np.arange(first_number, first_number + n, dtype=np.int64),
        ts_us=ts_us,
        user=user,
        session=_sessions(user, ts_us, first_session),
        surface=surface,
        query=query,
        device=device.astype(np.int8),
        region=region.astype(np.int8),
        explore=rng.random(n) < config.exploration_share,
        traffic=traffic,
        scripted=scripted,
        intent=intent.astype(np.int32),
        scroll_depth=depth,
        visibility_unknown=rng.random(n) < config.visibility_unknown_rate,
        age_verified=known & population.age_verified[np.maximum(user, 0)],
        price_sensitivity=sensitivity,
        preference=preference,
    )


def _diurnal_offsets(rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    """Microsecond offsets into the day drawn from the diurnal curve (per-minute inverse CDF)."""
    minute = np.arange(24 * 60)
    density = 1 + DIURNAL_AMPLITUDE * np.cos(2 * np.pi * (minute / (24 * 60) - DIURNAL_PEAK_HOUR / 24))
    cdf = np.cumsum(density)
    drawn = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return (drawn + rng.random(n)) * US_PER_MINUTE


def _assign_users(
    config: SimulatorConfig,
    population: Population,
    traffic: NDArray[np.int8],
    user: NDArray[np.int32],
    rng: np.random.Generator,
) -> NDArray[np.int32]:
    """Fill in the user of each ordinary request (-1 = anonymous); scripted users are kept."""
    n = len(traffic)
    u = rng.random(n)
    organic = np.minimum(
        np.searchsorted(population.activity_cdf, rng.random(n), side="right"), population.size - 1
    )
    labelled = {
        BOT_TRAFFIC: (population.accounts(BOT_ACCOUNT), ANONYMOUS_BOT_SHARE),
        INTERNAL_TRAFFIC: (population.accounts(INTERNAL_ACCOUNT), 0.0),
        TEST_TRAFFIC: (population.accounts(TEST_ACCOUNT), ANONYMOUS_TEST_SHARE),
    }
    pick = rng.random(n)
    result = np.where(u < config.anonymous_share, -1, organic)
    for label, (accounts, anonymous) in labelled.items():
        account = accounts[np.minimum((pick * len(accounts)).astype(np.int64), len(accounts) - 1)]
        result = np.where(traffic == label, np.where(u < anonymous, -1, account), result)
    return np.where(user >= 0, user, result).astype(np.int32)


def _draw(rng: np.random.Generator, shares: tuple[float, ...], n: int) -> NDArray[np.int64]:
    return np.searchsorted(np.cumsum(shares), rng.random(n) * sum(shares), side="right")


def _search_intent(
    rng: np.random.Generator, preference: NDArray[np.float32], catalog: Catalog
) -> NDArray[np.int64]:
    """Category drawn from ``0.7 softmax(pref) + 0.3 p_global`` per request."""
    weights = np.exp(preference - preference.max(axis=1, keepdims=True))
    weights *= INTENT_PREFERENCE_WEIGHT / weights.sum(axis=1, keepdims=True)
    weights += (1 - INTENT_PREFERENCE_WEIGHT) * catalog.category_share.astype(np.float32)
    cdf = np.cumsum(weights, axis=1)
    drawn = (cdf < rng.random((len(weights), 1)) * cdf[:, -1:]).sum(axis=1)
    return np.minimum(drawn, len(catalog.category_share) - 1)


def _home_intent(rng: np.random.Generator, favourites: NDArray[np.int32]) -> NDArray[np.int32]:
    """One of the user's favourite categories, uniformly."""
    count = (favourites >= 0).sum(axis=1)
    return favourites[np.arange(len(favourites)), (rng.random(len(favourites)) * count).astype(np.int64)]


def _sessions(user: NDArray[np.int32], ts_us: NDArray[np.int64], first_session: int) -> NDArray[np.int64]:
    """Session numbers: a new session per anonymous request, per user and after 30 idle minutes."""
    order = np.lexsort((ts_us, user))
    sorted_user, sorted_ts = user[order], ts_us[order]
    new = sorted_user < 0
    new[0] = True
    new[1:] |= (sorted_user[1:] != sorted_user[:-1]) | (sorted_ts[1:] - sorted_ts[:-1] > SESSION_GAP_US)
    session = np.empty(len(user), np.int64)
    session[order] = first_session + np.cumsum(new) - 1
    return session
