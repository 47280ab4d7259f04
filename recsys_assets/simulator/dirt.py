"""Logging dirt: everything that makes the logs differ from what happened.

* Event logging (:func:`log_events`): events after the window are not yet logged (censored);
  clicks and add-to-carts inside the tracking outage are lost; clicks and hides carry the
  client clock, ``ts + N(0, clock_skew_seconds)``, so some precede their request;
  ``recorded_at`` is the server time ``true ts + 0.2 s + Exp(0.8 s)``, except for
  ``late_rate`` of the events recorded ``U(6, 72)`` hours late; ``duplicate_rate`` of the
  events are re-emitted with the same ``event_id`` and ``ts`` and ``recorded_at`` shifted by
  the same ``U(0, 5)`` seconds. Events are filed by the day of ``recorded_at`` (clamped to
  the window).
* Duplicated rows (:func:`duplicate`): identical copies, appended after the rows of the same
  batch (a block of requests, or a day for the requests table).
* Malformed rows (:func:`malform`): extra copies of random rows with one field broken and,
  except for the null-id kind, a fresh id; at least one row of each kind per file whenever
  the rate is positive and the table is not empty.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date

import numpy as np

from .arrays import IdSequence, id_matrix
from .behaviour import TrueEvents
from .config import SimulatorConfig
from .frame import NULL_TS, Frame, concat, frame_size, take
from .ledger import Ledger
from .timebase import US_PER_DAY, US_PER_HOUR, US_PER_MS, US_PER_SECOND, date_to_us
from .traffic import Requests
from .vocabulary import ADD_TO_CART, CLICK, EVENT_TYPES, HIDE

IMPRESSION_DUPLICATE_FACTOR = 0.5
REQUEST_DUPLICATE_FACTOR = 0.2
DUPLICATE_DELAY_S = 5.0
LATE_HOURS = (6.0, 72.0)
RECORD_LAG_MIN_MS = 200.0
RECORD_LAG_MEAN_MS = 800.0
OUTAGE_EVENT_TYPES = (CLICK, ADD_TO_CART)
SKEWED_EVENT_TYPES = (CLICK, HIDE)
MALFORMED_TYPE_CODE = len(EVENT_TYPES)
"""Code of the misspelt event type (``EVENT_TYPES + (MALFORMED_EVENT_TYPE,)`` is the dictionary)."""
YEAR_2099_US = date_to_us(date(2099, 1, 1))


@dataclass(frozen=True)
class Window:
    """The simulated window and the tracking outage inside it (``outage_end == outage_start`` if none)."""

    start_us: int
    end_us: int
    outage_start_us: int
    outage_end_us: int


def log_events(
    config: SimulatorConfig,
    events: TrueEvents,
    requests: Requests,
    window: Window,
    numbers: IdSequence,
    rng: np.random.Generator,
    ledger: Ledger,
) -> Frame:
    """Turn true events into logged rows (see module docstring), with a ``file_day`` column."""
    for code, name in enumerate(EVENT_TYPES):
        ledger.add("events", "true", name, count=int(np.count_nonzero(events.kind == code)))
    ledger.add("events", "lost_purchases_unavailable", count=events.lost_purchases)
    censored = events.ts_us >= window.end_us
    in_outage = np.isin(events.kind, OUTAGE_EVENT_TYPES) & (
        (events.ts_us >= window.outage_start_us) & (events.ts_us < window.outage_end_us)
    )
    for code, name in enumerate(EVENT_TYPES):
        ledger.add(
            "events",
            "censored_after_window",
            name,
            count=int(np.count_nonzero(censored & (events.kind == code))),
        )
    for code in OUTAGE_EVENT_TYPES:
        suppressed = int(np.count_nonzero(in_outage & ~censored & (events.kind == code)))
        ledger.add("dirt", "outage", "suppressed", EVENT_TYPES[code], count=suppressed)
    keep = np.flatnonzero(~censored & ~in_outage)
    kind, true_ts, row = events.kind[keep], events.ts_us[keep], events.row[keep]
    n = len(keep)

    skewed = np.isin(kind, SKEWED_EVENT_TYPES)
    skew_us = np.round(rng.normal(0.0, config.clock_skew_seconds, n) * US_PER_SECOND).astype(np.int64)
    ts = np.where(skewed, true_ts + skew_us, true_ts)
    early = ts < requests.ts_us[row]
    ledger.add("dirt", "clock_skew", "skewed_events", count=int(np.count_nonzero(skewed & (skew_us != 0))))
    ledger.add(
        "dirt", "clock_skew", "clicks_before_request", count=int(np.count_nonzero(early & (kind == CLICK)))
    )
    ledger.add(
        "dirt", "clock_skew", "hides_before_request", count=int(np.count_nonzero(early & (kind == HIDE)))
    )

    lag_ms = RECORD_LAG_MIN_MS + rng.exponential(RECORD_LAG_MEAN_MS, n)
    late = rng.random(n) < config.late_rate
    late_ms = rng.uniform(*LATE_HOURS, n) * US_PER_HOUR / US_PER_MS
    recorded = true_ts + (np.where(late, late_ms, lag_ms) * US_PER_MS).astype(np.int64)
    ledger.add("dirt", "late_events", "total", count=int(late.sum()))
    ledger.add(
        "dirt",
        "late_events",
        "filed_in_last_day",
        count=int(np.count_nonzero(late & (recorded >= window.end_us))),
    )

    first = numbers.reserve(n)
    frame: Frame = {
        "event_id": id_matrix(numbers.prefix, np.arange(first, first + n), numbers.digits),
        "ts": ts,
        "type": kind,
        "item_id": events.item[keep],
        "user_id": requests.user[row],
        "request_id": np.where(events.attributed[keep], requests.number[row], -1),
        "value": events.value[keep],
        "recorded_at": recorded,
    }
    copies = np.flatnonzero(rng.random(n) < config.duplicate_rate)
    delay = (rng.uniform(0, DUPLICATE_DELAY_S, len(copies)) * US_PER_SECOND).astype(np.int64)
    duplicate_rows = take(frame, copies)
    duplicate_rows["ts"] = duplicate_rows["ts"] + delay
    duplicate_rows["recorded_at"] = duplicate_rows["recorded_at"] + delay
    ledger.add("dirt", "duplicates", "events", count=len(copies))
    frame = concat([frame, duplicate_rows])
    day = (frame["recorded_at"] - window.start_us) // US_PER_DAY
    frame["file_day"] = np.clip(day, 0, config.days - 1).astype(np.int32)
    return frame


def duplicate(frame: Frame, rate: float, rng: np.random.Generator) -> tuple[list[Frame], int]:
    """Identical copies of ``rate`` of the rows, as extra frames to append, and their count."""
    copies = np.flatnonzero(rng.random(frame_size(frame)) < rate)
    return ([take(frame, copies)] if len(copies) else []), len(copies)


Corruption = Callable[[Frame, np.random.Generator], None]
"""Breaks one field of the given (copied) rows in place."""


def _position_zero(rows: Frame, rng: np.random.Generator) -> None:
    rows["position"][:] = 0


def _position_negative(rows: Frame, rng: np.random.Generator) -> None:
    rows["position"][:] = -3


def _null_item_id(rows: Frame, rng: np.random.Generator) -> None:
    rows["item_id"][:] = -1


def _negative_visible_ms(rows: Frame, rng: np.random.Generator) -> None:
    rows["visible_ms"][:] = -rng.integers(1, 5_000, len(rows["visible_ms"]), dtype=np.int32)


def _bad_propensity(rows: Frame, rng: np.random.Generator) -> None:
    rows["propensity"][:] = 1.7


def _type_typo(rows: Frame, rng: np.random.Generator) -> None:
    rows["type"][:] = MALFORMED_TYPE_CODE


def _ts_2099(rows: Frame, rng: np.random.Generator) -> None:
    rows["ts"][:] = YEAR_2099_US + rows["ts"] % US_PER_DAY


def _null_event_id(rows: Frame, rng: np.random.Generator) -> None:
    rows["event_id"][:] = 0


def _null_ts(rows: Frame, rng: np.random.Generator) -> None:
    rows["ts"][:] = NULL_TS


IMPRESSION_CORRUPTIONS: dict[str, Corruption] = {
    "position_zero": _position_zero,
    "position_negative": _position_negative,
    "null_item_id": _null_item_id,
    "negative_visible_ms": _negative_visible_ms,
    "bad_propensity": _bad_propensity,
}
EVENT_CORRUPTIONS: dict[str, Corruption] = {
    "type_typo": _type_typo,
    "ts_2099": _ts_2099,
    "null_event_id": _null_event_id,
}
REQUEST_CORRUPTIONS: dict[str, Corruption] = {"null_ts": _null_ts}
_KEEPS_NO_ID = {"null_event_id"}


def malform(
    frame: Frame,
    corruptions: dict[str, Corruption],
    id_column: str,
    ids: IdSequence,
    rate: float,
    rng: np.random.Generator,
    ensure: Collection[str] | None = None,
) -> tuple[list[Frame], dict[str, int]]:
    """Malformed copies of random rows: ``Binomial(rows, rate / kinds)`` per kind.

    Kinds in ``ensure`` (all kinds by default) get at least one row. Returns the extra frames
    to append and the row count per kind.
    """
    n = frame_size(frame)
    if rate <= 0 or n == 0:
        return [], dict.fromkeys(corruptions, 0)
    ensure = corruptions.keys() if ensure is None else ensure
    extra, counts = [], {}
    for kind, corrupt in corruptions.items():
        count = max(int(kind in ensure), int(rng.binomial(n, rate / len(corruptions))))
        if count == 0:
            counts[kind] = 0
            continue
        rows = take(frame, rng.integers(0, n, count))
        corrupt(rows, rng)
        if kind not in _KEEPS_NO_ID:
            rows[id_column] = ids.take(count)
        extra.append(rows)
        counts[kind] = count
    return extra, counts
