"""What the ranker trains on when the logs are unusual: one impression per request (banner or
carousel slots) trains a pointwise model on every shown item (and the retrieval comparison
leaves out the arms that cannot draw a pool there, saying why); a validation or training day
without a click stops the ranker with a message naming the day, instead of a near-empty (or
all-negative) model."""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recsys_assets.assets.direct import build_groups, connect
from recsys_assets.config import PipelineConfig, export_settings
from recsys_assets.simulator import SimulatorConfig, simulate

DAYS = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(5)]
DATA = ["sources", "clean", "snapshots", "labels", "negatives", "metrics"]
FAST = PipelineConfig(ranker_max_rounds=40)


def _warehouse(tmp_path, **sim):
    logs = tmp_path / "logs"
    simulate(SimulatorConfig(days=5, requests_per_day=800, items=300, users=600, seed=5, **sim), logs)
    export_settings(home=tmp_path / "home", logs=logs)  # the model layer reads the truth next to the logs
    return logs


def test_logs_with_one_impression_per_request_train_a_pointwise_model(tmp_path):
    logs = _warehouse(tmp_path, slate_size=1, candidates_per_request=4)
    con = connect()
    build_groups(con, logs, DAYS, FAST, DATA)
    assert con.execute("SELECT count(*) FROM ranking_negatives").fetchone()[0] == 0  # nothing request-level to draw
    out = build_groups(con, logs, DAYS, FAST, ["model"])
    ranker = out["ctr_ranker"]
    shown = con.execute("SELECT count(*) FROM ctr_labels WHERE day BETWEEN ? AND ?", [DAYS[0], DAYS[1]]).fetchone()[0]
    assert ranker["rows"] == shown and 0 < ranker["positives"] < ranker["rows"]
    assert con.execute("SELECT training_rows FROM ctr_ranker").fetchone()[0] == "all_shown"
    assert "model/auc" in out["ranker_evaluation"]
    # NDCG within one-item slates is undefined (NULL), not 0: the run's summary heads with AUC instead
    assert con.execute("SELECT count(*) FROM ranker_evaluation WHERE metric = 'ndcg@10' AND value IS NOT NULL"
                       ).fetchone()[0] == 0
    # the retrieval comparison compares the arms that have a pool, and says why the others are out
    from recsys_assets.assets.retrieval import build_retrieval_comparison

    arms = PipelineConfig(retrieval_compare_arms="retrieval-exposed,retrieval-uniform,retrieval-default", retrieval_epochs=2)
    meta = build_retrieval_comparison(con, arms)
    assert meta["arms"] == 2 and {"retrieval-uniform/seconds", "retrieval-default/seconds"} <= meta.keys()
    assert "`retrieval-exposed` not compared: its sources (exposed_no_click) drew no negative" in meta["recommendation"].value
    only = build_retrieval_comparison(con, PipelineConfig(retrieval_compare_arms="retrieval-exposed,retrieval-exposed"))
    assert only["arms"] == 0 and "not compared: 0 of 2 retrieval policies have a pool" in only["recommendation"].value


@pytest.mark.parametrize(("day", "message"), [
    (DAYS[2], "no clicks on the validation day {day}: early stopping would have nothing"),
    (DAYS[1], r"no clicks on the training day {day} \(impressions but not one click\)"),
], ids=["validation", "training"])
def test_a_day_without_clicks_stops_the_ranker_naming_the_day(tmp_path, day, message):
    logs = _warehouse(tmp_path, slate_size=10, candidates_per_request=20)
    # two held-out days; the last training day (DAYS[2]) validates, DAYS[0..1] train.
    # A tracking outage of the clicks that could count for that day (late ones, skewed ones,
    # and those of the first minutes after midnight inside the click window)
    start = dt.datetime.combine(day, dt.time()) - dt.timedelta(minutes=10)
    for path in (logs / "events").glob("*.parquet"):
        events = pq.read_table(path)
        on_day = pc.and_(pc.greater_equal(events["ts"], start), pc.less(events["ts"], start + dt.timedelta(days=1, minutes=60)))
        pq.write_table(events.filter(pc.invert(pc.and_(pc.equal(events["type"], "click"), on_day))), path)
    con = connect()
    build_groups(con, logs, DAYS, FAST, DATA)
    with pytest.raises(ValueError, match=message.format(day=day)):
        build_groups(con, logs, DAYS, FAST, ["model"])


def test_early_stopping_judges_the_validation_day_drawn_like_the_training_days(tmp_path, monkeypatch):
    """The model is trained on the sampler's rows (requests with a click), so early stopping
    scores the validation day's rows drawn the same way: judged on every shown row (requests
    without a click lower the click rate), the likelihood fell from the first round on a small
    simulation and the model stopped at iteration 1. The calibration (P(click) of any shown
    item) is still fitted on every shown row of that day."""
    import numpy as np

    from recsys_assets.assets import model

    logs = _warehouse(tmp_path)
    con = connect()
    build_groups(con, logs, DAYS, FAST, DATA)
    seen, real = {}, model.train

    def spy(config, train_set, valid, *args, calibration_rows=None, **kwargs):
        seen.update(stop=valid, calibration=calibration_rows)
        return real(config, train_set, valid, *args, calibration_rows=calibration_rows, **kwargs)

    monkeypatch.setattr(model, "train", spy)
    model.build_position_bias(con, FAST, logs)
    meta = model.build_ranker(con, FAST)
    stop, every = seen["stop"], seen["calibration"]
    assert (meta["validation_rows/early_stopping"], meta["validation_rows/calibration"]) == (len(stop.label),
                                                                                          len(every.label))

    def clicks_per_request(rows):
        return np.add.reduceat(rows.label, np.r_[0, np.cumsum(rows.group)[:-1]])

    assert (clicks_per_request(stop) > 0).all()
    assert (clicks_per_request(every) == 0).any() and stop.label.sum() == every.label.sum()
    drawn = con.execute("SELECT count(*) FROM ranking_negatives WHERE day = ?", [DAYS[2]]).fetchone()[0]
    assert len(stop.label) == drawn + int(stop.label.sum())


def test_comparison_arms_stop_early_on_the_validation_day_drawn_like_their_training_rows(tmp_path, monkeypatch):
    """As the ranker: an arm whose sampler keeps requests with a click is early-stopped on those
    requests of the validation day; the naive arm (every request) on every shown row; both are
    calibrated on every shown row."""
    import numpy as np

    from recsys_assets.assets import comparison, model

    logs = _warehouse(tmp_path)
    con = connect()
    build_groups(con, logs, DAYS, FAST, DATA)
    model.build_position_bias(con, FAST, logs)
    seen, real = {}, comparison.train

    def spy(config, rows, stop, *args, label="", calibration_rows=None, **kwargs):
        seen[label] = (stop, calibration_rows)
        return real(config, rows, stop, *args, label=label, calibration_rows=calibration_rows, **kwargs)

    monkeypatch.setattr(comparison, "train", spy)
    comparison.build_sampler_comparison(con, PipelineConfig(ranker_max_rounds=40,
                                                            compare_arms="debiased,all-non-clicks-equal"))

    def clicks_per_request(rows):
        return np.add.reduceat(rows.label, np.r_[0, np.cumsum(rows.group)[:-1]])

    (debiased, every), (naive, every_too) = seen["debiased"], seen["all-non-clicks-equal"]
    assert (clicks_per_request(debiased) > 0).all() and (clicks_per_request(every) == 0).any()
    assert len(naive.label) == len(every.label) == len(every_too.label)
    assert debiased.label.sum() == every.label.sum()


def test_a_training_subset_keeps_requests_together_and_drops_empty_ones():
    import numpy as np

    from recsys_assets.ranker.training import TrainingSet

    rows = TrainingSet(X=np.arange(12, dtype=np.float32).reshape(6, 2), label=np.array([1, 0, 0, 0, 1, 0]),
                       weight=np.ones(6), position=np.array([1, 2, 1, 2, 1, 2]), group=np.array([2, 2, 2]),
                       theta=np.array([1.0, 0.5] * 3))
    part = rows.subset(np.array([True, True, False, False, True, False]))
    assert part.group.tolist() == [2, 1] and part.label.tolist() == [1, 0, 1]
    assert part.X[:, 0].tolist() == [0, 2, 8] and part.offset is None
