"""Off-policy estimates of a ranking from logged clicks: the IPS estimate of DCG@10 is
unbiased on clicks drawn from a known position-based or trust-biased click model, where the
DCG of the clicks themselves is not; paired bootstrap intervals; and the judgement of a
model against the naive baseline on the best valid estimate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import dcg_score

from recsys_assets.ranker.off_policy import (
    Estimate,
    examination_at,
    ips_dcg,
    judge,
    paired_bootstrap,
    paired_estimates,
    per_request_dcg,
)
from recsys_assets.ranker.position_bias import Curve

SLATE = 10
THETA = 1.0 / np.arange(1, SLATE + 1) ** 0.8                 # examination, 1 at the top
TRUST = 0.12 * THETA ** 2                                     # clicks on non-relevant items, more at the top
REQUESTS, DRAWS = 1000, 200


def _logs(seed: int = 0):
    """Requests of 10 items in a logging ranker's order (by noisy relevance, so the top holds
    the relevant items), and a fixed model ranking by another noisy view of relevance."""
    rng = np.random.default_rng(seed)
    relevance = rng.beta(1.0, 3.0, size=(REQUESTS, SLATE)) * 0.8  # theta_1 * r + offset_1 <= 0.92
    logged = np.argsort(-(relevance + rng.normal(0, 0.1, relevance.shape)), axis=1)
    relevance = np.take_along_axis(relevance, logged, axis=1).ravel()  # row j of a request: position j + 1
    positions = np.tile(np.arange(1, SLATE + 1), REQUESTS)
    scores = relevance + rng.normal(0, 0.2, relevance.shape)     # the ranking under evaluation
    return relevance, positions, scores, np.full(REQUESTS, SLATE)


def _draw_means(relevance, positions, scores, groups, theta, offset, corrected_offset=None, seed: int = 1):
    """Per draw of clicks from the click model (theta, offset): mean over requests of the IPS
    DCG@10 (corrected with ``corrected_offset``, by default the true one) and of the click
    DCG@10; all draws scored at once (stacked as more requests)."""
    rng = np.random.default_rng(seed)
    p = theta[positions - 1] * relevance + offset[positions - 1]
    offset = offset if corrected_offset is None else corrected_offset
    clicks = (rng.random((DRAWS, len(p))) < p).astype(float).ravel()
    ips, _ = ips_dcg(np.tile(scores, DRAWS), clicks, np.tile(groups, DRAWS), np.tile(theta[positions - 1], DRAWS), np.tile(offset[positions - 1], DRAWS))
    naive, _ = per_request_dcg(clicks, np.tile(scores, DRAWS), np.tile(groups, DRAWS))
    return ips.reshape(DRAWS, -1).mean(axis=1), naive.reshape(DRAWS, -1).mean(axis=1)


@pytest.mark.parametrize("click_model", ["pbm", "trust_bias"])
def test_the_ips_dcg_of_a_fixed_ranking_is_unbiased_and_the_click_dcg_is_not(click_model):
    relevance, positions, scores, groups = _logs()
    offset = TRUST if click_model == "trust_bias" else np.zeros(SLATE)
    truth = per_request_dcg(relevance, scores, groups)[0].mean()
    ips, clicked = _draw_means(relevance, positions, scores, groups, THETA, offset)
    # the mean of DRAWS independent draws has standard error sd / sqrt(DRAWS): 4 of them leave
    # a chance of 6e-5 that an unbiased estimate lands outside (the seed is fixed anyway)
    se = ips.std(ddof=1) / np.sqrt(DRAWS)
    assert abs(ips.mean() - truth) < 4 * se, (ips.mean(), truth, se)
    assert 4 * se < 0.04 * truth  # a tight tolerance: under 4% of the DCG
    # the clicks' own DCG is off by far more than the noise: position (and trust) bias
    assert abs(clicked.mean() - truth) > 0.1 * truth and abs(clicked.mean() - truth) > 40 * se
    if click_model == "trust_bias":  # and the position-only correction does not remove trust bias
        pbm_only, _ = _draw_means(relevance, positions, scores, groups, THETA, TRUST, np.zeros(SLATE))
        assert abs(pbm_only.mean() - truth) > 0.1 * truth


def test_the_dcg_averages_ties_as_scikit_learn_does_and_never_credits_the_logged_order():
    rng = np.random.default_rng(3)
    groups = np.array([3, 1, 12, 5, 2])
    gains = rng.random(groups.sum()).round(1)
    scores = rng.integers(0, 3, groups.sum()).astype(float)  # many ties
    values, defined = per_request_dcg(gains, scores, groups, k=10)
    starts = np.concatenate([[0], np.cumsum(groups)[:-1]])
    for i, (s, n) in enumerate(zip(starts, groups, strict=True)):
        if n >= 2:
            assert values[i] == pytest.approx(dcg_score([gains[s:s + n]], [scores[s:s + n]], k=10))
    assert defined.tolist() == [True, False, True, True, True]
    # a constant score is every order at random: the same DCG whatever the logged order
    flat = per_request_dcg(np.array([1.0, 0, 0]), np.zeros(3), np.array([3]))[0]
    assert flat == pytest.approx(per_request_dcg(np.array([0, 0, 1.0]), np.zeros(3), np.array([3]))[0])


def test_a_curve_without_offset_examines_as_position_based():
    positions = np.array([1, 2, 3, 12])
    theta, offset = examination_at(Curve("x", np.array([1.0, 0.5, 0.25])), positions)
    assert theta.tolist() == [1.0, 0.5, 0.25, 0.25] and offset.tolist() == [0, 0, 0, 0]

    class TrustCurve:  # the interface of a curve with a trust-bias offset
        def at(self, positions):
            return np.full(len(positions), 0.5)

        def offset_at(self, positions):
            return np.where(positions == 1, 0.1, 0.0)

    assert examination_at(TrustCurve(), positions)[1].tolist() == [0.1, 0.0, 0.0, 0.0]


def test_paired_intervals_of_a_difference_are_narrower_than_of_each_side():
    rng = np.random.default_rng(0)
    base = rng.normal(0.5, 0.3, 2000)
    model, naive = base + 0.02 + rng.normal(0, 0.02, 2000), base  # a small, steady improvement
    ones = np.ones(2000)
    out = paired_bootstrap({"model": (model, ones), "naive": (naive, ones)}, [("model", "naive")], rounds=500)
    d = out["model-naive"]
    assert d.value == pytest.approx(model.mean() - naive.mean())
    assert 0 < d.low < d.value < d.high                       # significant, paired
    assert out["model"].low < out["naive"].high               # though the two intervals overlap
    assert out["model"].low < model.mean() < out["model"].high


def test_paired_estimates_judge_a_reversed_model_worse_than_naive_on_ips():
    relevance, positions, scores, groups = _logs()
    rng = np.random.default_rng(2)
    clicks = (rng.random(len(relevance)) < THETA[positions - 1] * relevance + TRUST[positions - 1]).astype(float)
    n = len(relevance)
    variants = {"model": -relevance, "naive": scores, "logging": -positions.astype(float)}  # the model ranks backwards
    rows = paired_estimates(variants, clicks, positions, groups, np.zeros(n, bool), np.full(n, np.nan), None,
                            THETA[positions - 1], TRUST[positions - 1])
    figures = {(r["variant"], r["metric"]): Estimate(r["value"], r["low"], r["high"]) for r in rows}
    assert {v for v, m in figures if m == "ips_dcg@10"} == {"model", "naive", "logging", "model-naive"}
    assert figures[("model-naive", "ips_dcg@10")].high < 0
    worse = judge(figures, curve_identified=True, exploration_requests=0)
    assert worse.judged_by == "ips_dcg@10" and worse.worse and not worse.promoted
    assert worse.reason.startswith("significantly worse than the naive baseline on IPS DCG@10: model ")
    # the same figures with a curve the logs do not identify judge nothing
    unjudged = judge(figures, curve_identified=False, exploration_requests=0)
    assert unjudged.judged_by is None and unjudged.promoted
    assert "the examination curve is not identified" in unjudged.reason and unjudged.reason.startswith("not judged: ")
    # and a good model (ranked by relevance) against the same naive one is better
    rows = paired_estimates({"model": relevance, "naive": scores}, clicks, positions, groups, np.zeros(n, bool),
                            np.full(n, np.nan), None, THETA[positions - 1], TRUST[positions - 1])
    better = judge({(r["variant"], r["metric"]): Estimate(r["value"], r["low"], r["high"]) for r in rows}, True, 0)
    assert better.promoted and better.reason.startswith("significantly better than the naive baseline on IPS DCG@10")


def _figures(metric: str, model: float, naive: float, low: float, high: float) -> dict:
    return {("model", metric): Estimate(model, np.nan, np.nan), ("naive", metric): Estimate(naive, np.nan, np.nan),
            ("model-naive", metric): Estimate(model - naive, low, high)}


def test_the_best_valid_estimate_is_truth_then_ips_then_snips():
    figures = (_figures("truth_ndcg@10", 0.80, 0.78, 0.01, 0.03) | _figures("ips_dcg@10", 1.0, 1.2, -0.3, -0.1)
               | _figures("exploration_snips", 0.1, 0.2, -0.15, -0.05))
    assert judge(figures, True, 5000).judged_by == "truth_ndcg@10"
    without_truth = {k: v for k, v in figures.items() if k[1] != "truth_ndcg@10"}
    assert judge(without_truth, True, 5000).judged_by == "ips_dcg@10"
    assert judge(without_truth, False, 5000).judged_by == "exploration_snips"
    few = judge(without_truth, False, 150)
    assert few.judged_by is None and not few.worse
    assert few.reason == ("not judged: no truth (logs not simulated); the examination curve is not identified by these "
                          "logs (no exploration, too few harvested interventions), so IPS DCG@10 could be wrong; 150 "
                          "exploration requests (< 200) are too few for SNIPS; click NDCG favours the naive model by "
                          "construction")
    # an interval that straddles zero is no evidence either way: promoted
    tied = judge(_figures("truth_ndcg@10", 0.78, 0.79, -0.02, 0.001), False, 0)
    assert tied.promoted and tied.reason.startswith("not significantly different from the naive baseline on truth NDCG@10")
