"""The model checks say when the tool could not help: a validation day without clicks, a
model that stopped at once, a model worse than the naive baseline (on the truth where the
simulator gives one, else on enough exploration traffic), and say "not judged" otherwise."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from recsys_assets.checks.model_checks import beats_naive_result, training_signal_result


def _signal(**values) -> dict:
    return {"model_id": "m", "valid_day": dt.date(2026, 1, 10), "best_iteration": 120, "valid_clicks": 900,
            "model_truth_ndcg": None, "naive_truth_ndcg": None, "model_snips": None, "naive_snips": None,
            "exploration_requests": 0} | values


def test_a_validation_day_without_clicks_warns():
    result = training_signal_result(_signal(valid_clicks=0, best_iteration=2))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == ("the validation day 2026-01-10 has 0 clicks (< 30): early stopping had little to judge "
                                  "by; training stopped at iteration 2 (< 5): the model learned next to nothing")


def test_enough_signal_passes():
    assert training_signal_result(_signal()).passed


def test_a_model_worse_than_naive_on_the_truth_warns():
    result = beats_naive_result(_signal(model_truth_ndcg=0.5511, naive_truth_ndcg=0.5635))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description.startswith("the model is worse than the naive baseline on truth NDCG@10: 0.5511 < 0.5635")


def test_the_truth_is_the_judge_where_there_is_one():
    result = beats_naive_result(_signal(model_truth_ndcg=0.84, naive_truth_ndcg=0.72, model_snips=0.1, naive_snips=0.3,
                                        exploration_requests=5000))
    assert result.passed and result.metadata["judge"].value == "truth NDCG@10"


def test_without_truth_enough_exploration_traffic_judges_by_snips():
    result = beats_naive_result(_signal(model_snips=0.10, naive_snips=0.12, exploration_requests=800))
    assert not result.passed and "exploration SNIPS: 0.1000 < 0.1200" in result.description


def test_without_truth_or_exploration_the_check_says_it_cannot_judge():
    result = beats_naive_result(_signal(model_snips=0.1, naive_snips=0.3, exploration_requests=28))
    assert result.passed and result.description.startswith("not judged: no truth, and 28 exploration requests (< 200)")
