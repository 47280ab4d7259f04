"""Check of the position-bias estimate: whether the logs identify the examination curve.

When they do not (one deterministic logging ranker, no exploration, no other policy placing
the same items elsewhere), position and relevance cannot be told apart: the ranker trains
without a position correction, and this check WARNs in words a user can act on. It WARNs too
when the curve in use comes from exploration too thin to pin it (wide intervals) and nothing
else identifies it, and when exploration measures only the first few positions (a shuffled top
k with k below the positions the evaluation ranks, ``WIDTH_POSITIONS``) so that the curve
there is the fitted shape extrapolated, not measured."""

from __future__ import annotations

import dagster as dg

from recsys_assets.assets import model
from recsys_assets.ranker.position_bias import (
    MAX_EXPLORATION_INTERVAL_WIDTH,
    WIDTH_POSITIONS,
    thin_exploration,
)
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts
from recsys_assets.warehouse.tables import missing_tables

POSITION_BIAS_IDENTIFIED = "position_bias_identified"

ADVICE = ("position and relevance cannot be told apart in these logs: the ranker is trained without a position "
          "correction, so it is no better than a model that treats every unclicked item as a negative. To fix it, "
          "serve a small exploration bucket (1-5% of requests with a random adjacent swap or a shuffled top k, "
          "flagged is_exploration, with propensities), or log two or more rankers as A/B buckets")


def width_positions() -> dict[str, int]:
    """The positions the exploration estimate's interval width is averaged over, as query parameters."""
    first, last = WIDTH_POSITIONS
    return {"first_position": first, "last_position": last}


def identified_result(row: dict | None) -> dg.AssetCheckResult:
    if row is None or row["positions"] == 0:
        return dg.AssetCheckResult(passed=True, description="no position-bias estimate yet")
    meta = {"method": row["method"], "identified": bool(row["identified"])}
    if not row["identified"]:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=meta,
                                   description=f"the examination curve is not identified: {ADVICE}")
    width = row.get("exploration_width")
    if width is not None:
        meta["exploration_interval_width"] = round(float(width), 4)
    if str(row["method"]).startswith("exploration") and width is not None and width > MAX_EXPLORATION_INTERVAL_WIDTH:
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=meta,
            description=(f"the examination curve ({row['method']}) rests on thin exploration: {thin_exploration(width)}, "
                         "so the position correction may be off by that much; serve more exploration traffic (or a design that "
                         "moves more positions, e.g. a shuffled top k), or log two or more rankers as A/B buckets"))
    measured, last = row.get("measured_positions") or 0, min(int(row["positions"]), WIDTH_POSITIONS[1])
    if str(row["method"]).startswith("exploration") and 0 < measured < last:
        meta["measured_positions"] = int(measured)
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=meta,
            description=(f"the examination curve ({row['method']}) is measured at positions 1-{measured} only (the "
                         f"exploration shuffles them); at {measured + 1}-{last} it is the shape fitted there, "
                         "extrapolated, so the correction below them is a guess that clicks there may not follow; "
                         f"shuffle a deeper block (the top {last}) or log two or more rankers as A/B buckets"))
    return dg.AssetCheckResult(passed=True, metadata=meta,
                               description=f"the examination curve is identified ({row['method']})")


@dg.asset_check(asset=model.position_bias, name=POSITION_BIAS_IDENTIFIED, pool=WAREHOUSE_POOL,
                description="The logs identify the examination curve (exploration or harvested interventions); "
                "WARN when they do not (no position correction is applied), when thin exploration alone pins it, "
                "or when exploration measures only the top few positions (the rest extrapolated).")
def position_bias_identified(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        if missing_tables(con, ["position_bias"]):
            return identified_result(None)
        rows = query_dicts(con, "checks/position_bias_identified", width_positions())
    return identified_result(rows[0] if rows else None)
