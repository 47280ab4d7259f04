"""The static world of a simulation: catalog, item lifecycle and users, plus their id strings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .arrays import consecutive_id_matrix, digits_for, string_array, strings
from .catalog import Catalog, build_catalog
from .config import SimulatorConfig
from .lifecycle import ItemTimeline, build_timeline
from .users import Population, build_population
from .vocabulary import category_code, query_strings

ITEM_DIGITS = 5
USER_DIGITS = 6
BRAND_DIGITS = 4
GROUP_DIGITS = 5


@dataclass(frozen=True)
class World:
    """Everything that does not change from day to day."""

    catalog: Catalog
    timeline: ItemTimeline
    population: Population
    item_ids: pa.StringArray
    """``item_id`` of item number ``i`` at index ``i`` (the dictionary of every item column)."""
    user_ids: pa.StringArray
    brand_ids: pa.StringArray
    dedup_group_ids: pa.StringArray
    category_codes: pa.StringArray
    queries: pa.StringArray


def build_world(config: SimulatorConfig, seed: np.random.SeedSequence) -> World:
    """Draw the catalog, its lifecycle and the population from independent child streams."""
    catalog_seed, timeline_seed, population_seed = seed.spawn(3)
    catalog = build_catalog(config, np.random.default_rng(catalog_seed))
    timeline = build_timeline(config, catalog, np.random.default_rng(timeline_seed))
    population = build_population(config, catalog.category_share, np.random.default_rng(population_seed))
    groups = int(catalog.dedup_group.max()) + 1
    return World(
        catalog=catalog,
        timeline=timeline,
        population=population,
        item_ids=_ids("i", config.items, ITEM_DIGITS),
        user_ids=_ids("u", config.users, USER_DIGITS),
        brand_ids=_ids("b", catalog.brands, BRAND_DIGITS),
        dedup_group_ids=_ids("g", groups, GROUP_DIGITS),
        category_codes=strings([category_code(c, config.categories) for c in range(config.categories)]),
        queries=strings(query_strings(config.categories)),
    )


def _ids(prefix: str, count: int, minimum_digits: int) -> pa.StringArray:
    return string_array(consecutive_id_matrix(prefix, 0, count, digits_for(count, minimum_digits)))
