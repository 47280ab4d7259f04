"""Daily partitions and the partition mappings between layers.

Partitions start at RECSYS_START_DATE (default: the simulator's start) and end at
RECSYS_END_DATE (exclusive; default: the simulator's last day, or today for user logs).
Mappings make cross-day reads explicit so Dagster knows, for example, that a day's
conversion labels depend on the next seven days of events.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from recsys_assets.config import Settings, load_settings


def daily_partitions(settings: Settings | None = None) -> dg.DailyPartitionsDefinition:
    """Days from RECSYS_START_DATE to RECSYS_END_DATE (exclusive). Without an end date the
    range is open: a new day's partition appears once the day is over, so a long-running
    `dg dev` and its daily schedule keep up without a reload."""
    settings = settings or load_settings()
    end = settings.end_date
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    if end is not None and end > tomorrow:
        end = tomorrow
    return dg.DailyPartitionsDefinition(
        start_date=settings.start_date.isoformat(),
        end_date=end.isoformat() if end is not None else None,
        end_offset=0,
    )


def window(start_offset: int, end_offset: int) -> dg.TimeWindowPartitionMapping:
    """Partition D reads upstream partitions [D + start_offset, D + end_offset]."""
    return dg.TimeWindowPartitionMapping(start_offset=start_offset, end_offset=end_offset)


def day_bounds(partition_key: str) -> dict[str, object]:
    """SQL parameters for one daily partition: $day, $start, $end."""
    day = dt.date.fromisoformat(partition_key)
    start = dt.datetime.combine(day, dt.time())
    return {"day": day, "start": start, "end": start + dt.timedelta(days=1)}


def run_partition(context) -> dt.date | None:
    """The partition a check runs for: the run's partition tag, or None when the run has none
    (a check launched on its own from the UI then checks every partition)."""
    key = context.run.tags.get("dagster/partition")
    return dt.date.fromisoformat(key) if key else None
