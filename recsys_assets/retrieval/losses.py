"""Softmax losses of the retrieval model, with their gradients in closed form.

The target is the full softmax over the catalog, ``P(i | r) = exp(s_ri) / Z_r`` with
``Z_r = sum_j exp(s_rj)``. A sampled softmax replaces ``Z_r`` by the positive's term plus an
importance-sampling estimate from the negatives drawn for it: ``m`` draws from a proposal
``Q`` give ``sum_n exp(s_rn) / (m Q(n))``, an unbiased estimate of ``Z_r`` (and its gradient
an unbiased estimate of ``grad Z_r``). That is the logQ correction: each negative's logit
becomes ``s_rn - log(m Q(n))``. For a pool drawn from several sources with fixed counts,
``Q`` is the mixture's marginal (the balance heuristic of multiple importance sampling;
``retrieval_negatives.mixture_prob``). Without the correction, the popular and same-category
items a pool over-draws are over-penalised, and rare items under-penalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Gradients:
    """Mean loss over the batch and its gradients with respect to the request vectors
    ``user (B, d)`` and the candidate items' vectors and biases."""

    loss: float
    user: np.ndarray
    item: np.ndarray
    bias: np.ndarray


def log_softmax_rows(logits: np.ndarray) -> np.ndarray:
    top = np.max(logits, axis=1, keepdims=True)
    shifted = logits - top
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def sampled_softmax(user: np.ndarray, item: np.ndarray, bias: np.ndarray, correction: np.ndarray,
                    mask: np.ndarray) -> Gradients:
    """Softmax over each row's candidates, the positive first.

    ``user (B, d)``; ``item (B, 1 + M, d)`` and ``bias (B, 1 + M)`` the positive then its
    negatives; ``correction (B, 1 + M)`` subtracted from the logits (0 for the positive,
    ``log(m Q)`` for a negative, or 0 for none); ``mask (B, 1 + M)`` False on padding and on
    negatives left out of the loss. Gradients are of the mean loss; ``item`` and ``bias``
    are per candidate slot."""
    logits = np.einsum("bd,bkd->bk", user, item) + bias - correction
    logits = np.where(mask, logits, -np.inf)
    logp = log_softmax_rows(logits)
    b = len(user)
    loss = -float(logp[:, 0].mean()) if b else 0.0
    d_logits = np.exp(logp)  # softmax; exp(-inf) = 0 on masked slots
    d_logits[:, 0] -= 1.0
    d_logits /= max(b, 1)
    return Gradients(loss, np.einsum("bk,bkd->bd", d_logits, item), d_logits[:, :, None] * user[:, None, :], d_logits)


def sampled_softmax_shared(user: np.ndarray, item: np.ndarray, bias: np.ndarray, correction: np.ndarray,
                           mask: np.ndarray, shared: np.ndarray, shared_bias: np.ndarray,
                           shared_correction: np.ndarray, shared_mask: np.ndarray) -> tuple[Gradients, Gradients]:
    """``sampled_softmax`` with more candidates every row shares (the batch's positives as
    in-batch negatives): ``shared (S, d)``, ``shared_bias (S,)``, ``shared_correction (B, S)``,
    ``shared_mask (B, S)`` (False on a row's own positive and accidental hits). The shared
    logits are one matrix product, not a gather per row. Returns the per-row gradients (as
    ``sampled_softmax``; ``user`` includes the shared part) and the shared items' ``(S, d)``,
    ``(S,)`` gradients."""
    own = np.einsum("bd,bkd->bk", user, item) + bias - correction
    other = user @ shared.T + shared_bias - shared_correction
    logits = np.concatenate([np.where(mask, own, -np.inf), np.where(shared_mask, other, -np.inf)], axis=1)
    logp = log_softmax_rows(logits)
    b, k = own.shape
    loss = -float(logp[:, 0].mean()) if b else 0.0
    d_logits = np.exp(logp)
    d_logits[:, 0] -= 1.0
    d_logits /= max(b, 1)
    d_own, d_other = d_logits[:, :k], d_logits[:, k:]
    d_user = np.einsum("bk,bkd->bd", d_own, item) + d_other @ shared
    rows = Gradients(loss, d_user, d_own[:, :, None] * user[:, None, :], d_own)
    return rows, Gradients(loss, d_user, d_other.T @ user, d_other.sum(axis=0))


def full_softmax(user: np.ndarray, items: np.ndarray, bias: np.ndarray, positive: np.ndarray,
                 allowed: np.ndarray) -> Gradients:
    """Softmax over the whole catalog: ``items (N, d)``, ``bias (N,)``, ``positive (B,)`` the
    positive's index, ``allowed (B, N)`` the items in each row's normaliser (the positive is
    always in it). ``item``/``bias`` gradients are per catalog item ``(N, d)``, ``(N,)``."""
    b = len(user)
    rows = np.arange(b)
    allowed = allowed.copy()
    allowed[rows, positive] = True
    logits = np.where(allowed, user @ items.T + bias, -np.inf)
    logp = log_softmax_rows(logits)
    loss = -float(logp[rows, positive].mean()) if b else 0.0
    d_logits = np.exp(logp)
    d_logits[rows, positive] -= 1.0
    d_logits /= max(b, 1)
    return Gradients(loss, d_logits @ items, d_logits.T @ user, d_logits.sum(axis=0))
