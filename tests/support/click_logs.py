"""Synthetic click logs with a known examination curve, for the position-bias estimators:
contexts with their items, logging policies that order them by relevance (plus a per-policy
item offset), exploration designs that perturb the logged slate, PBM or trust-bias clicks."""

import numpy as np

from recsys_assets.ranker.position_bias import LoggedClicks


def synthetic(n_requests, theta, explore_share=0.0, design="shuffle", top_k=10, policies=1, policy_noise=0.3,
              trust_minus=None, seed=0, n_pairs=400, contexts=40):
    """``n_requests`` slates of len(theta) items. Each context has ``n_pairs // contexts`` items,
    shown in full; the logging policy (one per request, uniformly) orders them by relevance +
    its item offset + noise; ``explore_share`` of requests perturb it by ``design`` (with the
    design's propensities). Clicks: theta_k * gamma (PBM), or theta_k * (gamma + eps-_k
    (1 - gamma)) with ``trust_minus`` = eps- per position."""
    rng = np.random.default_rng(seed)
    k = len(theta)
    gamma = rng.beta(1, 4, n_pairs)
    ctx = rng.integers(0, contexts, n_requests)
    per_ctx = n_pairs // contexts
    items = ctx[:, None] * per_ctx + np.argsort(rng.random((n_requests, per_ctx)), axis=1)[:, :k]  # k of the context's items
    policy = rng.integers(0, policies, n_requests)
    offsets = rng.normal(0, policy_noise, (policies, n_pairs)) if policies > 1 else np.zeros((1, n_pairs))
    score = gamma[items] + offsets[policy[:, None], items] + rng.normal(0, 0.05, items.shape)
    slate = np.take_along_axis(items, np.argsort(-score, axis=1), axis=1)
    explore = rng.random(n_requests) < explore_share
    prop = np.full(slate.shape, np.nan)
    m = int(explore.sum())
    if m:
        s = slate[explore]
        if design == "shuffle":
            order = np.argsort(rng.random(s.shape), axis=1)
            p = np.full(s.shape, 1 / k)
        elif design == "topk_shuffle":
            order = np.tile(np.arange(k), (m, 1))
            order[:, :top_k] = np.argsort(rng.random((m, top_k)), axis=1)
            p = np.where(np.arange(k) < top_k, 1 / top_k, 1.0)[None, :].repeat(m, 0)
        else:
            order = np.tile(np.arange(k), (m, 1))
            j, r = rng.integers(0, k - 1, m), np.arange(m)
            order[r, j], order[r, j + 1] = j + 1, j
            member = np.where((np.arange(k) == 0) | (np.arange(k) == k - 1), 1, 2)
            p = np.tile(1 - member / (k - 1), (m, 1))
            p[r, j] = p[r, j + 1] = 1 / (k - 1)
        slate[explore] = np.take_along_axis(s, order, axis=1)
        prop[explore] = p
    positions = np.tile(np.arange(1, k + 1), n_requests)
    flat = slate.ravel()
    th = theta[positions - 1]
    if trust_minus is None:
        pclick = th * gamma[flat]
    else:
        pclick = th * (gamma[flat] + trust_minus[positions - 1] * (1 - gamma[flat]))
    clicks = (rng.random(flat.size) < pclick).astype(float)
    pol = np.where(explore, policies, policy)
    return LoggedClicks(position=positions, click=clicks, exploration=np.repeat(explore, k), pair=flat,
                        policy=np.repeat(pol, k), group=np.full(n_requests, k), propensity=prop.ravel())
