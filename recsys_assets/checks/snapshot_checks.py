"""Checks of the snapshots layer: the history rows of a day hold every row they must, and no
impression's context reads anything not known at its request time."""

import dagster as dg

from recsys_assets.assets import snapshots
from recsys_assets.defs.partitions import run_partition
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts

HISTORY_ROWS_COMPLETE = "history_rows_complete"
NO_FUTURE_HISTORY = "no_future_history"


@dg.asset_check(
    asset=snapshots.history_rows, name=HISTORY_ROWS_COMPLETE, blocking=True, pool=WAREHOUSE_POOL,
    description="One history row per user-traffic impression and per user-traffic click or purchase of the day: "
    "an impression left out (its request not found) would be missing from every later day's history.",
)
def history_rows_complete(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        rows = query_dicts(con, "checks/history_rows_complete", {"day": run_partition(context)})
    meta = {key: sum(int(r[key]) for r in rows)
            for key in ("expected_exposures", "exposures", "expected_events", "events")}
    meta["partitions_checked"] = len(rows)
    bad = [r for r in rows if (r["exposures"], r["events"]) != (r["expected_exposures"], r["expected_events"])]
    if bad:
        first = bad[0]
        meta["mismatched_partitions"] = len(bad)
        return dg.AssetCheckResult(
            passed=False, metadata=meta,
            description=f"history_rows {first['day']}: {first['exposures']} exposures of {first['expected_exposures']} "
            f"user impressions, {first['events']} events of {first['expected_events']} clicks and purchases; "
            "rebuild the day once the requests of the days around it are built",
        )
    return dg.AssetCheckResult(passed=True, metadata=meta)


def future_history_result(con, day) -> dg.AssetCheckResult:
    """Rows of impression_context (one day, or every day with ``day`` None) whose history used a
    row available at or after the request time, or whose item state began after it."""
    (row,) = query_dicts(con, "checks/no_future_history", {"day": day})
    meta = {key: int(row[key] or 0) for key in ("rows", "future_history", "future_item_state")}
    if meta["future_history"] or meta["future_item_state"]:
        return dg.AssetCheckResult(
            passed=False, metadata=meta,
            description=f"{meta['future_history']} of {meta['rows']} impressions counted history available at or after "
            f"their request time, {meta['future_item_state']} read an item state from after it (e.g. {row['example']}): "
            "features would leak the future into training; rebuild the partition, and report it if it persists",
        )
    return dg.AssetCheckResult(passed=True, metadata=meta, description=f"{meta['rows']} impressions checked")


@dg.asset_check(
    asset=snapshots.impression_context, name=NO_FUTURE_HISTORY, blocking=True, pool=WAREHOUSE_POOL,
    description="No impression's context counts a history row available at or after its request time, or reads an "
    "item state that began after it.",
)
def no_future_history(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        return future_history_result(con, run_partition(context))
