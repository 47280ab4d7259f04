"""Scenarios shared by test modules: small warehouses in a state worth testing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from direct import build_negatives_and_metrics, build_through_labels, connect

from recsys_assets.config import load_settings
from recsys_assets.policies.files import PACKAGED_POLICY_DIR
from recsys_assets.simulator import SimulatorConfig, simulate

DRIFT_FIRST_DAY = dt.date(2026, 1, 5)
DEFAULT_RETRIEVAL = (PACKAGED_POLICY_DIR / "samplers" / "retrieval-default.yaml").read_text()


def write_policy(folder: Path, text: str, name: str = "custom.yaml") -> Path:
    (folder / "samplers").mkdir(parents=True, exist_ok=True)
    path = folder / "samplers" / name
    path.write_text(text)
    return path


def broken_retrieval_policy_run(home: Path, monkeypatch: pytest.MonkeyPatch):
    """Three days of negatives under the packaged retrieval policy, then a fourth built through
    Dagster after someone cut its same_category share from 0.25 to 0.02 (uniform takes the
    rest). Returns the fourth day's run result; its retrieval drift check fails."""
    from pipeline import materialize

    logs = home / "logs"
    shutil.rmtree(logs)
    simulate(SimulatorConfig(days=4, requests_per_day=300, items=300, users=300, seed=9), logs)
    days = [DRIFT_FIRST_DAY + dt.timedelta(days=i) for i in range(4)]
    load_settings().warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = connect(str(load_settings().warehouse))
    build_through_labels(con, logs, days)
    build_negatives_and_metrics(con, logs, days[:3])
    con.close()
    broken = DEFAULT_RETRIEVAL.replace("same_category:    {ratio: 0.25", "same_category:    {ratio: 0.02") \
                              .replace("uniform:          {ratio: 0.2,", "uniform:          {ratio: 0.43,")
    assert broken != DEFAULT_RETRIEVAL
    write_policy(home / "policies", broken, "retrieval-default.yaml")  # same name: overrides the packaged one
    monkeypatch.setenv("RECSYS_POLICY_DIR", str(home / "policies"))
    (result,) = materialize(["ranking_negatives", "retrieval_negatives", "sampler_metrics"], [days[3].isoformat()],
                            raise_on_error=False)
    return result
