"""The retrieval model end to end on a small simulation: trained on the retrieval pools with
the logQ correction, saved without pickle and reloaded to the same scores, evaluated over the
full catalog on the held-out days only, registered with its sampler version, and compared
across retrieval sampler policies (a user's policy file adds an arm)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

DAYS = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(5)]
# small and quick: these tests check the plumbing, lineage and invariants, not the last point of recall
FAST = {"retrieval_epochs": 4, "retrieval_dim": 16}


@pytest.fixture(scope="module")
def trained(module_home):
    from direct import build_negatives_and_metrics, build_through_labels, connect
    from pipeline import materialize

    from recsys_assets.config import load_settings
    from recsys_assets.simulator import SimulatorConfig, simulate

    logs = module_home / "logs"
    shutil.rmtree(logs)
    simulate(SimulatorConfig(days=5, requests_per_day=1500, items=500, users=800, seed=11), logs)
    load_settings().warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = connect(str(load_settings().warehouse))
    build_through_labels(con, logs, DAYS)
    build_negatives_and_metrics(con, logs, DAYS)
    con.close()
    (result,) = materialize(["retrieval_model", "retrieval_evaluation", "model_registry"], **FAST)
    return module_home, result


def test_the_model_trains_on_the_pools_and_beats_popularity_over_the_full_catalog(trained):
    from pipeline import metadata

    _, result = trained
    model = metadata(result, "retrieval_model")
    assert model["sampler_version"].startswith("retrieval-default@")
    assert model["positives"] > 1000 and model["negatives_per_positive"] == pytest.approx(8, abs=0.5)
    assert model["train_days"] == "2026-01-05 .. 2026-01-06" and model["eval_days"] == "2026-01-08 .. 2026-01-09"
    evaluation = metadata(result, "retrieval_evaluation")
    for variant in ("model", "no_logq", "full_softmax", "popularity"):
        for metric in ("recall@50", "recall@100", "recall@200", "ndcg@100", "top100_popularity"):
            assert f"{variant}/{metric}" in evaluation
    assert evaluation["model/recall@100"] > evaluation["popularity/recall@100"]
    assert evaluation["model/recall@50"] <= evaluation["model/recall@100"] <= evaluation["model/recall@200"]
    assert 0.9 < evaluation["model_share_of_full_softmax_recall@100"] < 1.1
    # against the simulator's full-catalog truth too: the truly best 100 items, true attractiveness as gain
    assert 0 < evaluation["popularity/truth_recall@100"] < evaluation["model/truth_recall@100"] <= 1
    assert 0 < evaluation["model/truth_ndcg@100"] <= 1


def test_the_pool_records_its_mixture_probability(trained):
    """mixture_prob is the item's probability under the policy's mixture: for a uniform draw
    at least 1/5 (its share) of its own probability, never below the share-weighted own one."""
    from pipeline import sql

    rows = sql("SELECT source, min(mixture_prob / sampling_prob), max(mixture_prob) FROM retrieval_negatives "
               "GROUP BY source ORDER BY source")
    shares = {"uniform": 0.25, "popularity": 0.25, "same_category": 0.25, "exposed_no_click": 0.125, "hard": 0.125}
    for source, ratio, top in rows:
        assert ratio >= shares[source] - 1e-9, source  # 2/8, 2/8, 2/8, 1/8, 1/8 of the draws
        assert top <= 1.0


def test_the_saved_model_reloads_without_pickle_and_scores_identically(trained):
    from pipeline import sql

    from recsys_assets.retrieval import model as model_files

    (path,) = sql("SELECT model_path FROM retrieval_model")[0]
    folder = Path(path)
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "weights.npz"]
    a, b = model_files.load(folder), model_files.load(folder)
    spec = json.loads((folder / "model.json").read_text())
    rng = np.random.default_rng(0)
    ctx = np.stack([rng.integers(0, len(v) + 1, 50) for v in spec["context_fields"].values()], axis=1)
    items = np.stack([rng.integers(0, len(v) + 1, 80) for v in spec["item_fields"].values()], axis=1)
    assert np.array_equal(a.scores(ctx, items), b.scores(ctx, items))
    with np.load(folder / "weights.npz", allow_pickle=False) as arrays:  # plain arrays: loads without pickle
        assert {k.split("/")[0] for k in arrays.files} == {"context", "items", "bias"}


def test_the_evaluation_reads_only_the_held_out_days(trained):
    """The evaluated requests are exactly the clicked requests of the held-out days; a change
    to a training day's clicks does not move the held-out set."""
    from direct import connect

    from recsys_assets.assets.model import temporal_split
    from recsys_assets.assets.retrieval import HeldOutSet, Prepared
    from recsys_assets.config import PipelineConfig, load_settings

    con = connect(str(load_settings().warehouse))
    try:
        split = temporal_split(con, PipelineConfig())
        prepared = Prepared.load(con, split, pools=False)
        held = HeldOutSet.load(con, split, prepared.train.catalog, 0.8).held
        evaluated = set(held.request_ids.to_pylist())
        expected = {r[0] for r in con.execute(
            "SELECT DISTINCT request_id FROM ctr_labels WHERE label = 1 AND day BETWEEN ? AND ?",
            [split.eval[0], split.eval[-1]]).fetchall()}
        fitted_on = {r[0] for r in con.execute(
            "SELECT DISTINCT request_id FROM ctr_labels WHERE day <= ?", [split.valid]).fetchall()}
        assert evaluated == expected and not evaluated & fitted_on
        assert set(prepared.train.positives.column("day").to_pylist()) == set(split.train)
        con.execute("UPDATE ctr_labels SET label = 1 - label WHERE day = ?", [split.train[0]])
        again = HeldOutSet.load(con, split, prepared.train.catalog, 0.8).held
        assert np.array_equal(again.positive_item, held.positive_item)
        assert again.request_ids.equals(held.request_ids)
    finally:
        con.execute("UPDATE ctr_labels SET label = 1 - label WHERE day = ?", [DAYS[0]])
        con.close()


def test_the_registry_row_ties_the_model_to_its_sampler_and_a_policy_change_shows_in_the_next_one(trained, monkeypatch):
    from pipeline import materialize, metadata, sql

    from recsys_assets.policies.files import PACKAGED_POLICY_DIR

    home, result = trained
    model = metadata(result, "retrieval_model")
    (row,) = sql("SELECT model_id, sampler_version, sampler_policy_hash, training_partitions, model_kind, promoted, "
                 "judged_by FROM model_registry WHERE model_kind = 'retrieval_model'")
    assert row[0] == model["model_id"] and row[1] == model["sampler_version"]
    assert row[1].endswith("@" + row[2]) and row[3] == "2026-01-05,2026-01-06"
    assert row[5] is True and row[6] == "truth_recall@100"  # judged against the simulator's truth
    policies = home / "policies" / "samplers"
    policies.mkdir(parents=True, exist_ok=True)
    text = (PACKAGED_POLICY_DIR / "samplers" / "retrieval-default.yaml").read_text()
    (policies / "retrieval-default.yaml").write_text(text.replace("negatives_per_positive: 8", "negatives_per_positive: 6"))
    monkeypatch.setenv("RECSYS_POLICY_DIR", str(home / "policies"))
    materialize(["retrieval_negatives"], [d.isoformat() for d in DAYS])
    (again,) = materialize(["retrieval_model", "model_registry"], **FAST)
    after = metadata(again, "retrieval_model")
    assert after["sampler_version"] != model["sampler_version"] and after["sampler_version"].startswith("retrieval-default@")
    assert after["negatives_per_positive"] == pytest.approx(6, abs=0.5)
    rows = sql("SELECT model_id, sampler_version FROM model_registry WHERE model_kind = 'retrieval_model' "
               "ORDER BY registered_at")
    assert rows[-1] == (after["model_id"], after["sampler_version"]) and rows[0][1] == model["sampler_version"]


def test_the_comparison_ranks_the_retrieval_policies_and_a_user_policy_adds_an_arm(trained, monkeypatch):
    from pipeline import materialize, metadata, sql

    home, _ = trained
    folder = home / "arms" / "samplers"
    folder.mkdir(parents=True)
    (folder / "category-only.yaml").write_text(
        "name: category-only\nkind: retrieval\nnegatives_per_positive: 4\n"
        "mix:\n  same_category: {ratio: 1.0, weight: 0.2}\nfilters: [not_known_positive]\nseed: 3\n")
    monkeypatch.setenv("RECSYS_POLICY_DIR", str(home / "arms"))
    (result,) = materialize(["retrieval_comparison"], retrieval_compare_arms="retrieval-uniform,category-only", **FAST)
    meta = metadata(result, "retrieval_comparison")
    assert meta["arms"] == 2 and meta["best_arm"] in ("retrieval-uniform", "category-only")
    assert "retrieves best (truth_recall@100" in meta["recommendation"] and meta["primary_metric"] == "truth_recall@100"
    rows = sql("SELECT arm, arm_version, rank, value, low, high FROM retrieval_comparison "
               "WHERE metric = 'truth_recall@100' AND slice = 'all' ORDER BY rank")
    assert [r[0] for r in rows] == [meta["best_arm"], ({"retrieval-uniform", "category-only"} - {meta["best_arm"]}).pop()]
    assert rows[1][1].startswith("category-only@") or rows[0][1].startswith("category-only@")
    assert rows[0][3] >= rows[1][3] and all(r[4] <= r[3] <= r[5] for r in rows)
    bad = materialize(["retrieval_comparison"], raise_on_error=False, retrieval_compare_arms="retrieval-uniform,nope")[0]
    assert not bad.success


def test_on_logs_without_truth_the_evaluation_and_the_promotion_use_held_out_clicks(trained, tmp_path, monkeypatch):
    """A user's logs have no truth/: the truth figures are absent, not zero, the registry
    judges the retrieval model by click Recall@100 against popularity, and the comparison
    ranks its arms by exposure-weighted click recall."""
    from pipeline import materialize, metadata, sql

    monkeypatch.setenv("RECSYS_LOGS", str(tmp_path))  # a logs folder without truth/
    (result,) = materialize(["retrieval_evaluation", "model_registry"], **FAST)
    evaluation = metadata(result, "retrieval_evaluation")
    assert "model/recall@100" in evaluation and not any("truth" in k for k in evaluation)
    (judged_by, reason) = sql("SELECT judged_by, promotion_reason FROM model_registry WHERE model_kind = 'retrieval_model' "
                              "ORDER BY registered_at DESC LIMIT 1")[0]
    assert judged_by == "recall@100" and "popularity baseline" in reason
    assert 0 < evaluation["model/ips_recall@100"] <= 1
    (result,) = materialize(["retrieval_comparison"], retrieval_compare_arms="retrieval-default,retrieval-uniform",
                            **FAST)
    comparison = metadata(result, "retrieval_comparison")
    assert comparison["primary_metric"] == "ips_recall@100"  # exposure-weighted clicks judge the arms, not raw clicks
    assert "weighted by the inverse of their items' exposure" in comparison["recommendation"]


def test_the_popularity_check_fails_only_a_retrieval_model_significantly_worse_than_popularity():
    from recsys_assets.checks.model_checks import beats_popularity_result

    def rows(value, low, high, metric="truth_recall@100"):
        return [{"model_id": "retrieval-1", "variant": "model-popularity", "metric": metric, "value": value,
                 "low": low, "high": high},
                {"model_id": "retrieval-1", "variant": "model", "metric": metric, "value": 0.2, "low": 0.19, "high": 0.21}]

    worse = beats_popularity_result(rows(-0.02, -0.03, -0.01))
    assert not worse.passed and worse.severity.value == "ERROR" and "not promoted" in worse.description
    tied = beats_popularity_result(rows(-0.01, -0.03, 0.01))
    assert tied.passed and "truth_recall@100 -0.0100" in tied.description
    clicks = beats_popularity_result(rows(0.1, 0.08, 0.12, metric="recall@100"))
    assert clicks.passed and clicks.metadata["judged_by"].value == "recall@100"
    assert beats_popularity_result(None).passed


def test_on_few_clicks_the_model_starts_from_popularity_and_keeps_it_unless_training_beats_it(trained):
    """Item biases begin as log click counts and epoch 0 is judged like the others: the model is
    never worse than popularity on the validation day."""
    from direct import connect

    from recsys_assets.assets.model import temporal_split
    from recsys_assets.assets.retrieval import Prepared, fit
    from recsys_assets.config import PipelineConfig, load_settings
    from recsys_assets.retrieval.training import RetrievalConfig

    con = connect(str(load_settings().warehouse))
    try:
        prepared = Prepared.load(con, temporal_split(con, PipelineConfig()))
    finally:
        con.close()
    prepared.train.positives = prepared.train.positives.slice(0, 150)  # a handful of clicks
    _, result, _ = fit(prepared, RetrievalConfig(epochs=3, dim=8), None, "tiny")
    start = result.history[0]
    assert start["epoch"] == 0 and start["loss"] is None and start["valid_recall@100"] > 0.2
    assert max(h["valid_recall@100"] for h in result.history) == result.history[result.best_epoch]["valid_recall@100"]
