"""Checks of the clean layer: the row accounting adds up, and keys are unique."""


import dagster as dg

from recsys_assets.assets import clean
from recsys_assets.defs.partitions import run_partition
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts

ROW_ACCOUNTING_BALANCES = "row_accounting_balances"
UNIQUE_KEYS = "unique_keys"

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


accounting_checks = [_accounting_check(t, a) for t, a in _PARTITIONED.items()]
unique_checks = [_unique_check(t, a) for t, a in _PARTITIONED.items() if t != "candidates"]
