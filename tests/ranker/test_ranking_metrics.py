"""Ranking metrics on request groups: NDCG with tied scores, off-policy top-1 estimates,
the tail share. Rows come in logged position order, so every test with ties checks that
the logged order is never credited to the model."""

from __future__ import annotations

import numpy as np
import pytest


def test_per_request_ndcg_matches_scikit_learn_ties_and_all():
    """The comparison's per-request NDCG equals scikit-learn's ndcg_score request by request,
    with continuous scores and with ties (averaged, not broken by the logged row order)."""
    from sklearn.metrics import ndcg_score

    from recsys_assets.ranker.comparison import per_request_ndcg
    from recsys_assets.ranker.evaluation import _padded

    rng = np.random.default_rng(3)
    groups = rng.integers(1, 12, size=300)
    n = int(groups.sum())
    relevance = rng.random(n) * (rng.random(n) < 0.4)
    rel = _padded(relevance, groups, 0.0)
    for scores in (rng.normal(size=n), rng.integers(0, 3, size=n).astype(float)):
        values, defined = per_request_ndcg(relevance, scores, groups, 5)
        sc = _padded(scores, groups, -1e30)
        expected = [ndcg_score(rel[i:i + 1], sc[i:i + 1], k=5) for i in np.flatnonzero(defined)]
        np.testing.assert_allclose(values[defined], expected, rtol=0, atol=1e-12)
        assert not defined[groups < 2].any() and np.isnan(values[~defined]).all()
    # ties at the top, the relevant item logged first: half its gain at slots 1 and 2
    values, _ = per_request_ndcg(np.array([1.0, 0.0, 0.0]), np.array([1.0, 1.0, 0.0]), np.array([3]), 10)
    assert values[0] == pytest.approx((1 + 1 / np.log2(3)) / 2)


def test_tied_scores_share_their_slots_discount_as_scikit_learn_does():
    """Two items tied at the top, one relevant: each gets half the gain at slots 1 and 2, so
    NDCG = (1 + 1/log2 3) / 2. On random requests with many ties, every k, the grouped NDCG
    equals scikit-learn's ndcg_score (ties averaged, its default)."""
    from sklearn.metrics import ndcg_score

    from recsys_assets.ranker.evaluation import _padded, grouped_ndcg, tie_averaged_ndcg

    got = tie_averaged_ndcg(np.array([[1.0, 0.0, 0.0]]), np.array([[2.0, 2.0, 1.0]]), 10)
    assert got[0] == pytest.approx((1 + 1 / np.log2(3)) / 2, abs=1e-15)
    rng = np.random.default_rng(8)
    groups = rng.integers(1, 25, size=400)
    n = int(groups.sum())
    relevance = rng.random(n) * (rng.random(n) < 0.3)
    scores = rng.integers(0, 4, size=n).astype(float)  # few distinct values: ties everywhere
    rel, sc = _padded(relevance, groups, 0.0), _padded(scores, groups, -1e30)
    keep = (groups >= 2) & (rel.sum(axis=1) > 0)
    for k in (1, 3, 10, 30):
        assert grouped_ndcg(relevance, scores, groups, k) == pytest.approx(
            ndcg_score(rel[keep], sc[keep], k=k), abs=1e-12)
        mask = rng.random(len(groups)) < 0.5
        assert grouped_ndcg(relevance, scores, groups, k, mask) == pytest.approx(
            ndcg_score(rel[keep & mask], sc[keep & mask], k=k), abs=1e-12)


def test_off_policy_estimates_count_the_logged_top_item_when_the_model_would_choose_it():
    """Three randomized requests, top items logged with propensity 0.5, the first and third
    clicked. The model would put the logged top item first in requests 1 and 2 (weight 2 each),
    not in request 3: IPS = 2 * 1 / 3, SNIPS = 2 / (2 + 2). A model that never agrees with the
    log has IPS 0 and no SNIPS: NaN, interval NaN, and no warning (a small day did that)."""
    import warnings

    from recsys_assets.ranker.evaluation import off_policy_top1

    groups = np.array([2, 2, 2])
    positions = np.array([1, 2, 1, 2, 1, 2])
    clicks = np.array([1, 0, 0, 1, 1, 0])
    propensity = np.array([0.5, np.nan, 0.5, np.nan, 0.5, np.nan])
    agrees = np.array([2.0, 1.0, 2.0, 1.0, 1.0, 2.0])
    got = off_policy_top1(agrees, groups, clicks, positions, propensity, np.random.default_rng(0))
    assert (got["requests"], got["matches"]) == (3.0, 2.0)
    assert got["ips"] == pytest.approx(2 / 3) and got["snips"] == pytest.approx(0.5)
    assert got["ips_low"] <= got["ips"] <= got["ips_high"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        never = off_policy_top1(positions.astype(float), groups, clicks, positions, propensity, np.random.default_rng(0))
    assert never["matches"] == 0.0 and never["ips"] == 0.0 and (never["ips_low"], never["ips_high"]) == (0.0, 0.0)
    assert np.isnan([never["snips"], never["snips_low"], never["snips_high"]]).all()
    # a model that ties both items of every request picks the logged top one half the time:
    # IPS = (0.5 * 2 * 1 + 0.5 * 2 * 0 + 0.5 * 2 * 1) / 3, SNIPS = 2 / 3 too (not the logged order's 1)
    tied = off_policy_top1(np.zeros(6), groups, clicks, positions, propensity, np.random.default_rng(0))
    assert tied["matches"] == 1.5 and tied["ips"] == pytest.approx(2 / 3) and tied["snips"] == pytest.approx(2 / 3)


def test_tail_share_splits_a_tie_across_the_cut():
    """Three items, the two at the top tied, the first logged one in the tail: at k = 1 the
    tie shares the slot (0.5, not the logged order's 1); pooled over requests by slots."""
    from recsys_assets.ranker.comparison import top_k_tail_share

    scores, tail, groups = np.array([1.0, 1.0, 0.0]), np.array([True, False, False]), np.array([3])
    assert [top_k_tail_share(scores, tail, groups, k) for k in (1, 2, 3, 10)] == pytest.approx([0.5, 0.5, 1 / 3, 1 / 3])
    two = top_k_tail_share(np.array([1.0, 1.0, 0.0, 2.0]), np.array([True, False, False, True]), np.array([3, 1]), 2)
    assert two == pytest.approx((0.5 + 0.5 + 0.0 + 1.0) / 3)
