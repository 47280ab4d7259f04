"""Training the two-tower model: Adam on a softmax loss, early stopping on the validation
day's full-catalog Recall@100.

Losses (``RetrievalConfig.loss``): ``sampled`` (each positive against its negatives from
the pool, logQ corrected unless ``logq`` is off; optionally the batch's other positives as
well, ``in_batch``) or ``full`` (every item of the positive's day in the normaliser: the
unbiased target the sampled loss approximates, feasible at a catalog of thousands). Other
positives of the same request are never negatives (accidental hits are masked).

Two options from the policy's ``training`` section act on the pool's hard negatives: a
curriculum (``hard_curriculum_epochs``: epoch ``e`` keeps a share ``e / E`` of them) and a
distance filter (``max_cosine``: from the second epoch, a hard, same-category or exposed
negative whose item vector is closer than that to its positive's, in the current model, is
left out of the loss: a likely false negative).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import sparse

from recsys_assets.policies.samplers import RETRIEVAL_SOURCES

from .losses import full_softmax, sampled_softmax, sampled_softmax_shared
from .model import TwoTower

Progress = Callable[[str], None]
FILTERED_SOURCES = tuple(RETRIEVAL_SOURCES.index(s) for s in ("same_category", "exposed_no_click", "hard"))
HARD = RETRIEVAL_SOURCES.index("hard")


@dataclass(frozen=True)
class RetrievalConfig:
    loss: str = "sampled"            # sampled | full
    logq: bool = True                # correct the sampled logits by log(m Q)
    in_batch: bool = False           # the batch's other positives as extra negatives (logQ by their click share)
    dim: int = 32
    epochs: int = 20
    patience: int = 2                # epochs without a better validation Recall@100 before stopping
    batch_size: int = 512            # at most; smaller on few clicks, so that an epoch has >= 50 steps
    learning_rate: float = 0.005
    weight_decay: float = 1e-4       # decoupled (AdamW) decay of every embedding
    min_count: int = 2               # ids seen fewer times in training share the "unknown" embedding
    hard_curriculum_epochs: int = 0  # 0 = off
    max_cosine: float | None = None  # None = no distance filter
    seed: int = 0


@dataclass
class Examples:
    """One row per positive (a click), its negatives padded to the widest pool."""

    ctx: np.ndarray          # (P, context fields) vocabulary indices
    positive: np.ndarray     # (P,) catalog index of the clicked item
    request: np.ndarray      # (P,) request code: positives of one request share it
    day: np.ndarray          # (P,) index of the positive's day (row of ``Batches.allowed``)
    negatives: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # (P, M) catalog index, -1 = none
    mixture_prob: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))         # (P, M) Q of each negative
    source: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))      # (P, M) index in RETRIEVAL_SOURCES

    def __len__(self) -> int:
        return len(self.positive)


@dataclass
class Fit:
    model: TwoTower
    history: list[dict[str, float | None]]
    best_epoch: int
    seconds: float
    filtered: int = 0      # negatives left out by the distance filter (all epochs)
    curriculum_dropped: int = 0


class Adam:
    def __init__(self, params: dict[str, np.ndarray], lr: float, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.wd, self.betas, self.eps = params, lr, weight_decay, betas, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for k, p in self.params.items():
            g = grads[k]
            m, v = self.m[k], self.v[k]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= self.lr * ((m / c1) / (np.sqrt(v / c2) + self.eps) + self.wd * p)


def _siblings(request: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (example, item) where the item is another positive of the example's request."""
    order = np.argsort(request, kind="stable")
    req = request[order]
    starts = np.flatnonzero(np.r_[True, req[1:] != req[:-1]])
    sizes = np.diff(np.r_[starts, len(req)])
    multi = sizes > 1
    if not multi.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ex, it = [], []
    for size in np.unique(sizes[multi]):  # one vectorized block per group size (a handful)
        block = starts[sizes == size][:, None] + np.arange(size)[None, :]   # (groups, size)
        rows = order[block]
        a = np.repeat(rows, size, axis=1).ravel()
        b = np.tile(rows, (1, size)).ravel()
        keep = a != b
        ex.append(a[keep])
        it.append(positive[b[keep]])
    ex_all, it_all = np.concatenate(ex), np.concatenate(it)
    keep = it_all != positive[ex_all]  # the same item clicked twice in a request is not a negative of itself
    return ex_all[keep], it_all[keep]


def scatter_rows(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``out[i] = sum of values[j] where index[j] == i`` for ``i < size`` (a sparse product:
    much faster than ``np.add.at`` on wide rows)."""
    n = len(index)
    onehot = sparse.csr_matrix((np.ones(n), (index, np.arange(n))), shape=(size, n))
    return np.asarray(onehot @ values)


def _scatter(grads: dict[str, np.ndarray], model: TwoTower, ctx: np.ndarray, d_user: np.ndarray,
             item_fields: np.ndarray, d_items: np.ndarray, d_bias: np.ndarray) -> None:
    """Add the request-vector and per-catalog-item gradients to the embedding tables'."""
    for j, f in enumerate(model.context_vocab):
        grads[f"context/{f}"] += scatter_rows(ctx[:, j], d_user, len(grads[f"context/{f}"]))
    touched = np.flatnonzero(np.any(d_items != 0, axis=1) | (d_bias != 0))
    both = np.concatenate([d_items[touched], d_bias[touched, None]], axis=1)
    for j, f in enumerate(model.item_vocab):
        g = scatter_rows(item_fields[touched, j], both, len(grads[f"bias/{f}"]))
        grads[f"items/{f}"] += g[:, :-1]
        grads[f"bias/{f}"] += g[:, -1]


def train(model: TwoTower, examples: Examples, item_fields: np.ndarray, allowed: np.ndarray, config: RetrievalConfig,
          validate: Callable[[TwoTower], float] | None = None, progress: Progress | None = None,
          label: str = "retrieval model", click_share: np.ndarray | None = None) -> Fit:
    """Fit ``model`` in place. ``item_fields (N, item fields)`` encodes the catalog;
    ``allowed (days, N)`` the items in each day's catalog (the full softmax's normaliser);
    ``validate(model)`` returns the validation Recall@100 the best epoch is chosen by;
    ``click_share (N,)`` each item's share of the training positives (in-batch logQ)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    params = model.parameters()
    opt = Adam(params, config.learning_rate, config.weight_decay)
    sib_ex, sib_item = _siblings(examples.request, examples.positive)
    n, slots = len(examples), examples.negatives.shape[1] if examples.negatives.ndim == 2 else 0
    if config.loss == "sampled" and slots == 0 and not config.in_batch:
        raise ValueError(f"{label}: no negatives to train a sampled softmax on (an empty pool)")
    pool_valid = examples.negatives >= 0
    m = pool_valid.sum(axis=1, keepdims=True).astype(float)
    estimators = 2.0 if config.in_batch and slots else 1.0  # two estimates of Z averaged
    with np.errstate(divide="ignore"):
        pool_corr = np.where(pool_valid, np.log(np.maximum(m, 1) * np.maximum(examples.mixture_prob, 1e-300) * estimators), 0.0)
    if not config.logq:
        pool_corr = np.zeros_like(pool_corr)
    history: list[dict[str, float | None]] = []
    best, best_epoch, best_params, waited = -np.inf, 0, None, 0
    if validate is not None:  # epoch 0: the starting point (e.g. popularity biases) is a candidate too
        best = validate(model)
        best_params = {k: v.copy() for k, v in params.items()}
        history.append({"epoch": 0, "loss": None, "valid_recall@100": best})
    filtered = dropped = 0
    where = np.full(n, -1, np.int64)
    batch_size = int(np.clip(n // 50, 32, config.batch_size))
    for epoch in range(1, config.epochs + 1):
        perm = rng.permutation(n)
        keep_hard = 1.0 if not config.hard_curriculum_epochs else min(1.0, epoch / config.hard_curriculum_epochs)
        losses = []
        for start in range(0, n, batch_size):
            batch = perm[start:start + batch_size]
            b = len(batch)
            ctx = examples.ctx[batch]
            user = model.user_vectors(ctx)
            grads = {k: np.zeros_like(v) for k, v in params.items()}
            pos = examples.positive[batch]
            if config.loss == "full":
                vec, bias = model.item_vectors(item_fields)
                mask = allowed[examples.day[batch]].copy()
                where[batch] = np.arange(b)
                sel = where[sib_ex] >= 0
                mask[where[sib_ex[sel]], sib_item[sel]] = False
                where[batch] = -1
                # in float32: 3.5x faster over a catalog of thousands; its rounding (1e-7 relative) is far
                # below the noise of a minibatch gradient
                g = full_softmax(user.astype(np.float32), vec.astype(np.float32), bias.astype(np.float32), pos, mask)
                _scatter(grads, model, ctx, g.user, item_fields, g.item, g.bias)
            else:
                # only the batch's items are embedded (the catalog may be large), at local indices
                negs = np.maximum(examples.negatives[batch], 0) if slots else np.zeros((b, 0), np.int64)
                needed = np.unique(np.concatenate([pos, negs.ravel()]))
                vec, bias = model.item_vectors(item_fields[needed])
                pos_local = np.searchsorted(needed, pos)
                cand, corr, ok = pos_local[:, None], np.zeros((b, 1)), np.ones((b, 1), bool)
                if slots:
                    negs = np.searchsorted(needed, negs)
                    valid = pool_valid[batch].copy()
                    src = examples.source[batch]
                    if keep_hard < 1.0:
                        drop = valid & (src == HARD) & (rng.random(valid.shape) >= keep_hard)
                        dropped += int(drop.sum())
                        valid &= ~drop
                    if config.max_cosine is not None and epoch > 1:
                        vp = vec[pos_local]
                        vn = vec[negs]
                        cos = np.einsum("bd,bmd->bm", vp, vn) / (
                            np.linalg.norm(vp, axis=1)[:, None] * np.linalg.norm(vn, axis=2) + 1e-12)
                        close = valid & np.isin(src, FILTERED_SOURCES) & (cos > config.max_cosine)
                        filtered += int(close.sum())
                        valid &= ~close
                    cand = np.concatenate([cand, negs], axis=1)
                    corr = np.concatenate([corr, pool_corr[batch]], axis=1)
                    ok = np.concatenate([ok, valid], axis=1)
                width = model.dim + 1
                if config.in_batch:
                    request = examples.request[batch]
                    same = (request[:, None] == request[None, :]) | (pos[:, None] == pos[None, :])
                    share = click_share[pos] if click_share is not None else np.full(b, 1.0 / max(len(item_fields), 1))
                    ib_corr = np.log(b * np.maximum(share, 1e-12) * estimators)[None, :] if config.logq else 0.0
                    g, shared = sampled_softmax_shared(user, vec[cand], bias[cand], corr, ok, vec[pos_local],
                                                       bias[pos_local], np.broadcast_to(ib_corr, (b, b)), ~same)
                    rows = np.concatenate([cand.ravel(), pos_local])
                    values = np.concatenate([
                        np.concatenate([g.item.reshape(-1, model.dim), g.bias.reshape(-1, 1)], axis=1),
                        np.concatenate([shared.item, shared.bias[:, None]], axis=1)])
                else:
                    g = sampled_softmax(user, vec[cand], bias[cand], corr, ok)
                    rows = cand.ravel()
                    values = np.concatenate([g.item.reshape(-1, model.dim), g.bias.reshape(-1, 1)], axis=1)
                both = scatter_rows(rows, values.reshape(-1, width), len(needed))
                _scatter(grads, model, ctx, g.user, item_fields[needed], both[:, :-1], both[:, -1])
            losses.append(g.loss * b)
            opt.step(grads)
        row = {"epoch": epoch, "loss": float(np.sum(losses) / max(n, 1))}
        if validate is not None:
            row["valid_recall@100"] = validate(model)
        history.append(row)
        if progress:
            progress(f"{label}: epoch {epoch} loss {row['loss']:.4f}"
                     + (f", validation Recall@100 {row['valid_recall@100']:.4f}" if validate else ""))
        score = row.get("valid_recall@100", -row["loss"])
        if score > best:
            best, best_epoch, waited = score, epoch, 0
            best_params = {k: v.copy() for k, v in params.items()}
        else:
            waited += 1
            if waited >= config.patience:
                break
    if best_params is not None:
        for k, v in best_params.items():
            params[k][...] = v
    model.info = model.info | {"config": asdict(config), "best_epoch": best_epoch}
    return Fit(model, history, best_epoch, time.perf_counter() - t0, filtered, dropped)
