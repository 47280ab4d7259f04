"""The Dagster code location: every asset, check, resource, schedule and sensor of the project."""

from __future__ import annotations

import dagster as dg

from recsys_assets.assets import (
    clean,
    comparison,
    labels,
    metrics,
    model,
    negatives,
    reports,
    retrieval,
    snapshots,
    sources,
)
from recsys_assets.checks import (
    clean_checks,
    model_checks,
    position_bias_checks,
    sampler_checks,
    snapshot_checks,
)
from recsys_assets.config import load_settings
from recsys_assets.defs.schedules import jobs, schedules
from recsys_assets.defs.sensors import sensors
from recsys_assets.warehouse.resource import warehouse_from_settings


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    return dg.Definitions(
        assets=dg.load_assets_from_modules([sources, clean, snapshots, labels, negatives, metrics, model, retrieval, comparison, reports]),
        asset_checks=dg.load_asset_checks_from_modules([clean_checks, model_checks, position_bias_checks, sampler_checks,
                                                         snapshot_checks]),
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources={
            "warehouse": warehouse_from_settings(settings),
            "pipeline": settings.pipeline,
        },
    )


defs = build_definitions()
