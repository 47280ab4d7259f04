"""Run slices of the asset graph in-process for tests, and read the warehouse."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
import duckdb

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.definitions import build_definitions
from recsys_assets.warehouse.resource import warehouse_from_settings


def resources(**pipeline_overrides: Any) -> dict[str, Any]:
    settings = load_settings()
    return {"warehouse": warehouse_from_settings(settings), "pipeline": PipelineConfig(**pipeline_overrides)}


def _all_defs() -> tuple[list, list]:
    defs = build_definitions()
    return list(defs.assets or []), list(defs.asset_checks or [])


def materialize(selection: str | Sequence[str], partitions: Iterable[str] | None = None, *, raise_on_error: bool = True,
                run_config: dict | None = None, **pipeline_overrides: Any) -> list[dg.ExecuteInProcessResult]:
    """Materialize the selected assets (by name or a Dagster selection string) with their checks."""
    assets, checks = _all_defs()
    if not isinstance(selection, str):
        selection = " or ".join(f'key:"{name}"' for name in selection)
    instance = dg.DagsterInstance.get()
    results = []
    for pk in list(partitions) if partitions is not None else [None]:
        results.append(
            dg.materialize(
                [*assets, *checks], selection=selection, partition_key=pk, instance=instance,
                resources=resources(**pipeline_overrides), raise_on_error=raise_on_error, run_config=run_config,
            )
        )
    return results


def sql(query: str, params: list | None = None) -> list[tuple]:
    """Rows of a read query on the test warehouse."""
    con = duckdb.connect(str(load_settings().warehouse), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    mats = [m for m in result.get_asset_materialization_events() if m.asset_key.to_user_string() == asset]
    assert mats, f"no materialization of {asset}"
    return {k: getattr(v, "value", v) for k, v in mats[-1].materialization.metadata.items()}


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The error messages (with causes) of every failed step of a run."""
    texts = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.event_specific_data.error
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return "\n".join(texts)
