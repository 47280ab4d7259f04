"""Evaluation metrics on request groups: scikit-learn's (AUC, log loss), and NDCG vectorized
over requests, pinned to scikit-learn's ``ndcg_score`` by tests.

Scores of a request are compared within the request (NDCG); probabilities are compared
with clicks (AUC, log loss, reliability, ECE). Groups are contiguous runs of rows; for
NDCG they are padded to a matrix (padding has gain 0 and the lowest score, so it never
changes a request's DCG or ideal DCG).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

POSITION_BUCKETS = ((1, 3, "1-3"), (4, 10, "4-10"), (11, 20, "11-20"), (21, 10**9, "21+"))


def _padded(values: np.ndarray, groups: np.ndarray, fill: float) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(groups)[:-1]])
    width = int(groups.max()) if len(groups) else 0
    offsets = np.arange(width)
    idx = starts[:, None] + offsets[None, :]
    valid = offsets[None, :] < groups[:, None]
    out = np.full(idx.shape, fill, dtype=float)
    out[valid] = values[idx[valid]]
    return out


def grouped_ndcg(relevance: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int,
                 mask: np.ndarray | None = None) -> float:
    """Mean NDCG@k over requests (optionally only the requests in ``mask``, one flag per group)
    that have at least two rows and some positive relevance."""
    if len(groups) == 0:
        return float("nan")
    values, keep = per_request_ndcg(relevance, scores, groups, k)
    if mask is not None:
        keep &= mask
    if not keep.any():
        return float("nan")
    return float(np.mean(values[keep]))


def per_request_ndcg(relevance: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """NDCG@k of every request, tied scores sharing their slots' discount (as scikit-learn's
    ``ndcg_score`` does; rows come in logged position order, so breaking ties by row order
    would score the logging ranker's order), and a mask of the requests
    where it is defined (two rows or more, some relevance). The per-request values are what
    the comparison's paired bootstrap resamples."""
    rel = _padded(relevance.astype(float), groups, 0.0)
    sc = _padded(scores.astype(float), groups, -1e30)
    defined = (groups >= 2) & (rel.sum(axis=1) > 0)
    out = np.full(len(groups), np.nan)
    out[defined] = tie_averaged_ndcg(rel[defined], sc[defined], k)
    return out, defined


def tie_averaged_ndcg(relevance: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k of every row of a (requests x slots) matrix, items of equal score sharing their
    slots' discount equally (the average gain of a tie group at each of its positions):
    scikit-learn's ``ndcg_score`` with ties averaged (its default), per row, vectorized. Its
    own loop over rows (``np.unique`` per request) took 16 s of the demo's evaluation; this
    gives the same values (tested against it)."""
    n, width = relevance.shape
    if n == 0 or width == 0:
        return np.zeros(n)
    discount = np.zeros(width)
    top = min(k, width)
    discount[:top] = 1.0 / np.log2(np.arange(2, top + 2))
    dcg = (tie_averaged_slots(relevance, scores) * discount).sum(axis=1)
    ideal = (-np.sort(-relevance, axis=1) * discount).sum(axis=1)
    return np.divide(dcg, ideal, out=np.zeros(n), where=ideal > 0)


def tie_averaged_slots(values: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each row's values in descending score order, every slot holding the mean value of its
    tie group (the items of equal score): what a slot holds in expectation when ties are
    broken at random. Rows arrive in logged position order, so breaking ties by row order
    would credit the logging ranker's order to the model."""
    n, width = values.shape
    order = np.argsort(-scores, axis=1, kind="stable")
    sorted_scores = np.take_along_axis(scores, order, axis=1)
    sorted_values = np.take_along_axis(values, order, axis=1)
    # tie groups: runs of equal score within a row (a new group at every row's first slot)
    starts = np.ones((n, width), dtype=bool)
    starts[:, 1:] = sorted_scores[:, 1:] != sorted_scores[:, :-1]
    group = np.cumsum(starts.ravel()) - 1
    mean = np.bincount(group, weights=sorted_values.ravel()) / np.bincount(group)
    return mean[group].reshape(n, width)


def reliability(prob: np.ndarray, clicks: np.ndarray, bins: int = 10) -> tuple[list[dict], float]:
    """Equal-count bins of predicted probability: mean prediction vs observed rate, and ECE."""
    order = np.argsort(prob, kind="stable")
    table, ece = [], 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk) == 0:
            continue
        pred, obs = float(prob[chunk].mean()), float(clicks[chunk].mean())
        table.append({"bin": len(table) + 1, "rows": len(chunk), "predicted": pred, "observed": obs})
        ece += len(chunk) / len(prob) * abs(pred - obs)
    return table, float(ece)


def classification_metrics(prob: np.ndarray, clicks: np.ndarray) -> dict[str, float]:
    out = {"rows": float(len(clicks)), "ctr": float(clicks.mean()) if len(clicks) else float("nan")}
    if len(np.unique(clicks)) == 2:
        out["auc"] = float(roc_auc_score(clicks, prob))
        out["log_loss"] = float(log_loss(clicks, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1]))
        out["ece"] = reliability(prob, clicks)[1]
    return out


def position_bucket(positions: np.ndarray) -> np.ndarray:
    out = np.empty(len(positions), dtype=object)
    for lo, hi, name in POSITION_BUCKETS:
        out[(positions >= lo) & (positions <= hi)] = name
    return out


def top1_terms(scores: np.ndarray, groups: np.ndarray, clicks: np.ndarray, positions: np.ndarray,
               propensity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per request of randomized traffic: the weight of its logged top item (the chance the
    model picks it, over its logged propensity), its click, whether the request counts (a row
    at position 1 with a propensity) and the chance the model picks it (``match``)."""
    sc = _padded(scores.astype(float), groups, -np.inf)
    best = sc.max(axis=1)
    tied_at_best = (sc == best[:, None]).sum(axis=1)
    group_of_row = np.repeat(np.arange(len(groups)), groups)
    top = np.full(len(groups), -1)
    first = np.flatnonzero(positions == 1)  # the row logged at position 1 of each request
    top[group_of_row[first]] = first
    ok = (top >= 0) & ~np.isnan(propensity[np.maximum(top, 0)])
    # the model's choice: its top item, ties broken at random, so the logged top item is
    # chosen with probability 1 / (items tied at the best score) when it is one of them
    match = np.where(ok & (scores[np.maximum(top, 0)] == best), 1.0 / tied_at_best, 0.0)
    w = match / np.where(ok, propensity[np.maximum(top, 0)], 1.0)
    c = np.where(ok, clicks[np.maximum(top, 0)], 0.0)
    return w, c, ok, match


def off_policy_top1(scores: np.ndarray, groups: np.ndarray, clicks: np.ndarray, positions: np.ndarray,
                    propensity: np.ndarray, rng: np.random.Generator, bootstrap: int = 200) -> dict[str, float]:
    """IPS and SNIPS estimates of the click rate at position 1 if the model chose the top item,
    from randomized requests: the logged top item counts when it is the model's choice,
    weighted by 1 / its logged propensity; where the model ties several items at its best
    score, by the chance 1 / (tied items) that a random tie-break picks it (``matches`` is
    then an expected count). 95% bootstrap intervals over requests."""
    if len(groups) == 0:
        return {}
    w, c, ok, match = top1_terms(scores, groups, clicks, positions, propensity)
    n_ok = int(ok.sum())
    if n_ok == 0:
        return {}

    def estimate(idx: np.ndarray) -> tuple[float, float]:
        wi, ci = w[idx], c[idx]
        ips = float((wi * ci).sum() / len(idx))
        snips = float((wi * ci).sum() / wi.sum()) if wi.sum() > 0 else float("nan")
        return ips, snips

    pool = np.flatnonzero(ok)
    ips, snips = estimate(pool)
    boots = np.array([estimate(rng.choice(pool, size=len(pool), replace=True)) for _ in range(bootstrap)])
    ips_low, ips_high = _interval(boots[:, 0])
    snips_low, snips_high = _interval(boots[:, 1])
    return {"requests": float(n_ok), "matches": float(match.sum()), "ips": ips, "snips": snips,
            "ips_low": ips_low, "ips_high": ips_high, "snips_low": snips_low, "snips_high": snips_high}


def _interval(boots: np.ndarray) -> tuple[float, float]:
    """95% percentile interval of the bootstrap estimates that are defined (SNIPS is not
    where a resample holds no match); NaN when none is."""
    defined = boots[np.isfinite(boots)]
    if len(defined) == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high)


def _fmt(v: float | None) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.4f}"


def evaluate_variants(scores: dict[str, np.ndarray], probs: dict[str, np.ndarray], clicks: np.ndarray,
                      positions: np.ndarray, groups: np.ndarray, segments: np.ndarray, exploration: np.ndarray,
                      propensity: np.ndarray, truth: np.ndarray | None, seed: int = 0
                      ) -> tuple[list[dict], dict[str, str]]:
    """Every metric of every variant, as rows (variant, metric, slice, value), plus markdown tables."""
    results: list[dict] = []

    def add(variant: str, metric: str, slice_: str, value: float | None) -> None:
        results.append({"variant": variant, "metric": metric, "slice": slice_,
                        "value": None if value is None or not np.isfinite(value) else float(value)})

    group_of_row = np.repeat(np.arange(len(groups)), groups)
    group_segment = segments[np.concatenate([[0], np.cumsum(groups)[:-1]])] if len(groups) else segments[:0]
    group_explore = exploration[np.concatenate([[0], np.cumsum(groups)[:-1]])] if len(groups) else exploration[:0]
    buckets = position_bucket(positions)
    seg_values = sorted(set(group_segment.tolist()))
    for variant, p in probs.items():
        for name, value in classification_metrics(p, clicks).items():
            add(variant, name, "all", value)
        for _, _, bucket in POSITION_BUCKETS:
            mask = buckets == bucket
            for name, value in classification_metrics(p[mask], clicks[mask]).items():
                add(variant, name, f"position:{bucket}", value)
        for seg in seg_values:
            mask = segments == seg
            for name, value in classification_metrics(p[mask], clicks[mask]).items():
                add(variant, name, f"segment:{seg}", value)
        table, _ = reliability(p, clicks)
        for row in table:
            add(variant, "reliability_predicted", f"reliability:{row['bin']}", row["predicted"])
            add(variant, "reliability_observed", f"reliability:{row['bin']}", row["observed"])
    rng = np.random.default_rng(seed)
    for variant, sc in scores.items():
        for k in (5, 10):
            add(variant, f"ndcg@{k}", "all", grouped_ndcg(clicks, sc, groups, k))
        if truth is not None:
            add(variant, "truth_ndcg@10", "all", grouped_ndcg(truth, sc, groups, 10))
        for seg in seg_values:
            mask = group_segment == seg
            add(variant, "ndcg@10", f"segment:{seg}", grouped_ndcg(clicks, sc, groups, 10, mask))
            if truth is not None:
                add(variant, "truth_ndcg@10", f"segment:{seg}", grouped_ndcg(truth, sc, groups, 10, mask))
        if variant != "logging" and group_explore.any():
            rows = group_explore[group_of_row]
            ope = off_policy_top1(sc[rows], groups[group_explore], clicks[rows], positions[rows], propensity[rows], rng)
            for name, value in ope.items():
                add(variant, f"exploration_{name}", "all", value)
    return results, _tables(results, list(scores))


def _tables(results: list[dict], variants: list[str]) -> dict[str, str]:
    get = {(r["variant"], r["metric"], r["slice"]): r["value"] for r in results}
    tables = {}
    cols = ["truth_ndcg@10", "ndcg@5", "ndcg@10", "auc", "log_loss", "ece", "exploration_snips"]
    lines = ["| variant | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for v in variants:
        lines.append(f"| {v} | " + " | ".join(_fmt(get.get((v, c, "all"))) for c in cols) + " |")
    tables["model_comparison"] = "\n".join(lines)
    bins = sorted({int(r["slice"].split(":")[1]) for r in results if r["slice"].startswith("reliability:") and r["variant"] == "model"})
    if bins:
        lines = ["| bin | predicted CTR | observed CTR |", "|---:|---:|---:|"]
        for b in bins:
            lines.append(f"| {b} | {_fmt(get.get(('model', 'reliability_predicted', f'reliability:{b}')))} | "
                         f"{_fmt(get.get(('model', 'reliability_observed', f'reliability:{b}')))} |")
        tables["reliability"] = "\n".join(lines)
    lines = ["| position | CTR | model AUC | model ECE | naive AUC | naive ECE |", "|---|---:|---:|---:|---:|---:|"]
    for _, _, bucket in POSITION_BUCKETS:
        sl = f"position:{bucket}"
        lines.append(f"| {bucket} | {_fmt(get.get(('model', 'ctr', sl)))} | {_fmt(get.get(('model', 'auc', sl)))} | "
                     f"{_fmt(get.get(('model', 'ece', sl)))} | {_fmt(get.get(('naive', 'auc', sl)))} | {_fmt(get.get(('naive', 'ece', sl)))} |")
    tables["by_position"] = "\n".join(lines)
    segs = sorted({r["slice"].split(":", 1)[1] for r in results if r["slice"].startswith("segment:")})
    lines = ["| segment | " + " | ".join(f"{v} ndcg@10" for v in variants) + " |", "|---|" + "---:|" * len(variants)]
    for seg in segs:
        metric = "truth_ndcg@10" if any(r["metric"] == "truth_ndcg@10" for r in results) else "ndcg@10"
        lines.append(f"| {seg} | " + " | ".join(_fmt(get.get((v, metric, f"segment:{seg}"))) for v in variants) + " |")
    tables["by_segment"] = "\n".join(lines)
    return tables
