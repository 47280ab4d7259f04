"""Checks of the clean layer: the row accounting adds up, keys are unique, and a partition does
not lose more than a small share of its rows to quarantine without a warning that says why."""


import dagster as dg

from recsys_assets.assets import clean
from recsys_assets.defs.partitions import run_partition
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts

ROW_ACCOUNTING_BALANCES = "row_accounting_balances"
UNIQUE_KEYS = "unique_keys"
QUARANTINE_RATE = "quarantine_rate"
#: a partition warns when more than this share of its raw rows is quarantined (`recsys validate`'s
#: default limit) and at least this many rows (a few bad rows of a small partition are not a pattern)
MAX_QUARANTINE_RATE = 0.01
MIN_QUARANTINED_ROWS = 10
#: what to look at, for the reasons a systematic cause usually explains
QUARANTINE_HINTS = {
    "event_precedes_request": "events logged before their request beyond RECSYS_SKEW_TOLERANCE_SECONDS: if the "
    "event and request loggers' clocks differ, raise it",
    "impression_precedes_request": "impressions logged before their request beyond RECSYS_SKEW_TOLERANCE_SECONDS: "
    "if the loggers' clocks differ, raise it",
    "unknown_request": "rows whose request_id is in no requests file of the days around: a missing or late "
    "requests file, or ids written differently",
}

_PARTITIONED = {
    "requests": clean.requests,
    "impressions": clean.impressions,
    "events": clean.events,
    "candidates": clean.candidates,
}


def _accounting_check(table: str, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset, name=ROW_ACCOUNTING_BALANCES, blocking=True, pool=WAREHOUSE_POOL,
        description=f"Every raw {table} row the inventory places in the partition is clean, filtered, "
        "quarantined or a duplicate: the counts add up exactly.",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        day = run_partition(context)
        with warehouse.get_connection() as con:
            rows = query_dicts(con, "checks/row_accounting_balances", {"table": table, "day": day})
        bad = [r for r in rows if r["raw_rows"] != r["accounted_rows"]]
        meta = {
            "raw_rows": sum(int(r["raw_rows"]) for r in rows),
            "accounted_rows": sum(int(r["accounted_rows"]) for r in rows),
            "partitions_checked": len(rows),
        }
        if bad:
            first = bad[0]
            meta["mismatched_partitions"] = len(bad)
            return dg.AssetCheckResult(
                passed=False, metadata=meta,
                description=f"{table} {first['day']}: {first['raw_rows']} raw rows but {first['accounted_rows']} accounted for",
            )
        return dg.AssetCheckResult(passed=True, metadata=meta)

    return _check


def _unique_check(table: str, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset, name=UNIQUE_KEYS, blocking=True, pool=WAREHOUSE_POOL,
        description=f"No key of {table} appears twice (dedup held).",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        day = run_partition(context)
        with warehouse.get_connection() as con:
            rows = query_dicts(con, f"checks/unique_keys_{table}", {"day": day})
        dupes = {r["key"]: int(r["duplicated"]) for r in rows}
        total = sum(dupes.values())
        return dg.AssetCheckResult(
            passed=total == 0,
            metadata={f"duplicated/{k}": v for k, v in dupes.items()},
            description=None if total == 0 else ", ".join(f"{v} duplicated {k}" for k, v in dupes.items() if v),
        )

    return _check


def _quarantine_check(table: str, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset, name=QUARANTINE_RATE, blocking=False, pool=WAREHOUSE_POOL,
        description=f"WARN when more than {MAX_QUARANTINE_RATE:.0%} of the partition's raw {table} rows (and at least "
        f"{MIN_QUARANTINED_ROWS}) are quarantined, naming the reasons: a systematic cause (clock skew, a missing "
        "file, a changed format) loses data every day until it is fixed.",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        day = run_partition(context)
        with warehouse.get_connection() as con:
            rows = query_dicts(con, "checks/quarantine_rate", {"table": table, "day": day})
        return quarantine_result(table, day, rows)

    return _check


def quarantine_result(table: str, day: str, rows: list[dict]) -> dg.AssetCheckResult:
    """The check's verdict on ``checks/quarantine_rate`` rows (reason, rows, raw_rows)."""
    quarantined = sum(int(r["rows"]) for r in rows)
    raw = int(rows[0]["raw_rows"]) if rows else 0
    rate = quarantined / raw if raw else 0.0
    meta = {"raw_rows": raw, "quarantined_rows": quarantined, "quarantine_rate": round(rate, 6),
            **{f"reason/{r['reason']}": int(r["rows"]) for r in rows}}
    if rate <= MAX_QUARANTINE_RATE or quarantined < MIN_QUARANTINED_ROWS:
        return dg.AssetCheckResult(passed=True, metadata=meta)
    reasons = "; ".join(f"{r['reason']} {int(r['rows']):,}" + (f" ({QUARANTINE_HINTS[r['reason']]})"
                                                               if r["reason"] in QUARANTINE_HINTS else "")
                        for r in rows[:3])
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=meta,
        description=f"{table} {day}: {rate:.1%} of {raw:,} raw rows quarantined (more than {MAX_QUARANTINE_RATE:.0%}): "
        f"{reasons}. The rows and their reasons are in the quarantine table.")


accounting_checks = [_accounting_check(t, a) for t, a in _PARTITIONED.items()]
unique_checks = [_unique_check(t, a) for t, a in _PARTITIONED.items() if t != "candidates"]
quarantine_checks = [_quarantine_check(t, a) for t, a in _PARTITIONED.items()]
