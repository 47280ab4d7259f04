"""The model checks say when the tool could not help: a validation day without clicks, a
model that stopped at once, a model significantly worse than the naive baseline on the best
valid estimate (truth where the simulator gives one, else IPS DCG@10 under an identified
examination curve, else enough exploration traffic), and say "not judged" otherwise."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pytest

from recsys_assets.checks.model_checks import beats_naive_result, training_signal_result
from recsys_assets.ranker.off_policy import Estimate, judge


def _signal(**values) -> dict:
    return {"model_id": "m", "valid_day": dt.date(2026, 1, 10), "best_iteration": 120, "valid_clicks": 900} | values


def test_a_validation_day_without_clicks_warns():
    result = training_signal_result(_signal(valid_clicks=0, best_iteration=2))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == ("the validation day 2026-01-10 has 0 clicks (< 30): early stopping had little to judge "
                                  "by; training stopped at iteration 2 (< 5): the model learned next to nothing")


def test_enough_signal_passes():
    assert training_signal_result(_signal()).passed


def _verdict(metric: str | None = None, model: float = 0.0, naive: float = 0.0, low: float = np.nan,
             high: float = np.nan, exploration_requests: float = 0, identified: bool = False):
    nan = float("nan")
    figures = {} if metric is None else {
        ("model", metric): Estimate(model, nan, nan), ("naive", metric): Estimate(naive, nan, nan),
        ("model-naive", metric): Estimate(model - naive, low, high)}
    return judge(figures, identified, exploration_requests)


def test_a_model_significantly_worse_than_naive_on_the_truth_fails():
    result = beats_naive_result(_verdict("truth_ndcg@10", 0.5511, 0.5635, -0.0201, -0.0050))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.description.startswith(
        "the model is significantly worse than the naive baseline on truth NDCG@10: model 0.5511, naive 0.5635, "
        "difference -0.0124 (95% interval -0.0201 to -0.0050); it is not promoted")
    assert result.metadata["judge"].value == "truth NDCG@10"
    assert result.metadata["model_minus_naive/high"].value == pytest.approx(-0.005)


def test_worse_within_the_noise_passes_with_the_figures():
    result = beats_naive_result(_verdict("truth_ndcg@10", 0.5511, 0.5635, -0.0301, 0.0050))
    assert result.passed
    assert result.description.startswith("not significantly different from the naive baseline on truth NDCG@10")
    assert result.metadata["model"].value == pytest.approx(0.5511)


def test_without_truth_an_identified_curve_judges_by_ips_dcg():
    result = beats_naive_result(_verdict("ips_dcg@10", 1.10, 1.30, -0.3, -0.1, identified=True))
    assert not result.passed and "IPS DCG@10" in result.description
    assert beats_naive_result(_verdict("ips_dcg@10", 1.10, 1.30, -0.3, -0.1, identified=False)).passed


def test_without_truth_enough_exploration_traffic_judges_by_snips():
    result = beats_naive_result(_verdict("exploration_snips", 0.10, 0.12, -0.03, -0.01, exploration_requests=800))
    assert not result.passed and "exploration SNIPS: model 0.1000, naive 0.1200" in result.description


def test_without_truth_or_exploration_the_check_says_it_cannot_judge():
    result = beats_naive_result(_verdict("exploration_snips", 0.1, 0.3, -0.3, -0.1, exploration_requests=28))
    assert result.passed and result.description.startswith("not judged: no truth (logs not simulated); 28 exploration "
                                                           "requests (< 200) are too few for SNIPS")
    assert result.metadata["judge"].value == "not judged"
