"""Build warehouse layers without Dagster for fast tests (see recsys_assets/build.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from recsys_assets.assets.direct import build_clean, build_labels_layer, build_negatives_layer, connect
from recsys_assets.config import PipelineConfig

__all__ = ["build_negatives_and_metrics", "build_through_labels", "connect", "rows"]


def build_through_labels(con, logs: Path, days: list[dt.date], pipeline: PipelineConfig | None = None) -> None:
    pipeline = pipeline or PipelineConfig()
    build_clean(con, logs, days, pipeline)
    build_labels_layer(con, days, pipeline)


def build_negatives_and_metrics(con, logs: Path, days: list[dt.date], pipeline: PipelineConfig | None = None,
                                ranking: str | None = None, retrieval: str | None = None) -> None:
    build_negatives_layer(con, logs, days, pipeline or PipelineConfig(), ranking=ranking, retrieval=retrieval)


def rows(con, query: str, params: list | None = None) -> list[dict]:
    cur = con.execute(query, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
