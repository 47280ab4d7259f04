"""The summary `recsys run` prints: what ran, how long, what the warehouse now holds."""

from __future__ import annotations

import duckdb

from recsys_assets.cli.runner import RunOutcome
from recsys_assets.settings import load_settings
from recsys_assets.warehouse.tables import all_tables


def print_summary(outcomes: list[RunOutcome], seconds: float, partition_keys: list[str]) -> None:
    settings = load_settings()
    ok = sum(o.success for o in outcomes)
    print(f"\n{ok}/{len(outcomes)} runs succeeded in {seconds:.1f}s over {len(partition_keys)} daily partitions "
          f"({partition_keys[0] if partition_keys else '-'} .. {partition_keys[-1] if partition_keys else '-'})")
    print(f"logs: {settings.logs_dir}  warehouse: {settings.warehouse}")
    for o in outcomes:
        if not o.success:
            print(f"\nFAILED: {o.step.label()}\n{o.error[:2000]}")
        for check in o.failed_checks:
            print(f"  check failed: {check} ({o.step.partition_key or 'all'})")
    if not settings.warehouse.exists():
        return
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        existing = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        print("\ntable                       rows")
        for table in all_tables():
            if table in existing:
                n = con.table(table).aggregate("count(*)").fetchall()[0][0]
                print(f"  {table:<22} {n:>12,}")
    finally:
        con.close()
