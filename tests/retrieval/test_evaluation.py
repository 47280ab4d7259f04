"""Full-catalog retrieval metrics on hand-made cases: eligibility as of each request's time and
audience, ranks among eligible items only, Recall@K and NDCG@100 by definition; and the training
options (curriculum, distance filter, in-batch) doing what they say on a toy problem."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from recsys_assets.retrieval.evaluation import HeldOut, exposure_weights, per_request, rank_clicks

T0 = dt.datetime(2026, 1, 10)


def _held(requests: list[tuple[str, int, str | None, bool]], clicks: list[tuple[str, str]],
          intervals: list[tuple[str, int, int, str | None, bool]], items: list[str]) -> HeldOut:
    """requests: (id, minute, region, age_verified); clicks: (request, item);
    intervals: (item, from minute, to minute, region, age_verified)."""
    by_id = {r[0]: r for r in requests}
    rows = sorted(clicks, key=lambda c: (by_id[c[0]][1], c[0], c[1]))
    clicks_table = pa.table({
        "request_id": [c[0] for c in rows], "item_id": [c[1] for c in rows],
        "request_ts": pa.array([T0 + dt.timedelta(minutes=by_id[c[0]][1]) for c in rows], pa.timestamp("us")),
        "user_id": ["u"] * len(rows), "query": [""] * len(rows), "surface": ["search"] * len(rows),
        "device": ["d"] * len(rows), "region": [by_id[c[0]][2] for c in rows], "segment": ["s"] * len(rows),
        "age_verified": [by_id[c[0]][3] for c in rows]})
    eligible = pa.table({
        "item_id": [i[0] for i in intervals],
        "valid_from": pa.array([T0 + dt.timedelta(minutes=i[1]) for i in intervals], pa.timestamp("us")),
        "valid_to": pa.array([T0 + dt.timedelta(minutes=i[2]) for i in intervals], pa.timestamp("us")),
        "region": pa.array([i[3] for i in intervals], pa.string()), "age_verified": [i[4] for i in intervals]})
    return HeldOut.from_tables(clicks_table, eligible, pa.array(items))


def test_eligibility_follows_each_requests_time_and_audience():
    items = ["a", "b", "c"]
    held = _held(
        requests=[("r1", 5, "EU", True), ("r2", 15, "EU", False), ("r3", 25, "NA", True)],
        clicks=[("r1", "a"), ("r2", "a"), ("r3", "a")],
        intervals=[("a", 0, 100, "EU", True), ("a", 0, 100, "EU", False), ("a", 0, 100, "NA", True),
                   ("b", 10, 20, "EU", False),   # back in stock from minute 10 to 20, for unverified EU users
                   ("c", 0, 10, "EU", True), ("c", 20, 30, "NA", True)],
        items=items)
    mask = held.eligibility(slice(0, 3), 3)
    assert mask.tolist() == [[True, False, True],     # r1 at 5, EU verified: a, c
                             [True, True, False],     # r2 at 15, EU unverified: a, b
                             [True, False, True]]     # r3 at 25, NA: a, c


def test_a_click_ranks_among_eligible_items_only_and_metrics_follow_their_definitions():
    items = [f"i{k}" for k in range(300)]
    everywhere = [(i, 0, 100, "EU", True) for i in items if i != "i299"]  # i299 never eligible
    held = _held(requests=[("r1", 1, "EU", True), ("r2", 2, "EU", True)],
                 clicks=[("r1", "i10"), ("r1", "i150"), ("r2", "i299")], intervals=everywhere, items=items)
    scores = -np.arange(300, dtype=float)  # i0 best ... i299 worst; the same for both requests
    popularity = np.arange(300, dtype=float)
    ranked = rank_clicks({"m": lambda rows: np.broadcast_to(scores, (rows.stop - rows.start, 300))}, held, 300,
                         popularity)["m"]
    assert ranked.rank[:2].tolist() == [10, 150]
    assert ranked.rank[2] == np.inf  # not eligible at its time: never retrieved
    metrics = per_request(ranked, held)
    assert metrics["recall@100"].tolist() == [0.5, 0.0] and metrics["recall@200"].tolist() == [1.0, 0.0]
    ideal = 1 + 1 / np.log2(3)
    assert metrics["ndcg@100"][0] == pytest.approx((1 / np.log2(12)) / ideal)
    assert ranked.top_popularity[0] == pytest.approx(np.arange(100).mean())  # the 100 best-scored items


def test_tied_scores_rank_in_the_middle_of_their_tie():
    """A constant score (the popularity baseline on never-clicked items) must not rank a click
    first: 300 tied items put it at 149.5 in expectation, outside the top 100."""
    items = [f"i{k}" for k in range(300)]
    held = _held(requests=[("r1", 1, "EU", True)], clicks=[("r1", "i7")],
                 intervals=[(i, 0, 100, "EU", True) for i in items], items=items)
    ranked = rank_clicks({"m": lambda rows: np.zeros((rows.stop - rows.start, 300))}, held, 300, np.zeros(300))["m"]
    assert ranked.rank.tolist() == [149.5]
    assert per_request(ranked, held)["recall@100"].tolist() == [0.0]


def test_exposure_weights_are_inverse_propensities_clipped_at_the_95th_percentile():
    exposures = np.array([0.0, 999.0, 99.0, 4.0])  # shown in 0, 999, 99 and 4 of 999 training requests
    clicked = np.array([1] * 90 + [2] * 5 + [3] * 3 + [0, -1])  # the last click's item is not in the catalog
    weights = exposure_weights(exposures, 999, clicked)
    clip = np.percentile([1.0] * 90 + [10.0] * 5 + [200.0] * 3 + [1000.0] * 2, 95)
    assert 10 < clip < 200
    assert weights[:90].tolist() == [1.0] * 90 and weights[90:95].tolist() == [10.0] * 5
    assert weights[95:].tolist() == [clip] * 5  # the rarely and never shown items: clipped


def test_ips_recall_weighs_each_click_by_its_exposure_weight():
    """r1: a rare item's click (weight 4) retrieved, a common one's (1) missed; r2: one common
    click retrieved. Click recall: mean(1/2, 1) = 0.75; IPS recall: (4 + 1) / (4 + 1 + 1)."""
    items = [f"i{k}" for k in range(300)]
    held = _held(requests=[("r1", 1, "EU", True), ("r2", 2, "EU", True)],
                 clicks=[("r1", "i3"), ("r1", "i250"), ("r2", "i5")],
                 intervals=[(i, 0, 100, "EU", True) for i in items], items=items)
    scores = -np.arange(300, dtype=float)
    ranked = rank_clicks({"m": lambda rows: np.broadcast_to(scores, (rows.stop - rows.start, 300))}, held, 300,
                         np.zeros(300))["m"]
    metrics = per_request(ranked, held, exposure_weight=np.where(held.positive_item == 3, 4.0, 1.0))
    assert metrics["recall@100"].mean() == pytest.approx(0.75)
    assert metrics["ips_recall@100"].mean() == pytest.approx(5 / 6)
    assert "ips_recall@100" not in per_request(ranked, held)  # no weights, no estimate


def _random_case(seed: int = 0, n_requests: int = 40, n_items: int = 250):
    rng = np.random.default_rng(seed)
    items = [f"i{k}" for k in range(n_items)]
    requests = [(f"r{k:02d}", k, "EU", True) for k in range(n_requests)]
    clicks = [(f"r{k:02d}", items[j]) for k in range(n_requests) for j in rng.choice(n_items, 2, replace=False)]
    intervals = [(i, int(a), int(a) + 60, "EU", True) for i, a in zip(items, rng.integers(-40, n_requests, n_items))]
    held = _held(requests=requests, clicks=clicks, intervals=intervals, items=items)
    scores = {name: rng.normal(size=(n_requests, n_items)) for name in ("a", "b", "c")}
    relevance = rng.random((n_requests, n_items))
    return held, scores, relevance


def test_truth_metrics_follow_their_definitions_on_every_request():
    """truth_recall@100: the share of the 100 truly best eligible items in the model's top 100;
    truth_ndcg@100: the model's top 100 in its order, true relevance as gain, over the ideal."""
    held, scores, relevance = _random_case()
    n_items = relevance.shape[1]
    ranked = rank_clicks({"a": lambda rows: scores["a"][rows]}, held, n_items, np.zeros(n_items),
                         truth=lambda rows: relevance[rows], chunk=7)["a"]
    eligible = held.eligibility(slice(0, held.requests), n_items)
    discount = 1 / np.log2(np.arange(2, 102))
    for r in range(held.requests):
        ok = np.flatnonzero(eligible[r])
        assert len(ok) >= 100
        model_top = ok[np.argsort(-scores["a"][r, ok])[:100]]
        true_top = ok[np.argsort(-relevance[r, ok])[:100]]
        assert ranked.truth["truth_recall@100"][r] == pytest.approx(len(set(model_top) & set(true_top)) / 100)
        ideal = (np.sort(relevance[r, ok])[::-1][:100] * discount).sum()
        assert ranked.truth["truth_ndcg@100"][r] == pytest.approx((relevance[r, model_top] * discount).sum() / ideal)


def test_scorers_ranked_in_one_pass_get_what_each_gets_alone():
    held, scores, relevance = _random_case(seed=1)
    n_items = relevance.shape[1]
    popularity = np.arange(n_items, dtype=float)
    together = rank_clicks({n: (lambda rows, s=s: s[rows]) for n, s in scores.items()}, held, n_items, popularity,
                           truth=lambda rows: relevance[rows], chunk=9)
    for name, s in scores.items():
        alone = rank_clicks({name: lambda rows, s=s: s[rows]}, held, n_items, popularity,
                            truth=lambda rows: relevance[rows], chunk=40)[name]
        np.testing.assert_array_equal(together[name].rank, alone.rank)
        np.testing.assert_array_equal(together[name].top_popularity, alone.top_popularity)
        assert together[name].truth.keys() == alone.truth.keys() == {"truth_recall@100", "truth_ndcg@100"}
        for metric in alone.truth:
            np.testing.assert_allclose(together[name].truth[metric], alone.truth[metric], rtol=1e-12)
    assert not np.array_equal(together["a"].rank, together["b"].rank)  # the scorers were not mixed up


def _toy(seed: int = 0):
    """Users of 4 tastes and items of 4 kinds; a click is an item of the user's kind. Pools:
    2 uniform negatives and 2 'hard' same-kind negatives per click."""
    from recsys_assets.retrieval.model import TwoTower, Vocabulary
    from recsys_assets.retrieval.training import Examples

    rng = np.random.default_rng(seed)
    n_items, n = 40, 600
    kind = np.arange(n_items) % 4
    user = rng.integers(0, 20, n)
    positive = np.array([rng.choice(np.flatnonzero(kind == u % 4)) for u in user])
    uniform = rng.integers(0, n_items, (n, 2))
    hard = np.array([rng.choice(np.flatnonzero(kind == kind[p]), 2) for p in positive])
    negatives = np.concatenate([uniform, hard], axis=1)
    negatives = np.where(negatives == positive[:, None], -1, negatives)
    source = np.tile(np.array([0, 0, 4, 4], np.int8), (n, 1))
    prob = np.where(source == 0, 0.5 / n_items, 0.5 / 10)
    context = {f: Vocabulary(()) for f in ("query", "surface", "device", "region", "segment")}
    context = {"user_id": Vocabulary(tuple(f"u{k:02d}" for k in range(20)))} | context
    item_vocab = {"item_id": Vocabulary(tuple(f"i{k:02d}" for k in range(n_items)))}
    model = TwoTower.initial(context, item_vocab, 8, seed)
    ctx = np.zeros((n, len(context)), np.int32)
    ctx[:, 0] = user + 1
    examples = Examples(ctx=ctx, positive=positive, request=np.arange(n), day=np.zeros(n, np.int64),
                        negatives=negatives, mixture_prob=prob, source=source)
    fields = (np.arange(n_items) + 1)[:, None].astype(np.int32)
    return model, examples, fields, np.ones((1, n_items), bool), kind


@pytest.mark.parametrize("options", [{}, {"in_batch": True}, {"hard_curriculum_epochs": 3}, {"max_cosine": 0.0}])
def test_training_learns_the_toy_tastes_under_every_option(options):
    from recsys_assets.retrieval.training import RetrievalConfig, train

    model, examples, fields, allowed, kind = _toy()
    fit = train(model, examples, fields, allowed, RetrievalConfig(epochs=6, learning_rate=0.05, **options),
                click_share=np.bincount(examples.positive, minlength=len(kind)) / len(examples))
    scores = model.scores(examples.ctx[:200], fields)
    top = np.argsort(-scores, axis=1)[:, :10]
    taste = (np.asarray([u - 1 for u in examples.ctx[:200, 0]]) % 4)[:, None]
    assert (kind[top] == taste).mean() > 0.9  # the 10 best items are of the user's kind
    assert fit.history[-1]["loss"] < fit.history[0]["loss"]
    if "hard_curriculum_epochs" in options:
        assert fit.curriculum_dropped > 0
    if "max_cosine" in options:
        assert fit.filtered > 0  # same-kind negatives sit close to their positive: left out
