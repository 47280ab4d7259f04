"""The item catalog: static attributes and latent truth of every item.

Model (all draws from one generator):

* categories ``c`` have a Zipf-like share ``p_c ∝ (c + 1) ** -0.8``; each item draws its
  category from it, a subcategory uniformly among five and a brand among the brands of its
  category (``items / 25`` brands, brand ``b`` belongs to category ``b % categories``);
* latent quality ``q ~ N(0, 1)``;
* popularity prior ``exp(0.3 q + sqrt(1 - 0.3²) e)``, ``e ~ N(0, 1)``: log-normal, its log
  correlated 0.3 with quality. It is the "hype" over-weighted by the logging ranker;
* list price ``m_c * exp(N(0, 0.5))`` with a per-category median ``m_c`` log-uniform in
  [15, 150];
* about 20% of items are variants in dedup groups of 2 to 4: they copy the category,
  subcategory and brand of the group's first item, their quality is its quality plus
  ``N(0, 0.2)`` and their price its price times ``exp(N(0, 0.1))``;
* 15% of items are sellable in one or two regions only, 3% are age restricted;
* 90% of items were created in the 60 days before the window, the rest during it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .config import SimulatorConfig
from .timebase import US_PER_DAY, US_PER_SECOND, date_to_us
from .vocabulary import REGIONS

CATEGORY_ZIPF = 0.8
SUBCATEGORIES = 5
ITEMS_PER_BRAND = 25
POPULARITY_QUALITY_CORRELATION = 0.3
PRICE_MEDIAN_RANGE = (15.0, 150.0)
PRICE_SIGMA = 0.5
DEDUP_SHARE = 0.2
DEDUP_SIZES = (2, 4)
VARIANT_QUALITY_SIGMA = 0.2
VARIANT_PRICE_SIGMA = 0.1
REGION_RESTRICTED_SHARE = 0.15
AGE_RESTRICTED_SHARE = 0.03
PRE_EXISTING_SHARE = 0.9
PRE_EXISTING_DAYS = 60


@dataclass(frozen=True)
class Catalog:
    """Per-item arrays indexed by item number (``item_id`` = ``i`` + zero-padded number)."""

    category: NDArray[np.int32]
    subcategory: NDArray[np.int32]
    """Subcategory within the category, ``0 .. SUBCATEGORIES - 1``."""
    brand: NDArray[np.int32]
    quality: NDArray[np.float64]
    popularity: NDArray[np.float64]
    list_price: NDArray[np.float64]
    price_premium: NDArray[np.float64]
    """``log(list_price / category median)``: how expensive the item is for its category."""
    region_mask: NDArray[np.uint8]
    """Bit ``r`` set when the item is sellable in ``REGIONS[r]``; 0 means everywhere."""
    age_restricted: NDArray[np.bool_]
    dedup_group: NDArray[np.int32]
    """Dedup group number, -1 for singletons."""
    created_us: NDArray[np.int64]
    category_share: NDArray[np.float64]
    brands: int

    @property
    def size(self) -> int:
        return len(self.category)

    @property
    def popularity_z(self) -> NDArray[np.float64]:
        """Standardised log popularity prior (the popularity feature of the logging ranker)."""
        log_pop = np.log(self.popularity)
        return (log_pop - log_pop.mean()) / log_pop.std()


def category_shares(categories: int) -> NDArray[np.float64]:
    """Zipf-like global category distribution."""
    share = np.arange(1, categories + 1, dtype=np.float64) ** -CATEGORY_ZIPF
    return share / share.sum()


def build_catalog(config: SimulatorConfig, rng: np.random.Generator) -> Catalog:
    """Draw the catalog described in the module docstring."""
    n, categories = config.items, config.categories
    share = category_shares(categories)
    leader, group = _dedup_groups(rng, n)
    variant = group >= 0

    category = rng.choice(categories, size=n, p=share).astype(np.int32)[leader]
    subcategory = rng.integers(0, SUBCATEGORIES, n, dtype=np.int32)[leader]
    brands = max(1, round(n / ITEMS_PER_BRAND))
    brand = _brands(rng, category, brands, categories)[leader]

    quality = rng.standard_normal(n)
    quality = np.where(variant, quality[leader] + VARIANT_QUALITY_SIGMA * rng.standard_normal(n), quality)
    rho = POPULARITY_QUALITY_CORRELATION
    popularity = np.exp(rho * quality + math.sqrt(1 - rho**2) * rng.standard_normal(n))

    low, high = np.log(PRICE_MEDIAN_RANGE)
    median = np.exp(rng.uniform(low, high, categories))
    price = median[category] * np.exp(PRICE_SIGMA * rng.standard_normal(n))
    price = np.where(variant, price[leader] * np.exp(VARIANT_PRICE_SIGMA * rng.standard_normal(n)), price)
    price = np.maximum(np.round(price, 2), 0.99)

    start_us = date_to_us(config.start)
    pre_existing = np.zeros(n, bool)
    pre_existing[rng.permutation(n)[: round(PRE_EXISTING_SHARE * n)]] = True
    age_us = rng.uniform(0, PRE_EXISTING_DAYS * US_PER_DAY, n)
    since_start_us = rng.uniform(0, config.days * US_PER_DAY, n)
    created = np.where(pre_existing, start_us - age_us, start_us + since_start_us)
    created_us = (created // US_PER_SECOND).astype(np.int64) * US_PER_SECOND

    return Catalog(
        category=category,
        subcategory=subcategory,
        brand=brand,
        quality=quality,
        popularity=popularity,
        list_price=price,
        price_premium=np.log(price / median[category]),
        region_mask=_region_masks(rng, n),
        age_restricted=rng.random(n) < AGE_RESTRICTED_SHARE,
        dedup_group=group,
        created_us=created_us,
        category_share=share,
        brands=brands,
    )


def _dedup_groups(rng: np.random.Generator, n: int) -> tuple[NDArray[np.intp], NDArray[np.int32]]:
    """Return each item's group leader (itself for singletons) and group number (-1 for singletons)."""
    target = round(DEDUP_SHARE * n)
    sizes = rng.integers(DEDUP_SIZES[0], DEDUP_SIZES[1] + 1, size=target // DEDUP_SIZES[0] + 1)
    sizes = sizes[np.cumsum(sizes) <= target]
    members = rng.permutation(n)[: sizes.sum()]
    first = np.cumsum(sizes) - sizes
    leader = np.arange(n)
    leader[members] = members[np.repeat(first, sizes)]
    group = np.full(n, -1, np.int32)
    group[members] = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    return leader, group


def _brands(
    rng: np.random.Generator, category: NDArray[np.int32], brands: int, categories: int
) -> NDArray[np.int32]:
    """Brand ``b`` belongs to category ``b % categories``; categories without a brand use any brand."""
    per_category = (brands - np.arange(categories) + categories - 1) // categories
    count = per_category[category]
    u = rng.random(len(category))
    own = category + categories * np.floor(u * np.maximum(count, 1)).astype(np.int64)
    anywhere = np.floor(u * brands).astype(np.int64)
    return np.where(count > 0, own, anywhere).astype(np.int32)


def _region_masks(rng: np.random.Generator, n: int) -> NDArray[np.uint8]:
    """Bit masks of the sellable regions: 0 (everywhere) for 85% of items, one or two regions otherwise."""
    regions = len(REGIONS)
    first = rng.integers(0, regions, n)
    second = (first + rng.integers(1, regions, n)) % regions
    two = rng.random(n) < 0.5
    mask = (1 << first) | np.where(two, 1 << second, 0)
    return np.where(rng.random(n) < REGION_RESTRICTED_SHARE, mask, 0).astype(np.uint8)
