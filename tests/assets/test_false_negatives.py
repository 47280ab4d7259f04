"""False negatives of the samplers against the simulator's full-catalog relevance truth: per
source, the share of negatives that are truly relevant to their request."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from direct import build_negatives_and_metrics, build_through_labels, connect

from recsys_assets.assets.metrics import build_sampler_metrics
from recsys_assets.config import PipelineConfig
from recsys_assets.ranker.truth import RELEVANCE_THRESHOLD
from recsys_assets.simulator import SimulatorConfig, simulate


def test_false_negative_rates_per_source_with_full_catalog_truth_and_absent_without(tmp_path, monkeypatch):
    """On the default catalog, per source the share of negatives truly relevant to their request
    (expected true attractiveness >= RELEVANCE_THRESHOLD): hard and same_category negatives are
    far more often relevant than uniform ones. Without the full-catalog truth the rows are absent."""
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path / "home"))
    config = SimulatorConfig(days=2, requests_per_day=1500)
    logs = tmp_path / "logs"
    simulate(config, logs)
    days = [config.start, config.start + dt.timedelta(days=1)]
    con = connect()
    build_through_labels(con, logs, days)
    build_negatives_and_metrics(con, logs, days)
    day = days[1].isoformat()

    def metric(sampler: str, name: str) -> dict[str, float]:
        return dict(con.execute("SELECT key, value FROM sampler_metrics WHERE day = ? AND sampler = ? AND metric = ?",
                                [day, sampler, name]).fetchall())

    retrieval = metric("retrieval", "false_negative_rate")
    assert set(retrieval) == {"", "uniform", "popularity", "same_category", "exposed_no_click", "hard"}
    ranking = metric("ranking", "false_negative_rate")
    assert set(ranking) == set(metric("ranking", "source_share")) | {""}  # one per negative type of the day
    means = metric("retrieval", "false_negative_mean") | {f"ranking/{k}": v for k, v in metric("ranking", "false_negative_mean").items()}
    assert all(0.0 <= v <= 1.0 for v in [*retrieval.values(), *ranking.values(), *means.values()])
    assert retrieval["same_category"] > 3 * retrieval["uniform"] and retrieval["hard"] > 3 * retrieval["uniform"], retrieval
    assert means["same_category"] > means["uniform"] and means["hard"] > means["uniform"], means
    # every negative has a relevance: the overall rate is the negatives-weighted mean of the sources'
    shares = metric("retrieval", "source_share")
    assert retrieval[""] == pytest.approx(sum(shares[k] * retrieval[k] for k in shares), abs=1e-9)

    meta = build_sampler_metrics(con, logs, PipelineConfig(), day)
    assert meta["false_negative_threshold"] == RELEVANCE_THRESHOLD
    for source, rate in retrieval.items():
        label = "retrieval/false_negative_rate" + (f"/{source}" if source else "")
        assert meta[label] == pytest.approx(rate, abs=1e-5)
    assert "ranking/false_negative_mean/skip_above" in meta

    shutil.rmtree(logs / "truth" / "requests")  # logs without the full-catalog truth
    meta = build_sampler_metrics(con, logs, PipelineConfig(), day)
    assert metric("retrieval", "false_negative_rate") == {} == metric("ranking", "false_negative_mean")
    assert not [k for k in meta if "false_negative_rate" in k or "false_negative_mean" in k or "threshold" in k]
    assert meta["retrieval/false_negative_estimate"] > 0  # the candidates' truth is still there
    con.close()
