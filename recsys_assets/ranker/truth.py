"""Ground truth of simulated logs (``truth/`` next to the contract tables), for evaluation only.

User logs have no truth: every function here then registers empty views, and the figures
that need truth (false-negative estimates, NDCG against true attractiveness, the true
examination curve) are simply absent.

``truth/attractiveness`` covers only each request's retrieved candidates. The full-catalog
relevance (``truth/requests``, ``truth/items``, ``truth/users`` and the manifest's
``model.relevance``) gives the expected true attractiveness of any (request, item) pair:
:func:`load_relevance` in NumPy (:class:`Relevance`), :func:`register_relevance` in SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def truth_dir(logs_dir: Path) -> Path | None:
    path = logs_dir / "truth"
    return path if (path / "attractiveness").is_dir() else None


def register_truth(con: duckdb.DuckDBPyConnection, logs_dir: Path) -> bool:
    """Register ``truth_attractiveness`` (request_id, item_id, attractiveness, shown, position,
    examination) and ``truth_examination`` (position, examination); empty without truth."""
    root = truth_dir(logs_dir)
    if root is None:
        con.register("truth_attractiveness", con.sql(
            "SELECT CAST(NULL AS VARCHAR) AS request_id, CAST(NULL AS VARCHAR) AS item_id, CAST(NULL AS DOUBLE) AS attractiveness, "
            "CAST(NULL AS BOOLEAN) AS shown, CAST(NULL AS INTEGER) AS position, CAST(NULL AS DOUBLE) AS examination WHERE false"))
        con.register("truth_examination", con.sql(
            "SELECT CAST(NULL AS INTEGER) AS position, CAST(NULL AS DOUBLE) AS examination WHERE false"))
        return False
    files = sorted(str(p) for p in (root / "attractiveness").glob("*.parquet"))
    con.register("truth_attractiveness", con.read_parquet(files).project(
        "request_id, item_id, attractiveness, shown, position, examination"))
    con.register("truth_examination", con.read_parquet(str(root / "examination.parquet")).project("position, examination"))
    return True


def trust_slope(logs_dir: Path, examination: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Under the simulator's trust-bias clicks, P(click | k, a) = theta_k (eps-_k + (eps+_k - eps-_k) a):
    the true slope in attractiveness relative to position 1 and the true offset theta_k eps-_k
    (what a trust-bias curve estimates); None for other click models or user logs."""
    root = truth_dir(logs_dir)
    manifest = root / "manifest.json" if root is not None else None
    if manifest is None or not manifest.exists():
        return None
    model = json.loads(manifest.read_text()).get("model", {})
    if model.get("click_model") != "trust_bias":
        return None
    n = len(examination)
    plus = np.array(model["trust_eps_plus"], dtype=float)[:n]
    minus = np.array(model["trust_eps_minus"], dtype=float)[:n]
    slope = examination[: len(plus)] * (plus - minus)
    return slope / slope[0], examination[: len(minus)] * minus


# ------------------------------------------------------------------ full-catalog relevance

RELEVANCE_THRESHOLD = 0.5
"""A (request, item) pair is truly relevant when its expected true attractiveness is at least
this: more likely than not clicked once examined. On the default simulation the clicked items
average about 0.45 and about 1% of the catalog is this relevant to a request."""

RELEVANCE_VIEWS = "truth_relevance"
"""``sql/truth_relevance.sql``: the relevance views over the truth files registered below."""


@dataclass(frozen=True)
class Relevance:
    """The simulator's noise-free relevance of any (request, item) pair of the catalog.

    The expected true attractiveness is ``sigmoid(b0 + x)`` with the utility (simulator,
    ``serving``) without its noise term::

        x = w_quality q_i + w_preference pref[r, cat_i] + w_intent [cat_i = intent_r]
            - w_price sensitivity_r max(0, price_premium_i)

    ``pref[r]`` is the requesting user's preference vector (an anonymous request's own one),
    ``b0`` the manifest's ``attractiveness_intercept`` and the weights its
    ``model.relevance``. The logged ``truth/attractiveness`` of a candidate is the same with
    ``N(0, noise_sd)`` added to ``x``.

    Item arrays are in the order of ``item_ids`` (the columns of :meth:`attractiveness`);
    request arrays are sorted by request id. A request id that is not in the truth raises a
    ``ValueError`` naming it (a NaN row would let a join bug pass silently).
    """

    item_ids: np.ndarray
    """``(items,)`` item id strings, the column order of :meth:`attractiveness`."""
    quality: np.ndarray
    category: np.ndarray
    """``(items,)`` index into ``categories`` (and into the preference vectors)."""
    price_premium: np.ndarray
    """``(items,)`` ``log(list_price / category median)``."""
    categories: tuple[str, ...]
    request_ids: np.ndarray
    """``(requests,)`` sorted request id strings."""
    request_user_ids: np.ndarray
    """``(requests,)`` user id per request, None for anonymous requests."""
    intent: np.ndarray
    """``(requests,)`` index into ``categories``."""
    price_sensitivity: np.ndarray
    preference_row: np.ndarray
    """``(requests,)`` row of ``preference`` holding the request's preference vector."""
    preference: np.ndarray
    """``(users + anonymous requests, categories)`` preference vectors."""
    intercept: float
    weights: dict[str, float]
    """``quality``, ``preference``, ``intent``, ``price`` and ``noise_sd`` (the manifest's)."""

    def _request_rows(self, request_ids) -> np.ndarray:
        return _lookup(self.request_ids, None, request_ids, "request", "truth/requests")

    def _item_columns(self, item_ids) -> np.ndarray:
        order = np.argsort(self.item_ids, kind="stable")
        return _lookup(self.item_ids[order], order, item_ids, "item", "truth/items")

    def logits(self, request_ids) -> np.ndarray:
        """``(len(request_ids), items)`` float64 ``b0 + x`` (noise-free) of every item per request.

        Allocates ``8 * len(request_ids) * items`` bytes: pass the requests in chunks."""
        rows = self._request_rows(request_ids)
        w = self.weights
        out = self.preference[self.preference_row[rows]][:, self.category]
        out *= w["preference"]
        out += self.intercept + w["quality"] * self.quality
        out += w["intent"] * (self.category == self.intent[rows, None])
        out -= (w["price"] * self.price_sensitivity[rows, None]) * np.maximum(self.price_premium, 0.0)
        return out

    def attractiveness(self, request_ids) -> np.ndarray:
        """``(len(request_ids), items)`` float64 expected true attractiveness of every item
        (columns in ``item_ids`` order) for each request; chunk the requests (see :meth:`logits`)."""
        return _sigmoid(self.logits(request_ids))

    def logits_of(self, request_ids, item_ids) -> np.ndarray:
        """Noise-free ``b0 + x`` of each (request, item) pair (two equally long sequences)."""
        rows, cols = self._request_rows(request_ids), self._item_columns(item_ids)
        if len(rows) != len(cols):
            raise ValueError(f"{len(rows)} request ids but {len(cols)} item ids")
        w = self.weights
        category = self.category[cols]
        return (self.intercept + w["quality"] * self.quality[cols]
                + w["preference"] * self.preference[self.preference_row[rows], category]
                + w["intent"] * (category == self.intent[rows])
                - w["price"] * self.price_sensitivity[rows] * np.maximum(self.price_premium[cols], 0.0))

    def attractiveness_of(self, request_ids, item_ids) -> np.ndarray:
        """Expected true attractiveness of each (request, item) pair."""
        return _sigmoid(self.logits_of(request_ids, item_ids))


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    np.negative(logit, out=logit)
    np.exp(logit, out=logit)
    logit += 1.0
    return np.reciprocal(logit, out=logit)


def _lookup(keys: np.ndarray, positions: np.ndarray | None, wanted, kind: str, table: str) -> np.ndarray:
    """Positions of ``wanted`` in the sorted ``keys`` (mapped through ``positions``); unknown ids raise."""
    wanted = np.asarray(wanted, dtype=str)
    at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    found = keys[at] == wanted if len(keys) else np.zeros(len(wanted), bool)
    if not found.all():
        missing = wanted[~found]
        raise ValueError(f"{len(missing)} {kind} id(s) not in {table}, e.g. {', '.join(missing[:5])}")
    return at if positions is None else positions[at]


def _relevance_files(logs_dir: Path) -> tuple[Path, list[str], dict] | None:
    """(truth dir, request files, manifest model) when the logs carry full-catalog truth."""
    root = logs_dir / "truth"
    manifest = root / "manifest.json"
    files = sorted(str(p) for p in (root / "requests").glob("*.parquet"))
    if not files or not manifest.is_file():
        return None
    model = json.loads(manifest.read_text()).get("model", {})
    if "relevance" not in model or model.get("attractiveness_intercept") is None:
        return None
    if "price_premium" not in pq.read_schema(root / "items.parquet").names:
        return None
    return root, files, model


def load_relevance(logs_dir: Path) -> Relevance | None:
    """The full-catalog relevance truth of simulated logs; None for logs without it (user
    logs, or simulations older than ``truth/requests``)."""
    found = _relevance_files(Path(logs_dir))
    if found is None:
        return None
    root, files, model = found
    relevance = model["relevance"]
    categories = tuple(relevance["categories"])
    width = len(categories)

    items = pq.read_table(root / "items.parquet", columns=["item_id", "quality", "category", "price_premium"])
    users = pq.read_table(root / "users.parquet", columns=["user_id", "preference"])
    requests = pa.concat_tables(pq.read_table(f, columns=["request_id", "user_id", "intent", "price_sensitivity",
                                                          "preference"]) for f in files)

    user_ids = users["user_id"].to_numpy(zero_copy_only=False).astype(str)
    user_pref = _vectors(users["preference"], width)
    anonymous_pref = _vectors(requests["preference"], width)
    request_user = requests["user_id"].to_numpy(zero_copy_only=False)
    known = pc.is_valid(requests["user_id"]).to_numpy(zero_copy_only=False)
    if not np.array_equal(known, pc.is_null(requests["preference"]).to_numpy(zero_copy_only=False)):
        raise ValueError("truth/requests: a request has both a user and its own preference vector, or neither")
    user_order = np.argsort(user_ids)
    row = np.empty(len(known), np.int64)
    row[known] = _lookup(user_ids[user_order], user_order, request_user[known].astype(str), "user", "truth/users")
    row[~known] = len(user_ids) + np.arange(int((~known).sum()))

    request_ids = requests["request_id"].to_numpy(zero_copy_only=False).astype(str)
    order = np.argsort(request_ids, kind="stable")
    return Relevance(
        item_ids=items["item_id"].to_numpy(zero_copy_only=False).astype(str),
        quality=items["quality"].to_numpy().astype(np.float64),
        category=_codes(items["category"], categories, "truth/items"),
        price_premium=items["price_premium"].to_numpy().astype(np.float64),
        categories=categories,
        request_ids=request_ids[order],
        request_user_ids=request_user[order],
        intent=_codes(requests["intent"], categories, "truth/requests")[order],
        price_sensitivity=requests["price_sensitivity"].to_numpy().astype(np.float64)[order],
        preference_row=row[order],
        preference=np.vstack([user_pref, anonymous_pref]),
        intercept=float(model["attractiveness_intercept"]),
        weights={k: float(relevance[k]) for k in ("quality", "preference", "intent", "price", "noise_sd")},
    )


def _codes(column: pa.ChunkedArray, categories: tuple[str, ...], table: str) -> np.ndarray:
    """Index of each category code in ``categories``."""
    index = pc.index_in(column, value_set=pa.array(categories))
    if index.null_count:
        raise ValueError(f"{table}: category codes missing from the manifest's model.relevance.categories")
    return index.to_numpy().astype(np.int64)


def _vectors(column: pa.ChunkedArray, width: int) -> np.ndarray:
    """The non-null lists of a list<float> column as a ``(rows, width)`` float64 matrix."""
    values = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float64)
    return values.reshape(-1, width)


_EMPTY_SOURCES = {
    "truth_requests_file": pa.schema([("request_id", pa.string()), ("user_id", pa.string()), ("intent", pa.string()),
                                      ("price_sensitivity", pa.float64()), ("preference", pa.list_(pa.float32()))]),
    "truth_users_file": pa.schema([("user_id", pa.string()), ("preference", pa.list_(pa.float32()))]),
    "truth_items_file": pa.schema([("item_id", pa.string()), ("quality", pa.float64()), ("category", pa.string()),
                                   ("price_premium", pa.float64())]),
}
_WEIGHTS = pa.schema([("intercept", pa.float64()), ("quality", pa.float64()), ("preference", pa.float64()),
                      ("intent", pa.float64()), ("price", pa.float64()), ("noise_sd", pa.float64())])
_CATEGORIES = pa.schema([("category", pa.string()), ("preference_index", pa.int32())])


def register_relevance(con: duckdb.DuckDBPyConnection, logs_dir: Path) -> bool:
    """Register the full-catalog relevance truth for SQL (``sql/truth_relevance.sql``); empty
    views and False without it (user logs, older simulations):

    * ``truth_requests`` (request_id, user_id, intent, price_sensitivity, preference FLOAT[]):
      the preference vector of the request's user, or the anonymous request's own;
    * ``truth_items`` (item_id, category, preference_index, quality, price_premium):
      ``preference_index`` is the 1-based position of the item's category in the vectors;
    * ``truth_user_preference`` (user_id, category, preference);
    * ``truth_relevance_weights``: one row (intercept, quality, preference, intent, price, noise_sd).

    The expected attractiveness of a pair (``Relevance``) in SQL::

        1 / (1 + exp(-(w.intercept + w.quality * i.quality + w.preference * r.preference[i.preference_index]
            + CASE WHEN i.category = r.intent THEN w.intent ELSE 0 END
            - w.price * r.price_sensitivity * greatest(i.price_premium, 0))))
    """
    from recsys_assets.warehouse.sql import run_sql

    found = _relevance_files(Path(logs_dir))
    if found is None:
        for name, schema in _EMPTY_SOURCES.items():
            con.register(name, schema.empty_table())
        con.register("truth_relevance_weights_table", _WEIGHTS.empty_table())
        con.register("truth_categories", _CATEGORIES.empty_table())
    else:
        root, files, model = found
        relevance = model["relevance"]
        con.register("truth_requests_file", con.read_parquet(files).project(
            "request_id, user_id, intent, price_sensitivity, preference"))
        con.register("truth_users_file", con.read_parquet(str(root / "users.parquet")).project("user_id, preference"))
        con.register("truth_items_file", con.read_parquet(str(root / "items.parquet")).project(
            "item_id, quality, category, price_premium"))
        weights = {"intercept": float(model["attractiveness_intercept"])} | {
            k: float(relevance[k]) for k in ("quality", "preference", "intent", "price", "noise_sd")}
        con.register("truth_relevance_weights_table", pa.Table.from_pylist([weights], schema=_WEIGHTS))
        categories = relevance["categories"]
        con.register("truth_categories", pa.table({"category": categories,
                                                   "preference_index": range(1, len(categories) + 1)},
                                                  schema=_CATEGORIES))
    run_sql(con, RELEVANCE_VIEWS)
    return found is not None
