"""Declarative automation: which partitions refresh by themselves, and when.

Daily partitions are built by the daily schedule (yesterday) and by the late-arrival
sensor (any day whose logs changed). Everything downstream of a rebuilt partition then
refreshes by itself, within a look-back window: a day's snapshots, labels, negatives and
metrics follow their inputs, and a day's conversion and return labels are rebuilt as
later days of events arrive, until their label window has closed.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from recsys_assets.config import load_settings

# How many recent days a rebuilt partition's dependents follow (late events arrive within
# RECSYS_LATE_DAYS; one more day for the click window crossing midnight, one for slack).
LOOKBACK_DAYS = load_settings().late_days + 2


def refresh_within(days: int) -> dg.AutomationCondition:
    """Like ``eager()``, but for every partition of the last ``days`` days, not only the
    latest, and without waiting for missing parents (a label window reaching into days not
    built yet is censored, then rebuilt when they arrive)."""
    return (
        dg.AutomationCondition.in_latest_time_window(lookback_delta=dt.timedelta(days=days))
        & dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(f"refresh_within_{days}_days")


def follow_upstream() -> dg.AutomationCondition:
    """Unpartitioned assets that should follow their parents (the catalog's SCD intervals)."""
    return dg.AutomationCondition.eager()
