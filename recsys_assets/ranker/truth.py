"""Ground truth of simulated logs (``truth/`` next to the contract tables), for evaluation only.

User logs have no truth: every function here then registers empty views, and the figures
that need truth (false-negative estimates, NDCG against true attractiveness, the true
examination curve) are simply absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np


def truth_dir(logs_dir: Path) -> Path | None:
    path = logs_dir / "truth"
    return path if (path / "attractiveness").is_dir() else None


def register_truth(con: duckdb.DuckDBPyConnection, logs_dir: Path) -> bool:
    """Register ``truth_attractiveness`` (request_id, item_id, attractiveness, shown, position,
    examination) and ``truth_examination`` (position, examination); empty without truth."""
    root = truth_dir(logs_dir)
    if root is None:
        con.register("truth_attractiveness", con.sql(
            "SELECT CAST(NULL AS VARCHAR) AS request_id, CAST(NULL AS VARCHAR) AS item_id, CAST(NULL AS DOUBLE) AS attractiveness, "
            "CAST(NULL AS BOOLEAN) AS shown, CAST(NULL AS INTEGER) AS position, CAST(NULL AS DOUBLE) AS examination WHERE false"))
        con.register("truth_examination", con.sql(
            "SELECT CAST(NULL AS INTEGER) AS position, CAST(NULL AS DOUBLE) AS examination WHERE false"))
        return False
    files = sorted(str(p) for p in (root / "attractiveness").glob("*.parquet"))
    con.register("truth_attractiveness", con.read_parquet(files).project(
        "request_id, item_id, attractiveness, shown, position, examination"))
    con.register("truth_examination", con.read_parquet(str(root / "examination.parquet")).project("position, examination"))
    return True


def trust_slope(logs_dir: Path, examination: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Under the simulator's trust-bias clicks, P(click | k, a) = theta_k (eps-_k + (eps+_k - eps-_k) a):
    the true slope in attractiveness relative to position 1 and the true offset theta_k eps-_k
    (what a trust-bias curve estimates); None for other click models or user logs."""
    root = truth_dir(logs_dir)
    manifest = root / "manifest.json" if root is not None else None
    if manifest is None or not manifest.exists():
        return None
    model = json.loads(manifest.read_text()).get("model", {})
    if model.get("click_model") != "trust_bias":
        return None
    n = len(examination)
    plus = np.array(model["trust_eps_plus"], dtype=float)[:n]
    minus = np.array(model["trust_eps_minus"], dtype=float)[:n]
    slope = examination[: len(plus)] * (plus - minus)
    return slope / slope[0], examination[: len(minus)] * minus
