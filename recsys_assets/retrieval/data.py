"""The retrieval model's inputs, read from the warehouse as Arrow and turned into arrays.

Positives are the clicks of the training days (the positives the retrieval sampler drew
negatives for); each one's negatives come from a pool (``retrieval_negatives``, or an
arm's draws in the comparison) with the mixture probability its logQ correction needs.
Items are indexed by their row in the catalog (every item the warehouse knows, sorted by
id, with its attributes as of the end of the training period).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys_assets.policies.samplers import RETRIEVAL_SOURCES
from recsys_assets.warehouse.sql import arrow_query

from .model import CONTEXT_FIELDS, ITEM_FIELDS, TwoTower, Vocabulary
from .training import Examples

_SEP = "\x1f"
NO_NEGATIVES = pa.table({"request_id": pa.array([], pa.string()), "positive_item_id": pa.array([], pa.string()),
                         "item_id": pa.array([], pa.string()), "source": pa.array([], pa.string()),
                         "mixture_prob": pa.array([], pa.float64())})


def keys(*columns: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One string key per row from several string columns."""
    joined = pc.binary_join_element_wise(*columns, _SEP)
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def index_of(values: pa.Array | pa.ChunkedArray, universe: pa.Array) -> np.ndarray:
    """Row of each value in ``universe`` (-1 where absent), int64."""
    return pc.index_in(values, value_set=universe).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


@dataclass
class TrainingData:
    """What a retrieval model trains on: positives with context, their pools, the catalog."""

    positives: pa.Table        # day, request_id, item_id, context fields
    negatives: pa.Table        # request_id, positive_item_id, item_id, source, mixture_prob
    catalog: pa.Table          # item_id, category, subcategory, brand (sorted by item_id)
    days: list[dt.date]
    day_items: pa.Table        # day, item_id: each day's catalog (full softmax normaliser)

    @classmethod
    def load(cls, con, first_day: dt.date, last_day: dt.date, as_of: dt.datetime,
             negatives: pa.Table | None = None, pools: bool = True) -> TrainingData:
        """The days' positives with their pools: ``negatives`` when given (an arm's draws),
        else ``retrieval_negatives``'s, or none (``pools=False``: validation)."""
        bounds = {"first_day": first_day, "last_day": last_day}
        positives = arrow_query(con, "model/retrieval_model/positives", bounds)
        if negatives is None:
            negatives = arrow_query(con, "model/retrieval_model/negatives", bounds) if pools else NO_NEGATIVES
        catalog = arrow_query(con, "model/retrieval_model/catalog", {"as_of": as_of})
        day_items = arrow_query(con, "model/retrieval_model/day_catalog", bounds)
        days = sorted(pc.unique(positives.column("day")).to_pylist())
        return cls(positives, negatives, catalog, days, day_items)

    def vocabularies(self, min_count: int) -> tuple[dict[str, Vocabulary], dict[str, Vocabulary]]:
        """Context vocabularies from the positives; the item id's from the items the model sees
        in training (positives and negatives), the attributes' from the catalog."""
        context = {f: Vocabulary.fit(self.positives.column(f), min_count if f == "user_id" else 1)
                   for f in CONTEXT_FIELDS}
        seen = pa.chunked_array([self.positives.column("item_id"), self.negatives.column("item_id")])
        items = {"item_id": Vocabulary.fit(seen, min_count)}
        items |= {f: Vocabulary.fit(self.catalog.column(f)) for f in ITEM_FIELDS if f != "item_id"}
        return context, items

    def item_ids(self) -> pa.Array:
        return self.catalog.column("item_id").combine_chunks()

    def day_index(self, column: pa.ChunkedArray) -> np.ndarray:
        """Row of each date in ``days`` (-1 for another date)."""
        days = pa.array(self.days, pa.date32())
        return index_of(column.cast(pa.date32()), days)

    def allowed(self) -> np.ndarray:
        """``(days, catalog)`` True where the item is in the day's catalog."""
        mask = np.zeros((len(self.days), self.catalog.num_rows), bool)
        if self.day_items.num_rows:
            rows = self.day_index(self.day_items.column("day"))
            cols = index_of(self.day_items.column("item_id"), self.item_ids())
            ok = (rows >= 0) & (cols >= 0)
            mask[rows[ok], cols[ok]] = True
        return mask

    def examples(self, model: TwoTower) -> Examples:
        """The positives and their pools as arrays; a positive's pool padded with -1."""
        p = self.positives
        items = self.item_ids()
        positive = index_of(p.column("item_id"), items)
        if (positive < 0).any():
            raise ValueError(f"{int((positive < 0).sum())} clicked items are not in item_state")
        request = pc.dictionary_encode(p.column("request_id")).combine_chunks().indices.to_numpy().astype(np.int64)
        ex = Examples(ctx=model.encode_context(p), positive=positive, request=request, day=self.day_index(p.column("day")))
        n = self.negatives
        if n.num_rows == 0:
            return ex
        owner = index_of(keys(n.column("request_id"), n.column("positive_item_id")),
                         keys(p.column("request_id"), p.column("item_id")))
        item = index_of(n.column("item_id"), items)
        ok = (owner >= 0) & (item >= 0)
        owner, item = owner[ok], item[ok]
        prob = n.column("mixture_prob").to_numpy()[ok]
        source = index_of(n.column("source"), pa.array(RETRIEVAL_SOURCES))[ok].astype(np.int8)
        order = np.argsort(owner, kind="stable")
        owner, item, prob, source = owner[order], item[order], prob[order], source[order]
        starts = np.searchsorted(owner, owner, side="left")
        slot = np.arange(len(owner)) - starts
        width = int(slot.max()) + 1 if len(slot) else 0
        ex.negatives = np.full((len(positive), width), -1, np.int64)
        ex.mixture_prob = np.ones((len(positive), width))
        ex.source = np.full((len(positive), width), -1, np.int8)
        ex.negatives[owner, slot] = item
        ex.mixture_prob[owner, slot] = prob
        ex.source[owner, slot] = source
        return ex

    def click_share(self) -> np.ndarray:
        """Each catalog item's share of the training positives (the in-batch logQ)."""
        idx = index_of(self.positives.column("item_id"), self.item_ids())
        counts = np.bincount(idx[idx >= 0], minlength=self.catalog.num_rows).astype(float)
        return counts / max(counts.sum(), 1.0)
