"""Arrow tables of the input contract and of the ground truth.

Categorical and id columns that repeat values are dictionary-encoded (cheap to build and to
write); unique ids are zero-copy string arrays over byte matrices. Every table is checked
against :data:`CONTRACT`, whose string columns may be dictionary-encoded in memory: Parquet
files are written without the Arrow schema, so readers see plain strings.

Ground truth (``out/truth/``, for evaluation only):

* ``truth/attractiveness/part-<day>.parquet``: per retrieved candidate, its true
  attractiveness ``A = sigmoid(b0 + x)`` (utility noise included), whether and where it was
  shown and its examination probability;
* ``truth/requests/part-<day>.parquet``: one row per simulated request (no duplicate or
  malformed copies): ``request_id``, ``user_id`` (null for anonymous requests), ``intent``
  (category code), ``price_sensitivity`` and ``preference`` (the anonymous request's own
  preference vector in category-code order; null for a known user, whose vector is in
  ``truth/users``). With ``truth/items``, ``truth/users`` and the manifest's
  ``model.relevance`` weights and ``model.attractiveness_intercept`` this gives the
  noise-free utility, hence the expected attractiveness, of any (request, item) pair of the
  catalog, not only of the retrieved candidates (see ``serving``);
* ``truth/items.parquet``: per item its latent ``quality``, ``popularity_prior``,
  ``category`` and ``price_premium`` = ``log(list_price / category median)``;
* ``truth/users.parquet``: per user the favourite categories, top category, price
  sensitivity, account role and ``preference`` vector (category-code order, i.e. the order
  of ``model.relevance.categories`` in the manifest);
* ``truth/examination.parquet``: ``P(examined | position)``, overall and per device.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from .arrays import id_array, id_matrix, label_array, numeric, string_array, strings
from .catalog import SUBCATEGORIES
from .frame import NULL_INT32, NULL_TS, Column, Frame, id_bytes
from .lifecycle import ItemTimeline
from .retrieval import Candidates
from .traffic import Requests
from .vocabulary import (
    ACCOUNT_ROLES,
    DEVICES,
    EVENT_TYPES,
    MALFORMED_EVENT_TYPE,
    POLICIES,
    REGIONS,
    SEGMENTS,
    SOURCES,
    STATUSES,
    SURFACES,
    TRAFFIC,
    category_digits,
)
from .world import World

_TS = pa.timestamp("us")
CONTRACT: dict[str, pa.Schema] = {
    "requests": pa.schema(
        [
            ("request_id", pa.string()),
            ("ts", _TS),
            ("user_id", pa.string()),
            ("session_id", pa.string()),
            ("surface", pa.string()),
            ("query", pa.string()),
            ("device", pa.string()),
            ("region", pa.string()),
            ("policy", pa.string()),
            ("is_exploration", pa.bool_()),
            ("traffic", pa.string()),
        ]
    ),
    "impressions": pa.schema(
        [
            ("request_id", pa.string()),
            ("item_id", pa.string()),
            ("position", pa.int32()),
            ("ts", _TS),
            ("visible_ms", pa.int32()),
            ("propensity", pa.float64()),
            ("source", pa.string()),
            ("event_id", pa.string()),
        ]
    ),
    "events": pa.schema(
        [
            ("event_id", pa.string()),
            ("ts", _TS),
            ("type", pa.string()),
            ("item_id", pa.string()),
            ("user_id", pa.string()),
            ("request_id", pa.string()),
            ("value", pa.float64()),
            ("recorded_at", _TS),
        ]
    ),
    "items": pa.schema(
        [
            ("item_id", pa.string()),
            ("valid_from", _TS),
            ("category", pa.string()),
            ("subcategory", pa.string()),
            ("brand", pa.string()),
            ("price", pa.float64()),
            ("in_stock", pa.bool_()),
            ("status", pa.string()),
            ("regions", pa.string()),
            ("age_restricted", pa.bool_()),
            ("dedup_group", pa.string()),
            ("recorded_at", _TS),
        ]
    ),
    "candidates": pa.schema(
        [
            ("request_id", pa.string()),
            ("item_id", pa.string()),
            ("source", pa.string()),
            ("retrieval_rank", pa.int32()),
            ("retrieval_score", pa.float64()),
        ]
    ),
    "outages": pa.schema(
        [("start_ts", _TS), ("end_ts", _TS), ("surface", pa.string()), ("event_types", pa.string())]
    ),
    "users": pa.schema(
        [
            ("user_id", pa.string()),
            ("segment", pa.string()),
            ("region", pa.string()),
            ("created_at", _TS),
            ("age_verified", pa.bool_()),
        ]
    ),
    "truth/attractiveness": pa.schema(
        [
            ("request_id", pa.string()),
            ("item_id", pa.string()),
            ("attractiveness", pa.float64()),
            ("shown", pa.bool_()),
            ("position", pa.int32()),
            ("examination", pa.float64()),
        ]
    ),
    "truth/requests": pa.schema(
        [
            ("request_id", pa.string()),
            ("user_id", pa.string()),
            ("intent", pa.string()),
            ("price_sensitivity", pa.float64()),
            ("preference", pa.list_(pa.float32())),
        ]
    ),
    "truth/items": pa.schema(
        [
            ("item_id", pa.string()),
            ("quality", pa.float64()),
            ("popularity_prior", pa.float64()),
            ("category", pa.string()),
            ("price_premium", pa.float64()),
        ]
    ),
}


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    """Assemble a table and check it against the contract (dictionary columns count as strings)."""
    table = pa.Table.from_arrays(list(columns.values()), names=list(columns))
    if name in CONTRACT:
        logical = [f.type.value_type if pa.types.is_dictionary(f.type) else f.type for f in table.schema]
        expected = CONTRACT[name]
        if table.column_names != expected.names or logical != expected.types:
            raise AssertionError(f"{name} does not match its contract: {table.schema}")
    return table


def timestamps(values: NDArray[np.int64]) -> pa.TimestampArray:
    """Microsecond timestamps, null at ``NULL_TS``."""
    return numeric(values, _TS, values == NULL_TS)


def _floats(values: NDArray[np.floating], null: NDArray[np.bool_] | None = None) -> pa.DoubleArray:
    return numeric(values.astype(np.float64, copy=False), pa.float64(), null)


def _nan_as_null(values: NDArray[np.floating]) -> pa.DoubleArray:
    return _floats(values, np.isnan(values))


def _ints(values: NDArray[np.integer], null: NDArray[np.bool_] | None = None) -> pa.Int32Array:
    return numeric(values.astype(np.int32, copy=False), pa.int32(), null)


def _bools(values: NDArray[np.bool_]) -> pa.BooleanArray:
    return numeric(values, pa.bool_())


def _ids(column: Column) -> pa.StringArray:
    matrix = id_bytes(column)
    return string_array(matrix, matrix[:, 0] != 0)


def _codes(labels: pa.Array | tuple[str, ...], codes: NDArray[np.integer]) -> pa.DictionaryArray:
    return label_array(labels, codes, codes >= 0)


def requests_table(
    frame: Frame, world: World, session_digits: int, policies: tuple[str, ...] = POLICIES
) -> pa.Table:
    return _table(
        "requests",
        {
            "request_id": _ids(frame["request_id"]),
            "ts": timestamps(frame["ts"]),
            "user_id": _codes(world.user_ids, frame["user_id"]),
            "session_id": id_array("s", frame["session_id"], session_digits),
            "surface": _codes(SURFACES, frame["surface"]),
            "query": _codes(world.queries, frame["query"]),
            "device": _codes(DEVICES, frame["device"]),
            "region": _codes(REGIONS, frame["region"]),
            "policy": _codes(policies, frame["policy"]),
            "is_exploration": _bools(frame["is_exploration"]),
            "traffic": _codes(TRAFFIC, frame["traffic"]),
        },
    )


def impressions_table(frame: Frame, request_ids: pa.StringArray, world: World) -> pa.Table:
    return _table(
        "impressions",
        {
            "request_id": _codes(request_ids, frame["request_id"]),
            "item_id": _codes(world.item_ids, frame["item_id"]),
            "position": _ints(frame["position"]),
            "ts": timestamps(frame["ts"]),
            "visible_ms": _ints(frame["visible_ms"], frame["visible_ms"] == NULL_INT32),
            "propensity": _nan_as_null(frame["propensity"]),
            "source": _codes(SOURCES, frame["source"]),
            "event_id": _ids(frame["event_id"]),
        },
    )


def events_table(frame: Frame, world: World, request_digits: int) -> pa.Table:
    request = frame["request_id"]
    return _table(
        "events",
        {
            "event_id": _ids(frame["event_id"]),
            "ts": timestamps(frame["ts"]),
            "type": _codes((*EVENT_TYPES, MALFORMED_EVENT_TYPE), frame["type"]),
            "item_id": _codes(world.item_ids, frame["item_id"]),
            "user_id": _codes(world.user_ids, frame["user_id"]),
            "request_id": id_array("r", np.maximum(request, 0), request_digits, request >= 0),
            "value": _nan_as_null(frame["value"]),
            "recorded_at": timestamps(frame["recorded_at"]),
        },
    )


def candidates_table(candidates: Candidates, request_ids: pa.StringArray, world: World) -> pa.Table:
    n, k = candidates.item.shape
    return _table(
        "candidates",
        {
            "request_id": label_array(request_ids, np.repeat(np.arange(n, dtype=np.int32), k)),
            "item_id": label_array(world.item_ids, candidates.item.ravel()),
            "source": label_array(SOURCES, candidates.source.ravel()),
            "retrieval_rank": _ints(np.tile(np.arange(1, k + 1, dtype=np.int32), n)),
            "retrieval_score": _floats(candidates.score.ravel()),
        },
    )


def attractiveness_table(
    candidates: Candidates,
    request_ids: pa.StringArray,
    world: World,
    attractiveness: NDArray[np.float32],
    position: NDArray[np.int32],
    examination: NDArray[np.float32],
) -> pa.Table:
    n, k = candidates.item.shape
    hidden = position.ravel() == 0
    return _table(
        "truth/attractiveness",
        {
            "request_id": label_array(request_ids, np.repeat(np.arange(n, dtype=np.int32), k)),
            "item_id": label_array(world.item_ids, candidates.item.ravel()),
            "attractiveness": _floats(attractiveness.ravel()),
            "shown": _bools(~hidden),
            "position": _ints(position.ravel(), hidden),
            "examination": _floats(examination.ravel(), hidden),
        },
    )


def items_table(world: World) -> pa.Table:
    timeline: ItemTimeline = world.timeline
    catalog = world.catalog
    item = timeline.item
    region_mask = catalog.region_mask[item]
    masks = np.arange(1 << len(REGIONS))
    region_lists = [",".join(r for b, r in enumerate(REGIONS) if m >> b & 1) for m in masks]
    subcategories = [
        f"{code}-s{s}" for code in world.category_codes.to_pylist() for s in range(SUBCATEGORIES)
    ]
    return _table(
        "items",
        {
            "item_id": label_array(world.item_ids, item),
            "valid_from": timestamps(timeline.valid_from_us),
            "category": label_array(world.category_codes, catalog.category[item]),
            "subcategory": label_array(
                subcategories, catalog.category[item] * SUBCATEGORIES + catalog.subcategory[item]
            ),
            "brand": label_array(world.brand_ids, catalog.brand[item]),
            "price": _floats(timeline.price),
            "in_stock": _bools(timeline.in_stock),
            "status": label_array(STATUSES, timeline.status),
            "regions": label_array(region_lists, region_mask, region_mask != 0),
            "age_restricted": _bools(catalog.age_restricted[item]),
            "dedup_group": _codes(world.dedup_group_ids, catalog.dedup_group[item]),
            "recorded_at": timestamps(timeline.recorded_us),
        },
    )


def users_table(world: World) -> pa.Table:
    population = world.population
    return _table(
        "users",
        {
            "user_id": world.user_ids,
            "segment": label_array(SEGMENTS, population.segment),
            "region": label_array(REGIONS, population.region),
            "created_at": timestamps(population.created_us),
            "age_verified": _bools(population.age_verified),
        },
    )


def outages_table(start_us: int, end_us: int, event_types: list[str]) -> pa.Table:
    """One row for the tracking outage, or an empty table when there is none."""
    rows = 1 if end_us > start_us else 0
    return _table(
        "outages",
        {
            "start_ts": timestamps(np.full(rows, start_us, np.int64)),
            "end_ts": timestamps(np.full(rows, end_us, np.int64)),
            "surface": pa.nulls(rows, pa.string()),
            "event_types": strings([",".join(event_types)] * rows),
        },
    )


def truth_items_table(world: World) -> pa.Table:
    catalog = world.catalog
    return _table(
        "truth/items",
        {
            "item_id": world.item_ids,
            "quality": _floats(catalog.quality),
            "popularity_prior": _floats(catalog.popularity),
            "category": label_array(world.category_codes, catalog.category),
            "price_premium": _floats(catalog.price_premium),
        },
    )


def truth_requests_table(requests: Requests, request_ids: pa.StringArray, world: World) -> pa.Table:
    """The inputs of each request's utility that are not in ``truth/users`` (module docstring)."""
    anonymous = requests.user < 0
    categories = requests.preference.shape[1]
    offsets = np.zeros(requests.size + 1, np.int32)
    np.cumsum(np.where(anonymous, categories, 0), out=offsets[1:])
    values = numeric(np.ascontiguousarray(requests.preference[anonymous]).ravel(), pa.float32())
    return _table(
        "truth/requests",
        {
            "request_id": request_ids,
            "user_id": _codes(world.user_ids, requests.user),
            "intent": label_array(world.category_codes, requests.intent),
            "price_sensitivity": _floats(requests.price_sensitivity),
            "preference": pa.ListArray.from_arrays(
                numeric(offsets, pa.int32()), values, mask=numeric(~anonymous, pa.bool_())
            ),
        },
    )


def truth_users_table(world: World) -> pa.Table:
    population = world.population
    favourites = population.favourites
    valid = favourites >= 0
    offsets = np.zeros(len(favourites) + 1, np.int32)
    np.cumsum(valid.sum(axis=1), out=offsets[1:])
    names = string_array(id_matrix("c", favourites[valid], category_digits(len(world.category_codes))))
    return _table(
        "truth/users",
        {
            "user_id": world.user_ids,
            "favourite_categories": pa.ListArray.from_arrays(numeric(offsets, pa.int32()), names),
            "top_category": label_array(world.category_codes, np.argmax(population.preference, axis=1)),
            "price_sensitivity": _floats(population.price_sensitivity),
            "role": label_array(ACCOUNT_ROLES, population.role),
            "preference": pa.FixedSizeListArray.from_arrays(
                numeric(population.preference.ravel(), pa.float32()), population.preference.shape[1]
            ),
        },
    )


def examination_table(position_bias: float, depth_counts: NDArray[np.int64], slate_size: int) -> pa.Table:
    """Marginal ``P(examined | position)`` from the scroll-depth histogram ``(devices, slate_size + 1)``."""
    position = np.arange(1, slate_size + 1)
    decay = position.astype(np.float64) ** -position_bias

    def marginal(counts: NDArray[np.int64]) -> pa.DoubleArray:
        reach = np.cumsum(counts[::-1])[::-1][1:]
        total = counts.sum()
        values = reach / total * decay if total else np.full(slate_size, np.nan)
        return _nan_as_null(values)

    columns = {"position": _ints(position), "examination": marginal(depth_counts.sum(axis=0))}
    for device, name in enumerate(DEVICES):
        columns[f"examination_{name}"] = marginal(depth_counts[device])
    return _table("truth/examination", columns)


def empirical_examination_table(examined: NDArray[np.int64], shown: NDArray[np.int64]) -> pa.Table:
    """Share of shown impressions that were examined, per position (``(devices, slate_size)`` counts).

    For click models whose examination depends on what is above (cascade, DCM): the marginal
    over the simulated impressions of people, from the latent examination draws; the same
    columns as :func:`examination_table` (null where nothing was shown).
    """

    def share(hits: NDArray[np.int64], total: NDArray[np.int64]) -> pa.DoubleArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _nan_as_null(np.where(total > 0, hits / np.maximum(total, 1), np.nan))

    position = np.arange(1, examined.shape[1] + 1)
    columns = {"position": _ints(position), "examination": share(examined.sum(axis=0), shown.sum(axis=0))}
    for device, name in enumerate(DEVICES):
        columns[f"examination_{name}"] = share(examined[device], shown[device])
    return _table("truth/examination", columns)
