"""The guard on the evaluation and what follows from it: a model is promoted unless it is
significantly worse than the naive baseline on the best valid estimate (the truth on
simulated logs); a model ranking backwards fails the check (ERROR), the registry records it
as not promoted and why, and the summary of `recsys run` says which model to use instead.
The evaluation stores 95% intervals: per variant, and paired for model - naive."""

from __future__ import annotations

import datetime as dt
import shutil

import dagster as dg
import pytest

from recsys_assets.assets import model as model_module
from recsys_assets.assets.direct import build_groups, connect
from recsys_assets.checks.model_checks import beats_naive_result
from recsys_assets.cli.summary import model_to_use
from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.simulator import SimulatorConfig, simulate

DAYS = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(5)]
FAST = PipelineConfig(ranker_max_rounds=60, ranker_learning_rate=0.2)


@pytest.fixture(scope="module")
def warehouse(module_home):
    logs = module_home / "logs"
    shutil.rmtree(logs)
    simulate(SimulatorConfig(days=5, requests_per_day=1500, items=400, users=900, seed=6), logs)
    load_settings().warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = connect(str(load_settings().warehouse))
    build_groups(con, logs, DAYS, FAST, ["sources", "clean", "snapshots", "labels", "negatives", "model"])
    yield con
    con.close()


def _figures(con, model_id: str) -> dict:
    rows = con.execute("SELECT variant, metric, value, low, high FROM ranker_evaluation WHERE model_id = ? "
                       "AND slice = 'all'", [model_id]).fetchall()
    return {(v, m): (value, low, high) for v, m, value, low, high in rows}


def test_a_model_better_than_naive_is_promoted_with_intervals_and_the_summary_says_to_use_it(warehouse):
    con = warehouse
    model_id = model_module.latest_model(con)["model_id"]
    figures = _figures(con, model_id)
    for variant in ("model", "naive", "logging"):
        for metric in ("truth_ndcg@10", "ips_dcg@10"):
            value, low, high = figures[(variant, metric)]
            assert low < value < high, (variant, metric, figures[(variant, metric)])
    value, low, high = figures[("model-naive", "truth_ndcg@10")]
    assert value == pytest.approx(figures[("model", "truth_ndcg@10")][0] - figures[("naive", "truth_ndcg@10")][0])
    assert low < value < high and high - low < 0.05
    assert ("model-naive", "ips_dcg@10") in figures and figures[("model", "curve_identified")][0] in (0.0, 1.0)
    check = beats_naive_result(model_module.evaluation_verdict(con))
    assert check.passed and check.metadata["judge"].value == "truth NDCG@10"
    promoted, judged_by, reason = con.execute(
        "SELECT promoted, judged_by, promotion_reason FROM model_registry WHERE model_id = ?", [model_id]).fetchone()
    assert promoted is True and judged_by == "truth_ndcg@10"
    assert reason == check.description and "the naive baseline on truth NDCG@10: model " in reason
    assert model_to_use(con, model_id) == [f"use model {model_id}: promoted ({reason})"]


def test_a_model_ranking_backwards_fails_the_guard_and_is_not_promoted(warehouse, monkeypatch):
    con = warehouse
    model_id = model_module.latest_model(con)["model_id"]
    earlier = dt.datetime(2026, 1, 1, 12, 0)
    con.execute("INSERT INTO model_registry (model_id, registered_at, model_path, training_partitions, eval_partitions, "
                "rows, positives, data_fingerprint, position_handling, metrics, promoted, judged_by, promotion_reason) "
                "VALUES ('ctr-earlier', ?, 'p', 'd', 'd', 1, 1, 'f', 'examination', '{}', true, 'truth_ndcg@10', 'ok')",
                [earlier])
    real = model_module.model_files.load

    def backwards(path):  # the saved model, its ranking turned upside down
        loaded = real(path)
        score = loaded.score
        loaded.score = lambda X: -score(X)
        return loaded

    monkeypatch.setattr(model_module.model_files, "load", backwards)
    evaluation = model_module.build_evaluation(con, FAST)
    registered = model_module.build_registry(con, FAST)
    high = _figures(con, model_id)[("model-naive", "truth_ndcg@10")][2]
    assert high < 0 and evaluation["best_valid_estimate"] == "truth NDCG@10" and evaluation["promotable"] is False
    check = beats_naive_result(model_module.evaluation_verdict(con))
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.description.startswith("the model is significantly worse than the naive baseline on truth NDCG@10")
    promoted, judged_by, reason = con.execute(
        "SELECT promoted, judged_by, promotion_reason FROM model_registry WHERE model_id = ?", [model_id]).fetchone()
    assert promoted is False and judged_by == "truth_ndcg@10" and reason.startswith("significantly worse")
    assert registered["model_in_use"] == "ctr-earlier"
    assert model_to_use(con, model_id) == [
        f"model {model_id} is NOT promoted: {reason}",
        "keep using model ctr-earlier (the last promoted one, registered 2026-01-01 12:00)"]
    con.execute("DELETE FROM model_registry WHERE model_id = 'ctr-earlier'")
    assert model_to_use(con, model_id)[1] == "no earlier model is promoted: keep the ranker you serve today"
