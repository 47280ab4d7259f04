"""Retrieval metrics over the full eligible catalog, not sampled metrics.

For every held-out request with a click, every item of the catalog is scored and the items
the request could not have been shown at its time are removed (not active or out of stock
then, not sold in its region, age restricted for an unverified user: the sampler's own
filters, ``sql/model/retrieval_evaluation/eligible.sql``). A clicked item's rank is the
number of eligible items scored above it (plus half the items tied with it: ties broken at random,
in expectation). Per request: Recall@K (share of its clicked
items in the top K) and NDCG@100 (binary gains); per clicked item: head or tail (the
training days' most clicked items taking 80% of clicks are the head); per request: the
mean training clicks of the 100 items retrieved (how popularity-biased a model is).
Intervals: 95% bootstrap over requests, paired between variants.

Held-out clicks happen only on what the logging system showed, so click recall rewards a model
for reproducing the exposure. ``ips_recall@100`` weighs each click by the inverse of its item's
exposure propensity (the share of training requests that showed it, smoothed by one; weights
clipped at their 95th percentile; self-normalized): on the simulator it picked the arm the truth
picks on 3 of 3 seeds where click recall did on 1 (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .data import index_of

KS = (50, 100, 200)
#: what retrieval_evaluation reports, in this order: the model and its three controls
VARIANTS = ("model", "no_logq", "full_softmax", "popularity")
NDCG_K = 100
IPS_K = 100
#: held-out clicks weighted by the inverse of their item's exposure (the comparison's judge without truth)
IPS_RECALL = f"ips_recall@{IPS_K}"
BOOTSTRAP = 200
BLOCK_CELLS = 8_000_000  # requests x items scored at once (64 MB of float64): blocks shrink as the catalog grows


def block_rows(items: int, most: int = 1024) -> int:
    """How many requests to score at once against ``items`` items."""
    return max(1, min(most, BLOCK_CELLS // max(items, 1)))


@dataclass
class HeldOut:
    """Held-out requests (one row each, by time) and their clicked items."""

    context: pa.Table                 # one row per request: the context fields
    request_ts: np.ndarray            # (R,) int64 microseconds, non-decreasing
    audience: np.ndarray              # (R,) audience index (region x age verification)
    positive_request: np.ndarray      # (Q,) request row of each click
    positive_item: np.ndarray         # (Q,) catalog index of the clicked item (-1 unknown)
    interval_item: np.ndarray         # eligibility intervals: catalog index,
    interval_from: np.ndarray         # start (us), end (us, exclusive),
    interval_to: np.ndarray
    interval_audience: np.ndarray     # and audience
    request_ids: pa.Array

    @classmethod
    def from_tables(cls, clicks: pa.Table, eligible: pa.Table, item_ids: pa.Array) -> HeldOut:
        """``clicks``: requests.sql rows (ordered by request time); ``eligible``: eligible.sql rows."""
        rid = clicks.column("request_id").combine_chunks()
        first = np.r_[True, pc.not_equal(rid[1:], rid[:-1]).to_numpy(zero_copy_only=False)] if len(rid) else np.zeros(0, bool)
        rows = np.flatnonzero(first)
        positive_request = np.cumsum(first) - 1
        context = clicks.take(pa.array(rows))
        aud_keys = pc.binary_join_element_wise(pc.fill_null(context.column("region"), ""),
                                               pc.cast(context.column("age_verified"), pa.string()), "|")
        el_keys = pc.binary_join_element_wise(pc.fill_null(eligible.column("region"), ""),
                                              pc.cast(eligible.column("age_verified"), pa.string()), "|")
        universe = pc.unique(pa.chunked_array([aud_keys, el_keys]).combine_chunks())
        return cls(
            context=context,
            request_ts=_micros(context.column("request_ts")),
            audience=index_of(aud_keys, universe),
            positive_request=positive_request.astype(np.int64),
            positive_item=index_of(clicks.column("item_id"), item_ids),
            interval_item=index_of(eligible.column("item_id"), item_ids),
            interval_from=_micros(eligible.column("valid_from")),
            interval_to=_micros(eligible.column("valid_to")),
            interval_audience=index_of(el_keys, universe),
            request_ids=context.column("request_id").combine_chunks(),
        )

    @property
    def requests(self) -> int:
        return self.context.num_rows

    def eligibility(self, rows: slice, items: int) -> np.ndarray:
        """``(len(rows), items)`` True where the item is eligible at the request's time for its audience."""
        ts = self.request_ts[rows]
        aud = self.audience[rows]
        out = np.zeros((len(ts), items), bool)
        if not len(ts):
            return out
        overlap = (self.interval_to > ts[0]) & (self.interval_from <= ts[-1]) & (self.interval_item >= 0)
        for a in np.unique(aud):
            sub = np.flatnonzero(aud == a)
            sel = overlap & (self.interval_audience == a)
            lo = np.searchsorted(ts[sub], self.interval_from[sel], side="left")
            hi = np.searchsorted(ts[sub], self.interval_to[sel], side="left")
            diff = np.zeros((len(sub) + 1, items), np.int16)
            np.add.at(diff, (lo, self.interval_item[sel]), 1)
            np.add.at(diff, (hi, self.interval_item[sel]), -1)
            out[sub] = np.cumsum(diff[:-1], axis=0) > 0
        return out


def _micros(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(column, pa.timestamp("us")).cast(pa.int64()).to_numpy(zero_copy_only=False)


@dataclass
class Ranked:
    """Per held-out click its rank among the eligible items; per request the mean popularity
    of its top 100 (and, when a truth scorer is given, per-request truth metrics)."""

    rank: np.ndarray                   # (Q,) 0-based rank of each click, ties counted half (inf when not eligible)
    top_popularity: np.ndarray         # (R,)
    truth: dict[str, np.ndarray]       # metric -> (R,)


Scorer = Callable[[slice], np.ndarray]


def rank_clicks(scorers: Mapping[str, Scorer], held: HeldOut, items: int, popularity: np.ndarray,
                truth: Scorer | None = None, chunk: int | None = None) -> dict[str, Ranked]:
    """Rank every held-out click among its request's eligible items, for each scorer.
    ``scorer(rows)`` gives the ``(rows, items)`` scores of a block of requests; ``truth(rows)``
    the true relevance of every item (optional). The scorers share one pass over the requests:
    eligibility and the truth's best items are computed once per block, whatever their number."""
    out = {name: Ranked(np.full(len(held.positive_item), np.inf), np.zeros(held.requests), {}) for name in scorers}
    k_top = min(NDCG_K, items)
    chunk = chunk or block_rows(items)
    for start in range(0, held.requests, chunk):
        rows = slice(start, min(start + chunk, held.requests))
        eligible = held.eligibility(rows, items)
        q = np.flatnonzero((held.positive_request >= rows.start) & (held.positive_request < rows.stop))
        r = held.positive_request[q] - rows.start
        known = held.positive_item[q] >= 0
        reference = _TruthReference(np.where(eligible, truth(rows), -np.inf), k_top) if truth is not None and k_top else None
        for name, score in scorers.items():
            ranked = out[name]
            s = np.where(eligible, score(rows), -np.inf)
            own = np.where(known, s[r, np.maximum(held.positive_item[q], 0)], -np.inf)
            ok = known & np.isfinite(own)
            # ties broken at random in expectation: a constant score (popularity of unclicked items) earns no rank
            above = (s[r[ok]] > own[ok, None]).sum(axis=1)
            tied = (s[r[ok]] == own[ok, None]).sum(axis=1) - 1
            ranked.rank[q[ok]] = above + tied / 2.0
            if not k_top:
                continue
            top = np.argpartition(-s, k_top - 1, axis=1)[:, :k_top]
            top_scores = np.take_along_axis(s, top, axis=1)
            ranked.top_popularity[rows] = np.where(np.isfinite(top_scores), popularity[top], np.nan).mean(axis=1)
            if reference is not None:
                for metric, values in reference.metrics(top, top_scores).items():
                    ranked.truth.setdefault(metric, np.zeros(held.requests))[rows] = values
    return out


class _TruthReference:
    """A block's true relevance over the eligible catalog, its ``k`` truly best items and their ideal DCG."""

    def __init__(self, relevance: np.ndarray, k: int):
        self.relevance, self.k = relevance, k
        true_top = np.argpartition(-relevance, k - 1, axis=1)[:, :k]
        self.in_true_top = np.zeros(relevance.shape, bool)
        np.put_along_axis(self.in_true_top, true_top, True, axis=1)
        self.discount = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = np.sort(np.nan_to_num(np.take_along_axis(relevance, true_top, axis=1), neginf=0.0), axis=1)[:, ::-1]
        self.idcg = (ideal * self.discount).sum(axis=1)

    def metrics(self, model_top: np.ndarray, top_scores: np.ndarray) -> dict[str, np.ndarray]:
        """Against true relevance over the whole eligible catalog, for a model's top ``k`` (unordered)
        and their scores: the share of the truly best ``k`` items it retrieves, and NDCG@k with
        the true relevance as gain."""
        k = self.k
        hits = np.take_along_axis(self.in_true_top, model_top, axis=1).sum(axis=1)
        order = np.take_along_axis(model_top, np.argsort(-top_scores, axis=1), axis=1)
        gains = np.nan_to_num(np.take_along_axis(self.relevance, order, axis=1), neginf=0.0)
        dcg = (gains * self.discount).sum(axis=1)
        return {f"truth_recall@{k}": hits / k,
                f"truth_ndcg@{k}": np.where(self.idcg > 0, dcg / np.maximum(self.idcg, 1e-12), 0.0)}


IPS_CLIP_QUANTILE = 95  # exposure weights above this percentile of the clicks' weights are clipped to it


def exposure_weights(exposures: np.ndarray, requests: int, clicked: np.ndarray) -> np.ndarray:
    """Per held-out click, the inverse of its item's exposure propensity: ``(requests + 1) /
    (exposures + 1)`` from the training days (an item never shown there gets the largest),
    clipped at the clicks' 95th percentile. ``clicked``: catalog index per click, -1 unknown."""
    shown = np.where(clicked >= 0, exposures[np.maximum(clicked, 0)], 0.0)
    weight = (requests + 1.0) / (shown + 1.0)
    return np.minimum(weight, np.percentile(weight, IPS_CLIP_QUANTILE)) if len(weight) else weight


def per_request(ranked: Ranked, held: HeldOut, exposure_weight: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-request metric values (each request weighs the same; for ``ips_recall@100``, given
    ``exposure_weight`` per click, each click weighs its weight, so the mean over requests is
    the self-normalized estimate)."""
    n = held.requests
    clicks = np.bincount(held.positive_request, minlength=n).astype(float)
    out = {}
    for k in KS:
        hits = np.bincount(held.positive_request, weights=(ranked.rank < k).astype(float), minlength=n)
        out[f"recall@{k}"] = hits / np.maximum(clicks, 1)
    if exposure_weight is not None and len(exposure_weight):
        weighted = np.bincount(held.positive_request, weights=exposure_weight * (ranked.rank < IPS_K), minlength=n)
        out[IPS_RECALL] = weighted / (exposure_weight.sum() / max(n, 1))
    gain = np.where(ranked.rank < NDCG_K, 1.0 / np.log2(np.minimum(ranked.rank, NDCG_K) + 2.0), 0.0)
    dcg = np.bincount(held.positive_request, weights=gain, minlength=n)
    ideal = np.cumsum(1.0 / np.log2(np.arange(NDCG_K) + 2.0))
    out[f"ndcg@{NDCG_K}"] = dcg / ideal[np.clip(clicks.astype(int), 1, NDCG_K) - 1]
    out["top100_popularity"] = ranked.top_popularity
    out |= ranked.truth
    return out


def slice_recall(ranked: Ranked, in_slice: np.ndarray, k: int = 100) -> float:
    """Recall@k over the clicks of a slice (head or tail items), each click weighing the same."""
    return float((ranked.rank[in_slice] < k).mean()) if in_slice.any() else float("nan")


def bootstrap(values: dict[str, np.ndarray], seed: int, n: int = BOOTSTRAP) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of each metric's mean over requests (the same resamples for
    every metric, so differences of variants computed from the same draws are paired)."""
    if not values:
        return {}
    r = len(next(iter(values.values())))
    if r == 0:
        return {k: (float("nan"), float("nan")) for k in values}
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(r, np.full(r, 1.0 / r), size=n) / r  # (n, R)
    out = {}
    for k, v in values.items():
        means = weights @ np.nan_to_num(v, nan=0.0)
        lo, hi = np.percentile(means, [2.5, 97.5])
        out[k] = (float(lo), float(hi))
    return out


def validation_recall(model, item_fields: np.ndarray, examples, allowed: np.ndarray, k: int = 100) -> float:
    """Recall@k of the validation day's clicks over that day's catalog (what early stopping
    watches; the held-out evaluation is ``rank_clicks``)."""
    if not len(examples):
        return float("nan")
    vec, bias = (a.astype(np.float32) for a in model.item_vectors(item_fields))  # as the held-out scorer
    hits, step = 0, block_rows(len(vec), 4096)
    for start in range(0, len(examples), step):
        rows = slice(start, start + step)
        scores = model.user_vectors(examples.ctx[rows]).astype(np.float32) @ vec.T + bias
        s = np.where(allowed[examples.day[rows]], scores, -np.inf)
        own = s[np.arange(len(s)), examples.positive[rows]]
        hits += int(((s > own[:, None]).sum(axis=1) < k).sum())
    return hits / len(examples)
