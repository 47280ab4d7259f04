"""Sources layer: the logs in the input contract, from the user's directory or the simulator.

``raw_logs`` is the entry point of the graph. It makes sure logs exist (running the
built-in simulator when RECSYS_LOGS is unset), checks every file against the contract
(a file that breaks it fails the run, listing file, column and rule for every problem),
and records an inventory: rows per (table, file, day). Clean partitions read only the
files the inventory lists for their days, and their row accounting is checked against it.
"""


import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field

from recsys_assets.config import load_settings
from recsys_assets.ingest.reader import inspect_logs, register_sources
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts, run_sql
from recsys_assets.warehouse.tables import ensure_schema, sql_code_version, write_atomically

PARTITIONED_TABLES = ("requests", "impressions", "events", "candidates")
FUTURE_TOLERANCE = dt.timedelta(days=1)


class LogsConfig(dg.Config):
    """Run config of ``raw_logs``. Simulator settings apply only when RECSYS_LOGS is unset."""

    resimulate: bool = False
    simulator: dict[str, str] = Field(default_factory=dict)  # SimulatorConfig field -> value, e.g. {"position_bias": "1.5"}


def simulator_config(overrides: dict[str, Any] | None = None):
    """The simulator configuration for this project: settings, then explicit overrides."""
    from recsys_assets.simulator import SimulatorConfig

    settings = load_settings()
    base = SimulatorConfig(
        seed=settings.sim_seed,
        start=settings.start_date,
        days=settings.sim_days,
        requests_per_day=settings.sim_requests_per_day,
    )
    fields = {f.name: f for f in dataclasses.fields(SimulatorConfig)}
    values: dict[str, Any] = {}
    for key, raw in (overrides or {}).items():
        if key not in fields:
            raise ValueError(f"unknown simulator option {key!r}; known: {', '.join(sorted(fields))}")
        current = getattr(base, key)
        if isinstance(current, bool):
            values[key] = str(raw).lower() in ("1", "true", "yes")
        elif isinstance(current, dt.date):
            values[key] = dt.date.fromisoformat(str(raw))
        else:
            values[key] = type(current)(raw)
    return dataclasses.replace(base, **values)


def _config_json(config) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def ensure_simulated_logs(out: Path, config, force: bool, log) -> dict[str, Any]:
    """Run the simulator unless ``out`` already holds its output for exactly this config."""
    from recsys_assets.simulator import simulate

    manifest_path = out / "truth" / "manifest.json"
    if not force and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("config") == _config_json(config):
            log.info(f"simulated logs for this configuration already in {out}")
            return {"simulated": False}
    log.info(f"simulating {config.days} days x {config.requests_per_day} requests into {out}")

    def progress(stage: str, fraction: float) -> None:
        log.info(f"simulate: {stage} {fraction:.0%}")

    summary = simulate(config, out, progress=progress)
    return {"simulated": True, "simulator_seconds": round(summary.seconds, 2),
            "simulator_impressions_per_second": round(summary.impressions_per_second)}


@dg.asset(
    group_name="sources",
    pool=WAREHOUSE_POOL,
    code_version=sql_code_version("sources/raw_logs/placed", "sources/raw_logs/build", tables=["raw_logs", "quarantine", "row_accounting"]),
    kinds={"duckdb", "parquet"},
    description="Logs in the input contract (RECSYS_LOGS, else the simulator), checked file by file, with an inventory of rows per table, file and day.",
)
def raw_logs(context: dg.AssetExecutionContext, config: LogsConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = load_settings()
    meta: dict[str, Any] = {"logs_dir": dg.MetadataValue.path(str(settings.logs_dir)),
                            "source": "simulator" if settings.uses_simulator else "user logs"}
    if settings.uses_simulator:
        meta |= ensure_simulated_logs(settings.simulated_logs, simulator_config(config.simulator), config.resimulate, context.log)
    with warehouse.get_connection() as con:
        meta |= build_raw_logs(con, settings, context.log)
    return dg.MaterializeResult(metadata=meta)


def file_versions(inventory) -> pa.Table:
    """Each data file's version as inventoried: its size and modification time (a rewrite,
    even with as many rows, gives a new version)."""
    files = [str(f) for tf in inventory.tables.values() for f in tf.files]
    stats = [os.stat(f) for f in files]
    return pa.table({"file": files, "version": [f"{st.st_size}:{st.st_mtime_ns}" for st in stats]})


def build_raw_logs(con, settings, log=None) -> dict[str, Any]:
    """Check the logs against the contract and rebuild the inventory; returns metadata."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    range_end = settings.end_date or (now.date() + dt.timedelta(days=1))
    ensure_schema(con)
    inventory = inspect_logs(con, settings.logs_dir)
    if log is not None:
        for w in inventory.warnings:
            log.warning(str(w))
    register_sources(con, inventory)  # raises ContractError listing every problem
    run_sql(con, "sources/raw_logs/placed")
    con.register("file_versions", file_versions(inventory))
    write_atomically(con, "sources/raw_logs/build", {
        "max_ts": now + FUTURE_TOLERANCE, "range_start": settings.start_date, "range_end": range_end,
    })
    rows = query_dicts(con, "sources/raw_logs/metadata", {"range_start": settings.start_date, "range_end": range_end})
    meta: dict[str, Any] = {}
    by_table = {r["source_table"]: r for r in rows}
    for table, tf in inventory.tables.items():
        meta[f"files/{table}"] = len(tf.files)
    for table in PARTITIONED_TABLES:
        r = by_table.get(table, {})
        meta[f"rows/{table}"] = int(r.get("rows") or 0)
        meta[f"out_of_range/{table}"] = int(r.get("out_of_range") or 0)
        meta[f"unplaceable/{table}"] = int(r.get("unplaceable") or 0)
    meta["days_with_rows"] = int(max((r.get("days") or 0) for r in rows) if rows else 0)
    meta["contract_warnings"] = len(inventory.warnings)
    if inventory.warnings:
        meta["contract_warnings_detail"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in inventory.warnings))
    return meta
