"""Item lifecycle: the versioned state (stock, price, status) of every item over time.

Model, on the window ``[T0, T1)``:

* every item starts with a ``created`` version (active, in stock, list price);
* ``deletion_rate`` of the items are deleted at a time uniform in ``[max(created, T0), T1)``;
* ``ban_rate`` of the brands are banned at a time uniform in ``[T0, T1)``: every item of the
  brand gets a ``banned`` version then (or one second after its creation, if later).
  Deletion and ban are terminal: the earlier one is kept and nothing happens afterwards;
* stock-outs arrive as a Poisson process of ``stockout_rate`` per item-day over the window and
  last ``Exp(mean 1 day)``; overlapping stock-outs merge; the restock is a new version (none if
  it falls after the window or the item's end);
* price changes arrive at ``0.01`` per item-day and multiply the price by ``exp(N(0, 0.1))``;
* ``correction_rate`` of the versions are back-dated corrections: recorded 1 to 48 hours after
  they took effect (``recorded_at > valid_from``); the others are recorded when they take effect.

All version times are whole seconds, which makes the integer lookup keys exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .catalog import PRE_EXISTING_DAYS, Catalog
from .config import SimulatorConfig
from .timebase import US_PER_DAY, US_PER_HOUR, US_PER_SECOND, date_to_us
from .vocabulary import ACTIVE, BANNED, DELETED

VERSION_KINDS: tuple[str, ...] = ("created", "out_of_stock", "restocked", "price_change", "deleted", "banned")
CREATED, OUT_OF_STOCK, RESTOCKED, PRICE_CHANGE, DELETION, BAN = range(6)

PRICE_CHANGE_RATE = 0.01
PRICE_CHANGE_SIGMA = 0.1
MEAN_STOCKOUT_DAYS = 1.0
CORRECTION_DELAY_HOURS = (1.0, 48.0)
_KEY_SHIFT = 34
"""Lookup keys are ``item << 34 | seconds since origin``: exact for 2**29 items and 500 years."""

_NEVER = np.iinfo(np.int64).max


def at_least_one(rate: float, population: int) -> int:
    """``round(rate * population)``, but at least 1 when the rate is positive (so dirt is present)."""
    if rate <= 0 or population == 0:
        return 0
    return min(population, max(1, round(rate * population)))


@dataclass(frozen=True)
class DayIndex:
    """Fast path for state lookups inside one day."""

    snapshot: NDArray[np.intp]
    """Version in force at the start of the day, per item (-1 before creation)."""
    changed: NDArray[np.bool_]
    """Items with a version taking effect strictly inside the day."""


@dataclass(frozen=True)
class ItemTimeline:
    """All item versions, sorted by ``(item, valid_from)``."""

    item: NDArray[np.int32]
    valid_from_us: NDArray[np.int64]
    recorded_us: NDArray[np.int64]
    kind: NDArray[np.int8]
    price: NDArray[np.float64]
    in_stock: NDArray[np.bool_]
    status: NDArray[np.int8]
    banned_brands: NDArray[np.int64]
    origin_s: int
    keys: NDArray[np.int64]

    @property
    def available(self) -> NDArray[np.bool_]:
        """Per version: the item can be sold (active and in stock)."""
        return (self.status == ACTIVE) & self.in_stock

    def lookup(self, items: NDArray[np.integer], t_us: NDArray[np.int64]) -> NDArray[np.intp]:
        """Version in force for each ``(item, time)``; the item must exist at that time."""
        query = (items.astype(np.int64) << _KEY_SHIFT) | (t_us // US_PER_SECOND - self.origin_s)
        return np.searchsorted(self.keys, query, side="right") - 1

    def day_index(self, day_start_us: int, day_end_us: int) -> DayIndex:
        """Precompute the per-item state at ``day_start_us`` and which items change before ``day_end_us``."""
        n = int(self.item.max()) + 1
        items = np.arange(n, dtype=np.int32)
        version = self.lookup(items, np.full(n, day_start_us, np.int64))
        exists = (version >= 0) & (self.item[np.maximum(version, 0)] == items)
        changed = np.zeros(n, bool)
        inside = (self.valid_from_us > day_start_us) & (self.valid_from_us < day_end_us)
        changed[self.item[inside]] = True
        return DayIndex(snapshot=np.where(exists, version, -1), changed=changed)

    def versions_at(
        self, items: NDArray[np.integer], t_us: NDArray[np.int64], day: DayIndex
    ) -> NDArray[np.intp]:
        """Like :meth:`lookup` for times inside ``day``, searching only items that change that day."""
        version = day.snapshot[items]
        moving = day.changed[items]
        version[moving] = self.lookup(items[moving], t_us[moving])
        return version


def build_timeline(config: SimulatorConfig, catalog: Catalog, rng: np.random.Generator) -> ItemTimeline:
    """Draw every item's versions as described in the module docstring (times in whole seconds)."""
    n = catalog.size
    t0 = date_to_us(config.start) // US_PER_SECOND
    t1 = t0 + config.days * US_PER_DAY // US_PER_SECOND
    created = catalog.created_us // US_PER_SECOND

    deleted = np.full(n, _NEVER)
    chosen = rng.choice(n, size=at_least_one(config.deletion_rate, n), replace=False)
    deleted[chosen] = _uniform_s(rng, np.maximum(created[chosen], t0), t1)
    banned_brands = np.sort(
        rng.choice(catalog.brands, size=at_least_one(config.ban_rate, catalog.brands), replace=False)
    )
    brand_ban = np.full(catalog.brands, _NEVER)
    brand_ban[banned_brands] = _uniform_s(rng, np.full(len(banned_brands), t0), t1)
    banned = np.where(
        brand_ban[catalog.brand] < _NEVER, np.maximum(brand_ban[catalog.brand], created + 1), _NEVER
    )
    end = np.minimum(deleted, banned)
    ends = (end < t1) & (end < _NEVER)
    end_kind = np.where(deleted <= banned, DELETION, BAN)

    out_item, out_s, back_item, back_s = _stockouts(config, rng, created, end, t0, t1)
    change_count = rng.poisson(PRICE_CHANGE_RATE * config.days, n)
    change_item = np.repeat(np.arange(n), change_count)
    change_s = _uniform_s(rng, np.full(len(change_item), t0), t1)
    change_factor = PRICE_CHANGE_SIGMA * rng.standard_normal(len(change_item))
    keep = (change_s > created[change_item]) & (change_s < end[change_item])
    change_item, change_s, change_factor = change_item[keep], change_s[keep], change_factor[keep]

    terminal = np.flatnonzero(ends)
    item = np.concatenate([np.arange(n), out_item, back_item, change_item, terminal])
    time_s = np.concatenate([created, out_s, back_s, change_s, end[terminal]])
    kind = np.concatenate(
        [
            np.full(n, CREATED),
            np.full(len(out_item), OUT_OF_STOCK),
            np.full(len(back_item), RESTOCKED),
            np.full(len(change_item), PRICE_CHANGE),
            end_kind[terminal],
        ]
    ).astype(np.int8)
    log_factor = np.concatenate(
        [np.zeros(n + len(out_item) + len(back_item)), change_factor, np.zeros(len(terminal))]
    )
    order = np.lexsort((kind, time_s, item))
    item, time_s, kind, log_factor = item[order], time_s[order], kind[order], log_factor[order]

    positions = np.arange(len(item))
    last_stock = np.maximum.accumulate(np.where(kind <= RESTOCKED, positions, 0))
    first = np.maximum.accumulate(np.where(kind == CREATED, positions, 0))
    cumulative = np.cumsum(log_factor)
    price = np.round(catalog.list_price[item] * np.exp(cumulative - cumulative[first]), 2)
    status = np.select([kind == DELETION, kind == BAN], [DELETED, BANNED], ACTIVE).astype(np.int8)

    corrected = rng.random(len(item)) < config.correction_rate
    low, high = (h * US_PER_HOUR // US_PER_SECOND for h in CORRECTION_DELAY_HOURS)
    delay_s = np.where(corrected, rng.integers(low, high + 1, len(item)), 0)
    origin_s = t0 - (PRE_EXISTING_DAYS + 1) * US_PER_DAY // US_PER_SECOND
    return ItemTimeline(
        item=item.astype(np.int32),
        valid_from_us=time_s * US_PER_SECOND,
        recorded_us=(time_s + delay_s) * US_PER_SECOND,
        kind=kind,
        price=price,
        in_stock=kind[last_stock] != OUT_OF_STOCK,
        status=status,
        banned_brands=banned_brands.astype(np.int64),
        origin_s=origin_s,
        keys=(item.astype(np.int64) << _KEY_SHIFT) | (time_s - origin_s),
    )


def _stockouts(
    config: SimulatorConfig,
    rng: np.random.Generator,
    created: NDArray[np.int64],
    end: NDArray[np.int64],
    t0: int,
    t1: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Return ``(item, time)`` of the stock-outs and of the restocks, with overlapping outages merged."""
    count = rng.poisson(config.stockout_rate * config.days, len(created))
    item = np.repeat(np.arange(len(created)), count)
    start = _uniform_s(rng, np.full(len(item), t0), t1)
    stop = start + 1 + np.floor(rng.exponential(MEAN_STOCKOUT_DAYS * 86_400, len(item))).astype(np.int64)
    keep = (start > created[item]) & (start < end[item])
    item, start, stop = item[keep], start[keep], stop[keep]
    order = np.lexsort((start, item))
    item, start, stop = item[order], start[order], stop[order]
    # Shift every item's times into its own disjoint band, so that a running maximum never
    # crosses items; a stock-out opens a new outage iff it starts after all earlier ones ended.
    band = item.astype(np.int64) << _KEY_SHIFT
    reach = np.maximum.accumulate(stop - t0 + band)
    opens = np.ones(len(item), bool)
    opens[1:] = start[1:] - t0 + band[1:] > reach[:-1]
    first = np.flatnonzero(opens)
    back = np.maximum.reduceat(stop, first) if len(first) else stop[:0]
    item, start = item[first], start[first]
    restocked = back < np.minimum(end[item], t1)
    return item, start, item[restocked], back[restocked]


def _uniform_s(rng: np.random.Generator, low: NDArray[np.int64], high: int) -> NDArray[np.int64]:
    """Whole seconds uniform in ``[low, high)`` (``low`` where the interval is empty)."""
    span = np.maximum(high - low, 1)
    return low + np.floor(rng.random(len(low)) * span).astype(np.int64)
