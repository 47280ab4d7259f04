"""The retrieval losses: the logQ-corrected sampled softmax estimates the full softmax (exactly,
in expectation, for the normaliser and its gradient), the gradients are the losses' own, and
the sparse scatter adds up like ``np.add.at``."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recsys_assets.retrieval.losses import full_softmax, sampled_softmax
from recsys_assets.retrieval.training import scatter_rows

RNG = np.random.default_rng(3)
D, N = 3, 5
USER = RNG.normal(size=D) * 0.5
ITEMS = RNG.normal(size=(N, D))
BIAS = RNG.normal(size=N) * 0.2
Q = np.array([0.6, 0.25, 0.1, 0.04, 0.01])  # a popularity-like proposal, far from uniform


def _z_and_grad() -> tuple[float, np.ndarray]:
    e = np.exp(ITEMS @ USER + BIAS)
    return float(e.sum()), (e[:, None] * ITEMS).sum(axis=0)


def test_logq_correction_recovers_the_full_normaliser_and_its_gradient_in_expectation_exactly():
    """Every ordered sample of m = 2 draws from Q, weighed by its probability: the corrected
    sum exp(s_n - log(m Q_n)) has the expectation Z, and its gradient in the user vector the
    expectation grad Z, to rounding. Without the correction both are biased toward Q's items."""
    z, grad = _z_and_grad()
    e = np.exp(ITEMS @ USER + BIAS)
    m = 2
    expected_z = expected_grad = expected_raw = 0.0
    for draw in itertools.product(range(N), repeat=m):
        p = np.prod(Q[list(draw)])
        corrected = e[list(draw)] / (m * Q[list(draw)])
        expected_z += p * corrected.sum()
        expected_grad = expected_grad + p * (corrected[:, None] * ITEMS[list(draw)]).sum(axis=0)
        expected_raw += p * e[list(draw)].sum() * N / m  # uncorrected, scaled as a uniform sample would be
    assert expected_z == pytest.approx(z, rel=1e-12)
    np.testing.assert_allclose(expected_grad, grad, rtol=1e-12)
    assert abs(expected_raw - z) / z > 0.05


def _sampled_gradient(positive: int, m: int, logq: bool, rng) -> np.ndarray:
    draws = rng.choice(N, size=m, p=Q)
    item = ITEMS[np.r_[positive, draws]][None]
    bias = BIAS[np.r_[positive, draws]][None]
    correction = np.r_[0.0, np.log(m * Q[draws])][None] if logq else np.zeros((1, m + 1))
    return sampled_softmax(USER[None], item, bias, correction, np.ones((1, m + 1), bool)).user[0]


def test_the_sampled_softmax_gradient_approaches_the_full_softmax_gradient_with_the_correction_only():
    """The loss's gradient is a ratio of estimates (consistent, not unbiased): with many draws the
    corrected one lands on the full softmax's, the uncorrected one stays away from it."""
    positive = 4  # the item Q draws least
    everything = np.ones((1, N), bool)
    target = full_softmax(USER[None], ITEMS, BIAS, np.array([positive]), everything).user[0]
    rng = np.random.default_rng(0)
    corrected = np.mean([_sampled_gradient(positive, 4000, True, rng) for _ in range(50)], axis=0)
    uncorrected = np.mean([_sampled_gradient(positive, 4000, False, rng) for _ in range(50)], axis=0)
    # the part of the gradient the negatives make: the softmax's mean item vector (the
    # positive's own -v_p is exact in both)
    scale = np.linalg.norm(target + ITEMS[positive])
    assert np.linalg.norm(corrected - target) < 0.04 * scale   # measured 0.019
    assert np.linalg.norm(uncorrected - target) > 0.12 * scale  # measured 0.197


def _numeric_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[i] += eps
        lo[i] -= eps
        g[i] = (f(hi) - f(lo)) / (2 * eps)
    return g


def test_sampled_softmax_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    b, k = 3, 4
    user, item, bias = rng.normal(size=(b, D)), rng.normal(size=(b, k, D)), rng.normal(size=(b, k))
    correction = rng.normal(size=(b, k))
    mask = np.ones((b, k), bool)
    mask[1, 2] = False  # a padded slot takes no gradient
    g = sampled_softmax(user, item, bias, correction, mask)
    np.testing.assert_allclose(g.user, _numeric_gradient(lambda u: sampled_softmax(u, item, bias, correction, mask).loss, user),
                               atol=1e-6)
    np.testing.assert_allclose(g.item, _numeric_gradient(lambda v: sampled_softmax(user, v, bias, correction, mask).loss, item),
                               atol=1e-6)
    np.testing.assert_allclose(g.bias, _numeric_gradient(lambda c: sampled_softmax(user, item, c, correction, mask).loss, bias),
                               atol=1e-6)
    assert not g.item[1, 2].any() and g.bias[1, 2] == 0


def test_full_softmax_gradients_match_finite_differences_and_respect_the_allowed_items():
    rng = np.random.default_rng(2)
    b = 3
    user, positive = rng.normal(size=(b, D)), np.array([0, 2, 4])
    allowed = np.ones((b, N), bool)
    allowed[0, 3] = False
    g = full_softmax(user, ITEMS, BIAS, positive, allowed)
    np.testing.assert_allclose(g.user, _numeric_gradient(lambda u: full_softmax(u, ITEMS, BIAS, positive, allowed).loss, user),
                               atol=1e-6)
    np.testing.assert_allclose(g.item, _numeric_gradient(lambda v: full_softmax(user, v, BIAS, positive, allowed).loss, ITEMS),
                               atol=1e-6)
    np.testing.assert_allclose(g.bias, _numeric_gradient(lambda c: full_softmax(user, ITEMS, c, positive, allowed).loss, BIAS),
                               atol=1e-6)


def test_scatter_rows_adds_like_add_at():
    rng = np.random.default_rng(4)
    index = rng.integers(0, 7, 50)
    values = rng.normal(size=(50, 3))
    expected = np.zeros((9, 3))
    np.add.at(expected, index, values)
    np.testing.assert_allclose(scatter_rows(index, values, 9), expected)


def test_shared_candidates_are_the_same_loss_as_gathering_them_into_every_row():
    """In-batch negatives as one matrix product give the loss and gradients of the same
    candidates gathered row by row."""
    from recsys_assets.retrieval.losses import sampled_softmax_shared

    rng = np.random.default_rng(5)
    b, k = 4, 3
    user, item, bias = rng.normal(size=(b, D)), rng.normal(size=(b, k, D)), rng.normal(size=(b, k))
    correction, mask = rng.normal(size=(b, k)), np.ones((b, k), bool)
    shared, shared_bias = rng.normal(size=(b, D)), rng.normal(size=b)
    shared_correction, shared_mask = rng.normal(size=(b, b)), ~np.eye(b, dtype=bool)
    rows, columns = sampled_softmax_shared(user, item, bias, correction, mask, shared, shared_bias,
                                           shared_correction, shared_mask)
    gathered = sampled_softmax(user, np.concatenate([item, np.broadcast_to(shared, (b, b, D))], axis=1),
                               np.concatenate([bias, np.broadcast_to(shared_bias, (b, b))], axis=1),
                               np.concatenate([correction, shared_correction], axis=1),
                               np.concatenate([mask, shared_mask], axis=1))
    assert rows.loss == pytest.approx(gathered.loss)
    np.testing.assert_allclose(rows.user, gathered.user, atol=1e-12)
    np.testing.assert_allclose(rows.item, gathered.item[:, :k], atol=1e-12)
    np.testing.assert_allclose(columns.item, gathered.item[:, k:].sum(axis=0), atol=1e-12)
    np.testing.assert_allclose(columns.bias, gathered.bias[:, k:].sum(axis=0), atol=1e-12)
