"""User behaviour on the shown slates: examination, clicks and downstream events.

Model, for a shown item at 1-based position ``k`` of request ``r`` with scroll depth ``S_r``:

* the slate is rendered ``5 ms + Exp(20 ms)`` after the request (the impression time);
* visibility: the item is scrolled into view iff ``k <= S_r``; then ``visible_ms`` is
  log-normal with median ``1500 (1 + 1/k)`` ms and sigma 0.6, otherwise 0;
* examination: ``P(examined) = [k <= S_r] * k ** -position_bias`` (exactly 1 at ``k = 1``);
  scripted traffic (bots) examines everything;
* click: ``P(click | examined) = (1 - click_noise) A + click_noise * A_mean`` with
  ``A_mean = 0.2``; bots click any position with probability 0.1 regardless of the item.
  Click time is ``request + Exp(20 s) + 2 s (k - 1)``, plus ``U(30, 90)`` minutes for 2% of
  clicks (a tab revisited later);
* downstream (people only): add to cart with ``sigmoid(-1.7 + 0.5 q - 0.5 misfit)`` (about a
  quarter of clicks) ``Exp(90 s)`` after the click; purchase of a carted item with
  ``sigmoid(-1.1 + 0.5 q - 0.7 misfit)`` (about 10% of clicks overall), half within an hour
  (``U(1, 60)`` minutes) and half after ``Exp(2 days)``; the purchase is lost when the item is
  not available (out of stock, deleted or banned) at that time. 80% of purchases are
  attributed to their request. 8% of purchases are returned 1 to 20 days later (with the
  purchase's attribution and value);
* other click models (``click_model``): ``cascade`` and ``dcm`` scan the slate from the top
  down to the scroll depth, clicking an examined item with the same probability as above;
  cascade stops after the first click, DCM goes on after a click at ``k`` with probability
  ``dcm_continuation[k]`` (and always without a click). An item's true ``P(examined)`` is
  then ``[k <= S_r] prod_{j < k} (1 - c_j (1 - lambda_j))`` (``c_j`` the click probability
  of the item above, ``lambda`` = 0 for cascade), exact over the click draws.
  ``trust_bias`` examines like ``pbm`` and clicks an examined item with
  ``eps_plus_k a + eps_minus_k (1 - a)`` (``a`` the click probability above);
* examined but not clicked items are hidden with ``0.02 (1 - A)^2`` and otherwise reported
  with ``0.002 (1 - A)^2``, ``Exp(15 s) + 2 s (k - 1)`` after the request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .catalog import Catalog
from .config import SimulatorConfig, per_position
from .lifecycle import ItemTimeline
from .retrieval import Candidates
from .serving import TARGET_MEAN_ATTRACTIVENESS, Served
from .timebase import US_PER_DAY, US_PER_MINUTE, US_PER_MS, US_PER_SECOND
from .traffic import Requests
from .vocabulary import ADD_TO_CART, CLICK, HIDE, PURCHASE, REPORT, RETURN

VISIBLE_MEDIAN_MS = 1500.0
VISIBLE_SIGMA = 0.6
RENDER_DELAY_MIN_MS = 5.0
RENDER_DELAY_MEAN_MS = 20.0
BOT_CLICK_PROBABILITY = 0.1
CLICK_DELAY_MEAN_S = 20.0
CLICK_DELAY_PER_POSITION_S = 2.0
RETURNING_TAB_SHARE = 0.02
RETURNING_TAB_MINUTES = (30, 90)
CART_BIAS, CART_QUALITY, CART_MISFIT = -1.7, 0.5, 0.5
CART_DELAY_MEAN_S = 90.0
PURCHASE_BIAS, PURCHASE_QUALITY, PURCHASE_MISFIT = -1.1, 0.5, 0.7
QUICK_PURCHASE_SHARE = 0.5
SLOW_PURCHASE_MEAN_DAYS = 2.0
PURCHASE_ATTRIBUTED_SHARE = 0.8
RETURN_SHARE = 0.08
RETURN_DAYS = (1, 20)
HIDE_RATE = 0.02
REPORT_RATE = 0.002
NEGATIVE_DELAY_MEAN_S = 15.0


@dataclass(frozen=True)
class Impressions:
    """Shown items of one day, ordered by request then position."""

    row: NDArray[np.int32]
    """Request row within the day."""
    candidate: NDArray[np.intp]
    """Flat index into the day's ``(requests, K)`` candidate matrices."""
    position: NDArray[np.int32]
    item: NDArray[np.int32]
    source: NDArray[np.int8]
    ts_us: NDArray[np.int64]
    visible_ms: NDArray[np.int32]
    examination: NDArray[np.float64]
    """True ``P(examined)``."""

    @property
    def size(self) -> int:
        return len(self.row)


@dataclass(frozen=True)
class TrueEvents:
    """Everything that happened after the day's impressions, before any logging dirt."""

    kind: NDArray[np.int8]
    ts_us: NDArray[np.int64]
    item: NDArray[np.int32]
    row: NDArray[np.int32]
    attributed: NDArray[np.bool_]
    value: NDArray[np.float64]
    """Price for purchases and returns, NaN otherwise."""
    examined: NDArray[np.bool_]
    """Per impression: whether it was examined (the latent draw)."""
    lost_purchases: int
    """Purchases that did not happen because the item was unavailable at purchase time."""

    @property
    def size(self) -> int:
        return len(self.kind)


def show(
    config: SimulatorConfig,
    requests: Requests,
    candidates: Candidates,
    served: Served,
    rng: np.random.Generator,
) -> Impressions:
    """Lay out the shown slates as impressions with their visibility and true examination."""
    n, slots = served.slate.shape
    shown = served.slate >= 0
    row = np.broadcast_to(np.arange(n, dtype=np.int32)[:, None], (n, slots))[shown]
    position = np.broadcast_to(np.arange(1, slots + 1, dtype=np.int32), (n, slots))[shown]
    column = served.slate[shown].astype(np.intp)
    flat = row.astype(np.intp) * candidates.item.shape[1] + column

    visible = position <= requests.scroll_depth[row]
    median = np.float32(VISIBLE_MEDIAN_MS) * (1 + 1 / position.astype(np.float32))
    duration = median * np.exp(np.float32(VISIBLE_SIGMA) * rng.standard_normal(len(row), dtype=np.float32))
    visible_ms = np.where(visible, np.maximum(duration, 1), 0).astype(np.int32)
    decay = np.arange(1, slots + 1, dtype=np.float64) ** -config.position_bias
    examination = np.where(requests.scripted[row], 1.0, np.where(visible, decay[position - 1], 0.0))
    render_ms = RENDER_DELAY_MIN_MS + rng.exponential(RENDER_DELAY_MEAN_MS, n)
    render_us = (render_ms * US_PER_MS).astype(np.int64)
    return Impressions(
        row=row,
        candidate=flat,
        position=position,
        item=candidates.item.ravel()[flat],
        source=candidates.source.ravel()[flat],
        ts_us=(requests.ts_us + render_us)[row],
        visible_ms=visible_ms,
        examination=examination,
    )


def behave(
    config: SimulatorConfig,
    requests: Requests,
    impressions: Impressions,
    attractiveness: NDArray[np.float64],
    catalog: Catalog,
    timeline: ItemTimeline,
    rng: np.random.Generator,
) -> TrueEvents:
    """Draw clicks and downstream events for the impressions (``attractiveness`` per impression)."""
    row = impressions.row
    scripted = requests.scripted[row]
    click_p = click_probability(config, requests, impressions, attractiveness)
    examined, clicked = _examine_and_click(config, requests, impressions, click_p, rng)

    click = np.flatnonzero(clicked)
    delay_s = rng.exponential(CLICK_DELAY_MEAN_S, len(click)) + CLICK_DELAY_PER_POSITION_S * (
        impressions.position[click] - 1
    )
    returning = rng.random(len(click)) < RETURNING_TAB_SHARE
    delay_s += np.where(returning, rng.uniform(*RETURNING_TAB_MINUTES, len(click)) * 60, 0.0)
    click_ts = requests.ts_us[row[click]] + (delay_s * US_PER_SECOND).astype(np.int64)

    human = click[~scripted[click]]
    human_ts = click_ts[~scripted[click]]
    item = impressions.item[human]
    quality = catalog.quality[item]
    misfit = requests.price_sensitivity[row[human]] * np.maximum(catalog.price_premium[item], 0)
    carted = rng.random(len(human)) < _sigmoid(CART_BIAS + CART_QUALITY * quality - CART_MISFIT * misfit)
    cart, cart_ts = (
        human[carted],
        human_ts[carted] + _exponential_us(rng, CART_DELAY_MEAN_S, int(carted.sum())),
    )
    bought = rng.random(len(cart)) < _sigmoid(
        PURCHASE_BIAS + PURCHASE_QUALITY * quality[carted] - PURCHASE_MISFIT * misfit[carted]
    )
    purchase, purchase_ts = cart[bought], cart_ts[bought]
    quick = rng.random(len(purchase)) < QUICK_PURCHASE_SHARE
    purchase_ts += np.where(
        quick,
        (rng.uniform(1, 60, len(purchase)) * US_PER_MINUTE).astype(np.int64),
        _exponential_us(rng, SLOW_PURCHASE_MEAN_DAYS * US_PER_DAY / US_PER_SECOND, len(purchase)),
    )
    version = timeline.lookup(impressions.item[purchase], purchase_ts)
    available = timeline.available[version]
    purchase, purchase_ts, version = purchase[available], purchase_ts[available], version[available]
    price = timeline.price[version]
    purchase_attributed = rng.random(len(purchase)) < PURCHASE_ATTRIBUTED_SHARE
    returned = rng.random(len(purchase)) < RETURN_SHARE
    return_ts = purchase_ts[returned] + (rng.uniform(*RETURN_DAYS, int(returned.sum())) * US_PER_DAY).astype(
        np.int64
    )

    a = attractiveness
    quiet = np.flatnonzero(examined & ~clicked & ~scripted)
    dislike = (1 - a[quiet]) ** 2
    draw = rng.random(len(quiet))
    hidden = draw < HIDE_RATE * dislike
    reported = ~hidden & (draw < (HIDE_RATE + REPORT_RATE) * dislike)
    hide, report = quiet[hidden], quiet[reported]
    hide_ts = _negative_ts(rng, requests, impressions, hide)
    report_ts = _negative_ts(rng, requests, impressions, report)

    parts = [
        (CLICK, click, click_ts, None, None),
        (ADD_TO_CART, cart, cart_ts, None, None),
        (PURCHASE, purchase, purchase_ts, purchase_attributed, price),
        (HIDE, hide, hide_ts, None, None),
        (REPORT, report, report_ts, None, None),
        (RETURN, purchase[returned], return_ts, purchase_attributed[returned], price[returned]),
    ]
    index = np.concatenate([p[1] for p in parts])
    return TrueEvents(
        kind=np.concatenate([np.full(len(p[1]), p[0], np.int8) for p in parts]),
        ts_us=np.concatenate([p[2] for p in parts]),
        item=impressions.item[index],
        row=row[index],
        attributed=np.concatenate([np.ones(len(p[1]), bool) if p[3] is None else p[3] for p in parts]),
        value=np.concatenate([np.full(len(p[1]), np.nan) if p[4] is None else p[4] for p in parts]),
        examined=examined,
        lost_purchases=int((~available).sum()),
    )


def click_probability(
    config: SimulatorConfig, requests: Requests, impressions: Impressions, attractiveness: NDArray[np.float64]
) -> NDArray[np.floating]:
    """``P(click | examined)`` per impression under ``click_model`` (bots: 0.1 anywhere)."""
    scripted = requests.scripted[impressions.row]
    noise = np.float32(config.click_noise)
    relevance = (1 - noise) * attractiveness + noise * np.float32(TARGET_MEAN_ATTRACTIVENESS)
    if config.click_model == "trust_bias":
        slots = config.slate_size
        plus = np.array(per_position(config.trust_eps_plus, slots))[impressions.position - 1]
        minus = np.array(per_position(config.trust_eps_minus, slots))[impressions.position - 1]
        relevance = plus * relevance + minus * (1 - relevance)
    return np.where(scripted, np.float32(BOT_CLICK_PROBABILITY), relevance)


def _continuation(config: SimulatorConfig) -> NDArray[np.float64]:
    """``lambda_k``: probability of scanning on after a click at position ``k`` (cascade: 0)."""
    if config.click_model == "dcm":
        return np.array(per_position(config.dcm_continuation, config.slate_size))
    return np.zeros(config.slate_size)


def _slate_matrix(
    requests: Requests, impressions: Impressions, slots: int, values: NDArray, fill: float | bool
) -> NDArray:
    """``(requests, slots)`` matrix of per-impression ``values`` (``fill`` past the end of the slate)."""
    out = np.full(requests.size * slots, fill, dtype=values.dtype)
    out[impressions.row.astype(np.intp) * slots + impressions.position - 1] = values
    return out.reshape(requests.size, slots)


def _scan(
    config: SimulatorConfig, requests: Requests, impressions: Impressions, click_p: NDArray[np.floating]
) -> tuple[NDArray[np.bool_], NDArray[np.floating], NDArray[np.float64]]:
    """Visibility, click probability and continuation after a click, as ``(requests, slots)`` matrices."""
    slots = config.slate_size
    visible = impressions.position <= requests.scroll_depth[impressions.row]
    scripted = requests.scripted[:, None]
    return (
        _slate_matrix(requests, impressions, slots, visible, False),
        _slate_matrix(requests, impressions, slots, click_p, 0.0),
        np.where(scripted, 1.0, _continuation(config)[None, :]),
    )


def examination_probability(
    config: SimulatorConfig, requests: Requests, impressions: Impressions, click_p: NDArray[np.floating]
) -> NDArray[np.float64]:
    """True ``P(examined)`` per impression: ``impressions.examination`` for ``pbm`` and
    ``trust_bias``; for ``cascade`` and ``dcm`` the exact probability over the click draws
    above, ``[k <= S] prod_{j < k} (1 - c_j (1 - lambda_j))`` (1 for scripted bots)."""
    if config.click_model in ("pbm", "trust_bias"):
        return impressions.examination
    visible, click, go_on = _scan(config, requests, impressions, click_p)
    stay = 1.0 - click * (1.0 - go_on)
    reach = np.ones(stay.shape)
    np.cumprod(stay[:, :-1], axis=1, out=reach[:, 1:])
    cell = impressions.row.astype(np.intp) * config.slate_size + impressions.position - 1
    return np.where(visible, reach, 0.0).ravel()[cell]


def _examine_and_click(
    config: SimulatorConfig,
    requests: Requests,
    impressions: Impressions,
    click_p: NDArray[np.floating],
    rng: np.random.Generator,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Latent examination and clicks per impression under ``click_model``."""
    size = impressions.size
    if config.click_model in ("pbm", "trust_bias"):
        examined = rng.random(size, dtype=np.float32) < impressions.examination
        clicked = examined & (rng.random(size, dtype=np.float32) < click_p)
        return examined, clicked
    slots = config.slate_size
    go_on_draw = _slate_matrix(requests, impressions, slots, rng.random(size, dtype=np.float32), 1.0)
    click_draw = _slate_matrix(requests, impressions, slots, rng.random(size, dtype=np.float32), 1.0)
    visible, click, go_on = _scan(config, requests, impressions, click_p)
    examined = np.zeros(visible.shape, bool)
    clicked = np.zeros(visible.shape, bool)
    scanning = np.ones(requests.size, bool)
    for k in range(slots):
        examined[:, k] = scanning & visible[:, k]
        clicked[:, k] = examined[:, k] & (click_draw[:, k] < click[:, k])
        scanning = examined[:, k] & (~clicked[:, k] | (go_on_draw[:, k] < go_on[:, k]))
    cell = impressions.row.astype(np.intp) * slots + impressions.position - 1
    return examined.ravel()[cell], clicked.ravel()[cell]


def _negative_ts(
    rng: np.random.Generator, requests: Requests, impressions: Impressions, index: NDArray[np.intp]
) -> NDArray[np.int64]:
    delay_s = rng.exponential(NEGATIVE_DELAY_MEAN_S, len(index)) + CLICK_DELAY_PER_POSITION_S * (
        impressions.position[index] - 1
    )
    return requests.ts_us[impressions.row[index]] + (delay_s * US_PER_SECOND).astype(np.int64)


def _exponential_us(rng: np.random.Generator, mean_s: float, size: int) -> NDArray[np.int64]:
    return (rng.exponential(mean_s, size) * US_PER_SECOND).astype(np.int64)


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))
