"""Position bias, estimated by the design the logs have: every exploration design recovers a
known curve, interventions harvested across logging policies identify it without
exploration, trust bias is detected only where it exists, and logs that identify nothing get
no correction and a warning."""

from __future__ import annotations

import dagster as dg
import duckdb
import numpy as np
import pytest
from click_logs import synthetic

from recsys_assets.checks.position_bias_checks import identified_result, width_positions
from recsys_assets.ranker.position_bias import (
    LoggedClicks,
    design_matrix,
    detect_design,
    estimate,
    exploration_fit,
    exploration_ratio,
    visibility_by_position,
)
from recsys_assets.ranker.training import ExaminationLoglik, ExaminationObjective
from recsys_assets.warehouse.sql import query_dicts
from recsys_assets.warehouse.tables import ensure_schema

THETA = 1.0 / np.arange(1, 11) ** 0.9
TRUST_MINUS = np.array([0.3, 0.2, 0.15, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05])


@pytest.mark.parametrize("design", ["shuffle", "topk_shuffle", "adjacent_swap"])
def test_each_exploration_design_recovers_a_known_curve(design):
    logs = synthetic(300_000, THETA, explore_share=0.4, design=design, top_k=5, seed=1)
    ratio = exploration_ratio(logs, 10, design, top_k=5)
    known = np.isfinite(ratio.theta)
    # the top-k shuffle identifies its block only; the others every position
    assert known.sum() == (5 if design == "topk_shuffle" else 10)
    error = np.abs(ratio.theta - THETA)[known]
    assert error.max() < 0.03, error
    assert np.all((ratio.low[known] - 0.01 <= THETA[known]) & (THETA[known] <= ratio.high[known] + 0.01))
    fit, eta, p_value = exploration_fit(logs, np.ones(10), design, top_k=5)
    assert abs(eta - 0.9) < 0.05 and p_value > 0.001 and np.abs(fit.theta - THETA).max() < 0.02


def test_treating_an_adjacent_swap_as_a_shuffle_is_what_went_wrong():
    """The old estimator's assumption: every exploration slate fully shuffled."""
    logs = synthetic(300_000, THETA, explore_share=0.4, design="adjacent_swap", seed=1)
    as_shuffle = exploration_ratio(logs, 10, "shuffle")
    assert np.abs(as_shuffle.theta - THETA).max() > 0.1


@pytest.mark.parametrize("design,top_k", [("shuffle", 0), ("topk_shuffle", 4), ("adjacent_swap", 0)])
def test_the_design_is_read_from_the_propensities(design, top_k):
    logs = synthetic(2_000, THETA, explore_share=0.5, design=design, top_k=top_k or 10, seed=2)
    starts = np.r_[0, np.cumsum(logs.group)[:-1]]
    explore = logs.exploration[starts]
    found, k, share = detect_design(logs.propensity[logs.exploration], logs.group[explore])
    assert (found, k, share) == (design, top_k, 1.0)
    assert detect_design(np.full(int(logs.exploration.sum()), np.nan), logs.group[explore])[0] is None


def test_design_matrices_are_doubly_stochastic():
    for design in ("shuffle", "topk_shuffle", "adjacent_swap"):
        m = design_matrix(design, 7, top_k=3)
        assert np.allclose(m.sum(axis=0), 1) and np.allclose(m.sum(axis=1), 1)


def test_several_logging_policies_identify_the_curve_without_exploration():
    logs = synthetic(60_000, THETA, policies=3, seed=3)
    result = estimate(logs)
    assert result.chosen == "harvest_em" and result.identified
    assert np.abs(result.used.theta - THETA).max() < 0.03
    assert "different logging policies" in result.reason


def test_exploration_too_thin_to_pin_the_curve_gives_way_to_harvested_interventions():
    """One adjacent swap in 3% of 20k requests: the free estimate's intervals are wider than the
    curve; two logging policies identify it (the simulator's pbm_swap_ab2 logs at 4k requests a
    day: exploration fit off by 0.06-0.15, harvesting by 0.04-0.06)."""
    thin = estimate(synthetic(20_000, THETA, policies=2, explore_share=0.03, design="adjacent_swap", seed=7))
    assert thin.info["exploration_ratio/mean_interval_width"] > 0.25
    assert thin.chosen == "harvest_em" and thin.identified and "too thin to pin the curve" in thin.reason
    assert np.abs(thin.used.theta - THETA).max() < 0.05
    # enough exploration keeps the exploration estimate, with harvesting available beside it
    ample = estimate(synthetic(40_000, THETA, policies=2, explore_share=0.3, design="adjacent_swap", seed=7))
    assert ample.info["exploration_ratio/mean_interval_width"] < 0.25 and ample.chosen == "exploration_fit"
    assert "harvest_em" in ample.curves


def test_one_deterministic_logger_without_exploration_is_not_identified():
    logs = synthetic(60_000, THETA, policies=1, seed=4)
    result = estimate(logs)
    assert result.chosen == "none" and not result.identified
    assert np.all(result.used.theta == 1.0) and result.reason.startswith("not identified")
    check = identified_result({"method": "none", "identified": False, "positions": 10})
    assert not check.passed and "cannot be told apart" in check.description


def test_trust_bias_is_used_where_clicks_have_it_and_only_there():
    trusting = estimate(synthetic(100_000, THETA, policies=2, explore_share=0.05, design="adjacent_swap",
                                  trust_minus=TRUST_MINUS, seed=5))
    assert trusting.chosen == "trust_em", trusting.reason
    # the slope of P(click) in relevance, theta_k (1 - eps-_k), relative to position 1; the offset theta_k eps-_k
    slope = THETA * (1 - TRUST_MINUS) / (1 - TRUST_MINUS[0])
    assert np.abs(trusting.used.theta - slope).max() < 0.08
    assert abs(trusting.used.offset[0] - TRUST_MINUS[0]) < 0.08 and trusting.used.offset[-1] < 0.03
    plain = estimate(synthetic(100_000, THETA, policies=2, explore_share=0.05, design="adjacent_swap", seed=5))
    assert plain.chosen == "exploration_fit" and "trust_em" in plain.curves
    assert plain.info["trust_em/max_offset_over_slope"] < 0.05


def test_estimates_report_agreement_and_identification_figures():
    result = estimate(synthetic(40_000, THETA, explore_share=0.1, seed=6))
    assert result.chosen == "exploration_fit"
    assert result.info["exploration_design"] == "shuffle" and result.info["exploration_requests"] > 3000
    assert 0 <= result.info["agreement/max_abs_difference/pbm_em"] < 0.1
    assert result.info["harvest/pairs"] > 0


def test_visibility_share_by_position():
    positions = np.array([1, 1, 2, 2, 3])
    visible = np.array([10.0, 20.0, 0.0, 5.0, np.nan])
    assert visibility_by_position(positions, visible, 3).tolist() == [1.0, 0.5, 1.0]


def test_logged_clicks_fill_unknown_columns():
    logs = LoggedClicks(position=[1, 2], click=[1, 0], exploration=[False, False], pair=np.array([0, 1]),
                        policy=np.array([0, 0]), group=np.array([2]))
    assert np.isnan(logs.propensity).all() and np.isnan(logs.visible_ms).all()


def test_the_trust_bias_loss_has_the_gradient_of_its_likelihood():
    """P(click) = theta * sigmoid(f) + offset: the objective's gradient is the derivative of
    the log-likelihood the early stopping reads (finite differences)."""
    rng = np.random.default_rng(0)
    n = 50
    theta, offset = rng.uniform(0.2, 1.0, n), rng.uniform(0.0, 0.2, n)
    clicks = (rng.random(n) < 0.4).astype(float)
    f = rng.normal(0, 1, n)
    grad, hess = ExaminationObjective(theta, clicks, offset=offset)(f)
    loglik = ExaminationLoglik(theta, clicks, offset=offset)
    eps = 1e-6
    for i in range(5):
        step = np.zeros(n)
        step[i] = eps
        numeric = -(loglik(f + step) - loglik(f - step)) * n / (2 * eps)
        assert abs(grad[i] - numeric) < 1e-5
    assert np.all(hess > 0)
    # without an offset the affine path is not taken: the same values as the plain objective
    assert np.array_equal(ExaminationObjective(theta, clicks, offset=np.zeros(n))(f)[0],
                          ExaminationObjective(theta, clicks)(f)[0])


def _check_on_table(used: str, identified: bool, ratio_width: float | None, measured: int = 10) -> dg.AssetCheckResult:
    """The identifiability check as it runs: its query over a position_bias table of 10
    positions, the exploration estimate measuring the first ``measured``."""
    con = duckdb.connect()
    ensure_schema(con, ["position_bias"])
    rows = [(used, k, 1.0 / k, None, None, True, identified) for k in range(1, 11)]
    if ratio_width is not None:  # the free exploration estimate, NaN where the design does not reach
        nan = float("nan")
        rows += [("exploration_ratio", k, 1.0 / k, 1.0 / k - ratio_width / 2, 1.0 / k + ratio_width / 2, False, True)
                 if k <= measured else ("exploration_ratio", k, nan, nan, nan, False, True) for k in range(1, 11)]
    con.executemany("INSERT INTO position_bias VALUES (?, ?, ?, ?, ?, ?, DATE '2026-01-05', DATE '2026-01-09', NULL, ?)",
                    rows)
    return identified_result(query_dicts(con, "checks/position_bias_identified", width_positions())[0])


def test_the_check_warns_when_nothing_or_only_thin_exploration_identifies_the_curve():
    assert not _check_on_table("none", False, None).passed
    thin = _check_on_table("exploration_fit", True, 0.6)
    assert not thin.passed and thin.severity == dg.AssetCheckSeverity.WARN
    assert "thin exploration" in thin.description and "0.60 wide" in thin.description
    assert thin.metadata["exploration_interval_width"].value == pytest.approx(0.6)
    assert _check_on_table("exploration_fit", True, 0.1).passed
    # harvesting chosen over thin exploration: identified by other means, no warning
    assert _check_on_table("harvest_em", True, 0.6).passed
    assert _check_on_table("harvest_em", True, None).passed


def test_the_check_warns_when_exploration_measures_only_the_first_positions():
    """A shuffled top 3 measures positions 1-3; the fitted shape fills 4-10 by extrapolation
    (on a trust-bias simulation with a shuffled top 3 that correction made the model lose to
    the naive one): the check says so. A top 10 measures every ranked position: no warning."""
    shallow = _check_on_table("exploration_fit", True, 0.1, measured=3)
    assert not shallow.passed and shallow.severity == dg.AssetCheckSeverity.WARN
    assert "positions 1-3 only" in shallow.description and "at 4-10 it is the shape fitted there" in shallow.description
    assert shallow.metadata["measured_positions"].value == 3
    assert _check_on_table("exploration_fit", True, 0.1, measured=10).passed
    assert _check_on_table("harvest_em", True, 0.1, measured=3).passed  # not an exploration curve
