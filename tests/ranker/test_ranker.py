"""The ranker: the temporal split keeps evaluation days out of training, a saved model reloads to the same scores, and a sampler
change shows up in the next model's registry row."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pytest

# ------------------------------------------------------------------ the model assets through Dagster

# fewer, bigger boosting steps: these tests check plumbing and lineage, not the last 0.01 NDCG
FAST = {"ranker_max_rounds": 80, "ranker_learning_rate": 0.2}


@pytest.fixture(scope="module")
def trained(module_home):
    from pipeline import materialize

    from recsys_assets.assets.direct import build_clean, build_labels_layer, build_negatives_layer, connect
    from recsys_assets.config import PipelineConfig, load_settings
    from recsys_assets.simulator import SimulatorConfig, simulate

    logs = module_home / "logs"
    shutil.rmtree(logs)
    simulate(SimulatorConfig(days=5, requests_per_day=2500, items=600, users=1500, seed=4), logs)
    days = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(5)]
    load_settings().warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = connect(str(load_settings().warehouse))
    pipeline = PipelineConfig()
    build_clean(con, logs, days, pipeline)
    build_labels_layer(con, days, pipeline)
    build_negatives_layer(con, logs, days, pipeline)
    con.close()
    (result,) = materialize(["position_bias", "ctr_ranker", "ranker_evaluation", "model_registry"], **FAST)
    return module_home, result


def test_model_assets_materialize_with_lineage(trained):
    from pipeline import metadata, sql

    _, result = trained
    ranker = metadata(result, "ctr_ranker")
    assert ranker["sampler_version"].startswith("ranking-default@") and ranker["rows"] > 0
    assert ranker["excluded_features"] == "brand"  # the default: a categorical of hundreds of values
    evaluation = metadata(result, "ranker_evaluation")
    for variant in ("model", "naive", "logging", "ceiling"):
        assert f"{variant}/truth_ndcg@10" in evaluation
    assert evaluation["model/truth_ndcg@10"] > evaluation["logging/truth_ndcg@10"]
    (row,) = sql("SELECT model_id, sampler_version, training_partitions, eval_partitions, metrics FROM model_registry")
    assert row[0] == ranker["model_id"] and row[1] == ranker["sampler_version"]
    assert row[2] == "2026-01-05,2026-01-06" and row[3] == "2026-01-08,2026-01-09"
    assert json.loads(row[4])["model/truth_ndcg@10"] == pytest.approx(evaluation["model/truth_ndcg@10"], abs=1e-5)


def test_saved_model_reloads_and_gives_the_same_scores(trained):
    from pathlib import Path

    from pipeline import sql

    from recsys_assets.assets.direct import connect
    from recsys_assets.config import load_settings
    from recsys_assets.ranker import model_files
    from recsys_assets.ranker.dataset import load_rows
    from recsys_assets.ranker.truth import register_truth

    (path,) = sql("SELECT model_path FROM ctr_ranker")[0]
    loaded = model_files.load(Path(path))
    assert sorted(p.name for p in Path(path).iterdir()) == ["feature_spec.json", "model.json", "model.txt"]
    con = connect(str(load_settings().warehouse))
    register_truth(con, load_settings().logs_dir)
    rows = load_rows(con, "all_shown", dt.date(2026, 1, 8), dt.date(2026, 1, 9))
    con.close()
    X = loaded.spec.encode(rows)
    assert loaded.booster.feature_name() == loaded.spec.names
    again = model_files.load(Path(path))
    assert np.array_equal(loaded.score(X), again.score(X))
    # a score computed once gives the same probabilities (the evaluation predicts once per model)
    theta = np.linspace(0.2, 1.0, len(X))
    assert np.array_equal(loaded.click_probability(X, theta, score=loaded.score(X)), again.click_probability(X, theta))
    # the text model reproduces the booster that was trained: same scores as the evaluation recorded
    assert loaded.info["best_iteration"] == json.loads((Path(path) / "model.json").read_text())["best_iteration"]


def _feature_rows(n: int, seed: int):
    """Rows with every ranker feature; the click depends on the categorical columns, each in
    its own way, so a model read back with its columns swapped scores differently."""
    import pyarrow as pa

    from recsys_assets.ranker.features import CATEGORICAL, NUMERIC

    rng = np.random.default_rng(seed)
    cols = {name: rng.normal(size=n) for name in NUMERIC}
    codes = {name: rng.integers(0, 3 + i, size=n) for i, name in enumerate(CATEGORICAL)}
    for name, c in codes.items():
        cols[name] = np.array([f"{name}-{v}" for v in range(10)])[c]
    logit = sum((i + 1) * (codes[name] % 2) for i, name in enumerate(CATEGORICAL)) - 3 + cols["i_ctr"]
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return pa.table(cols), label


def test_a_saved_model_scores_raw_rows_as_the_trained_model_did(tmp_path):
    """Save, reload, encode the same raw rows with the reloaded spec: the scores are the
    trained model's. (A spec written with sorted keys once read the categorical columns back
    in another order, and the evaluation scored a scrambled model.)"""
    from recsys_assets.ranker import model_files
    from recsys_assets.ranker.features import FeatureSpec
    from recsys_assets.ranker.training import RankerConfig, TrainingSet, train

    table, label = _feature_rows(4000, seed=3)
    spec = FeatureSpec.fit(table)
    assert list(spec.categorical) != sorted(spec.categorical)  # the order a sorted JSON would lose
    X = spec.encode(table)
    ones = np.ones(len(label))
    rows = TrainingSet(X, label, ones, np.ones(len(label), np.int64), np.full(len(label) // 8, 8), ones)
    categorical = list(range(len(spec.numeric), len(spec.names)))
    ranker = train(RankerConfig(position_handling="none", max_rounds=30, min_data_in_leaf=20), rows, rows, categorical,
                   spec.names)
    path = model_files.save(tmp_path / "m", ranker, spec, {})
    loaded = model_files.load(path)
    assert loaded.spec.names == spec.names == loaded.booster.feature_name()
    assert np.allclose(loaded.score(loaded.spec.encode(table)), ranker.score(X), rtol=0, atol=1e-9)
    # a spec written before the order was recorded (sorted keys, no names) reads back in training order
    legacy = json.loads((path / "feature_spec.json").read_text())
    del legacy["names"]
    (path / "feature_spec.json").write_text(json.dumps(legacy, sort_keys=True))
    assert model_files.load(path).spec.names == spec.names
    # a spec whose order disagrees with the model file is refused, naming the file
    legacy["names"] = [*spec.numeric, *reversed(spec.categorical)]
    (path / "feature_spec.json").write_text(json.dumps(legacy))
    with pytest.raises(ValueError, match="feature_spec.json.*feature order"):
        model_files.load(path)


def test_excluded_features_are_left_out_and_unknown_names_refused():
    from recsys_assets.ranker.features import CATEGORICAL, NUMERIC, FeatureSpec

    table, _ = _feature_rows(200, seed=1)
    spec = FeatureSpec.fit(table, exclude="brand, i_ctr")
    assert spec.names == [n for n in (*NUMERIC, *CATEGORICAL) if n not in ("brand", "i_ctr")]
    assert spec.encode(table).shape == (200, len(NUMERIC) + len(CATEGORICAL) - 2)
    assert FeatureSpec.fit(table, exclude="").names == [*NUMERIC, *CATEGORICAL]
    with pytest.raises(ValueError, match="RECSYS_RANKER_EXCLUDE_FEATURES.*'colour'"):
        FeatureSpec.fit(table, exclude="brand,colour")


@pytest.mark.parametrize(("batch_rows", "range_rows"), [(61, None), (1 << 18, None), (1 << 18, 500)])
def test_streamed_training_rows_equal_the_arrow_path(trained, batch_rows, range_rows, tmp_path):
    """The streamed hand-off (record batches through a spill file, a request split across
    batches at 61 rows per batch, batches encoded in parallel; or queried day by day in
    ranges of about 500 rows' requests) gives the same spec and arrays as loading the Arrow
    table and encoding it; the rows are in (day, request, position) order, so each request
    is one contiguous group; the spill file is gone afterwards."""
    from recsys_assets.assets.direct import connect
    from recsys_assets.config import load_settings
    from recsys_assets.ranker.dataset import load_rows, stream_training_set, training_set
    from recsys_assets.ranker.features import FeatureSpec
    from recsys_assets.ranker.position_bias import Curve
    from recsys_assets.ranker.truth import register_truth

    spill = tmp_path / "spill"
    con = connect(str(load_settings().warehouse), spill=spill)
    register_truth(con, load_settings().logs_dir)
    curve = Curve("test", np.array([1.0, 0.6, 0.4, 0.3]))
    first, last = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
    table = load_rows(con, "negatives", first, last)
    keys = table.select(["day", "request_id", "position"]).to_pylist()
    assert keys == sorted(keys, key=lambda r: (r["day"], r["request_id"], r["position"]))
    spec = FeatureSpec.fit(table, exclude="brand")
    expected = training_set(table, spec, curve)
    if range_rows:
        from recsys_assets.ranker.dataset import request_ranges

        assert len(request_ranges(con, "negatives", first, first, range_rows)) > 3
    streamed, streamed_spec = stream_training_set(con, "negatives", first, last, curve, exclude="brand",
                                                  batch_rows=batch_rows, range_rows=range_rows)
    assert streamed_spec == spec and len(expected.group) > 10
    for field in ("X", "label", "weight", "position", "group", "theta"):
        assert np.array_equal(getattr(streamed, field), getattr(expected, field), equal_nan=True), field
    # with a given spec (validation and refit rows) and another label column
    valid = load_rows(con, "all_shown", last, last)
    truth, _ = stream_training_set(con, "all_shown", last, last, curve, spec=spec, label_column="truth_attractiveness",
                                   batch_rows=batch_rows, range_rows=range_rows)
    con.close()
    assert np.array_equal(truth.X, spec.encode(valid), equal_nan=True)
    assert np.array_equal(truth.label, valid.column("truth_attractiveness").to_numpy(zero_copy_only=False))
    assert spill.is_dir() and not [p for p in spill.iterdir() if p.name.startswith("ranker-rows-")]


def test_lightgbm_bins_the_streamed_rows_batch_by_batch_into_the_same_model(trained, tmp_path):
    """With ``batches``, the hand-off keeps no matrix: X reads the spill file one Arrow batch
    at a time (rows and ranges of rows equal the matrix's, across batch edges), LightGBM bins
    the training set from it, and the model is the matrix's model, tree for tree. Releasing
    the rows after binning removes the spill file."""
    import lightgbm as lgb

    from recsys_assets.assets.direct import connect
    from recsys_assets.config import load_settings
    from recsys_assets.ranker.dataset import SpooledRows, stream_training_set
    from recsys_assets.ranker.position_bias import Curve
    from recsys_assets.ranker.training import RankerConfig, train
    from recsys_assets.ranker.truth import register_truth

    spill = tmp_path / "spill"
    con = connect(str(load_settings().warehouse), spill=spill)
    register_truth(con, load_settings().logs_dir)
    curve = Curve("test", np.array([1.0, 0.6, 0.4, 0.3]))
    first, last = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
    matrix, spec = stream_training_set(con, "negatives", first, last, curve, exclude="brand", batch_rows=997)
    spooled, _ = stream_training_set(con, "negatives", first, last, curve, spec=spec, batch_rows=997, batches=True)
    valid, _ = stream_training_set(con, "all_shown", last, last, curve, spec=spec)
    con.close()
    X = spooled.X
    assert isinstance(X, SpooledRows) and isinstance(X, lgb.Sequence)
    n = len(matrix.label)
    assert len(X) == n > 3 * 997 and X.shape == matrix.X.shape
    for field in ("label", "weight", "position", "group", "theta"):
        assert np.array_equal(getattr(spooled, field), getattr(matrix, field)), field
    for i in (0, 996, 997, 998, n - 1, -1):
        assert np.array_equal(X[i], matrix.X[i], equal_nan=True), i
    for lo, hi in ((0, 997), (990, 2100), (0, n), (n - 5, n + 10), (7, 7)):
        assert np.array_equal(X[lo:hi], matrix.X[lo:hi], equal_nan=True), (lo, hi)
    with pytest.raises(IndexError):
        X[n]
    assert [p for p in spill.iterdir() if p.name.startswith("ranker-rows-")]  # the spool lives while X does

    categorical = list(range(len(spec.numeric), len(spec.names)))
    config = RankerConfig(max_rounds=20, early_stopping_rounds=20, threads=1)
    from_matrix = train(config, matrix, valid, categorical, spec.names, release_features=True)
    from_batches = train(config, spooled, valid, categorical, spec.names, release_features=True)
    assert from_batches.booster.model_to_string() == from_matrix.booster.model_to_string()
    assert spooled.X.shape == (0, len(spec.names))
    assert not [p for p in spill.iterdir() if p.name.startswith("ranker-rows-")]


def _examination_nll(theta, clicks, weight, f):
    q = theta / (1 + np.exp(-f))
    return -weight * np.where(clicks > 0, np.log(q), np.log(1 - q))


@pytest.mark.parametrize("weighted", [False, True])
def test_the_examination_objective_is_the_derivative_of_the_click_likelihood(weighted):
    """Given rows clicked and not at examination probabilities theta, the objective's
    gradient is the derivative of -log P(outcome) with P(click) = theta * sigmoid(f)
    (central differences), row by row, weights applied. Its Hessian is the second
    derivative on clicked rows; on the others, whose second derivative can be negative,
    a positive surrogate theta p (1-p)^2 / (1-q), the second derivative where theta = 1."""
    from recsys_assets.ranker.training import ExaminationObjective

    rng = np.random.default_rng(5)
    n = 2000
    theta, f = rng.uniform(0.05, 1.0, n), rng.normal(-1.0, 1.5, n)
    clicks = (rng.random(n) < 0.3).astype(float)
    weight = rng.uniform(0.5, 3.0, n) if weighted else np.ones(n)
    grad, hess = ExaminationObjective(theta, clicks, weight if weighted else None)(f)
    h = 1e-4
    up, mid, down = (_examination_nll(theta, clicks, weight, f + d) for d in (h, 0.0, -h))
    np.testing.assert_allclose(grad, (up - down) / (2 * h), rtol=1e-6, atol=1e-9)
    second = (up - 2 * mid + down) / h**2
    clicked = clicks > 0
    np.testing.assert_allclose(hess[clicked], second[clicked], rtol=1e-4, atol=1e-6)
    assert (hess > 0).all()
    ones = np.ones(n)
    _, hess_at_one = ExaminationObjective(ones, clicks, weight if weighted else None)(f)
    up, mid, down = (_examination_nll(ones, clicks, weight, f + d) for d in (h, 0.0, -h))
    np.testing.assert_allclose(hess_at_one, (up - 2 * mid + down) / h**2, rtol=1e-4, atol=1e-6)
    assert (grad[clicks > 0] < 0).all() and (grad[clicks == 0] > 0).all()  # a click pulls f up, silence down


def test_the_examination_objective_gives_the_same_values_in_any_chunking():
    """Chunks and threads are an implementation detail: the objective's values and the
    validation log-likelihood are the whole-array formulas' bit for bit (the trained models
    do not depend on the machine's cores)."""
    from recsys_assets.ranker.training import ExaminationLoglik, ExaminationObjective

    rng = np.random.default_rng(6)
    n = 1001
    theta, f = rng.uniform(0.01, 1.0, n), rng.normal(-2.0, 3.0, n)
    # weights as LightGBM stores them (float32; the objective uses those)
    clicks, weight = (rng.random(n) < 0.1).astype(float), rng.uniform(0.5, 2.0, n).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-f))
    q = theta * p
    clicked = clicks > 0
    want_grad = np.where(clicked, -(1.0 - p), theta * p * (1.0 - p) / (1.0 - q)) * weight
    want_hess = np.maximum(np.where(clicked, p * (1.0 - p), theta * p * (1.0 - p) ** 2 / (1.0 - q)), 1e-9) * weight
    q = np.clip(q, 1e-12, 1 - 1e-12)
    want_loglik = float(np.mean(clicks * np.log(q) + (1 - clicks) * np.log(1 - q)))
    for chunk, threads in [(1 << 17, 1), (7, 1), (7, 3), (250, 2)]:
        objective = ExaminationObjective(theta, clicks, weight, threads=threads)
        objective.chunk = chunk
        grad, hess = objective(f)
        assert np.array_equal(grad, want_grad) and np.array_equal(hess, want_hess), (chunk, threads)
        loglik = ExaminationLoglik(theta, clicks, threads=threads)
        loglik.chunk = chunk
        assert loglik(f) == want_loglik, (chunk, threads)


@pytest.mark.parametrize("handling", ["examination", "none", "ipw", "lambdarank_position"])
@pytest.mark.parametrize("refit", [False, True])
def test_releasing_the_matrix_after_binning_gives_the_same_model(handling, refit):
    """train(..., release_features=True) bins the rows up front with the training's parameters
    and drops their matrix: the model is the same, byte for byte, and the matrix is empty."""
    from recsys_assets.ranker.training import RankerConfig, TrainingSet, train

    rng = np.random.default_rng(3)

    def rows(n: int) -> TrainingSet:
        X = rng.random((n, 5)).astype(np.float32)
        X[:, 4] = rng.integers(0, 4, n)
        position = np.tile(np.arange(1, 11), n // 10)
        theta = 1.0 / position
        clicks = (rng.random(n) < theta / (1 + np.exp(2 - 3 * X[:, 0]))).astype(float)
        return TrainingSet(X, clicks, rng.random(n) + 0.5, position, np.full(n // 10, 10), theta)

    def copy(rows: TrainingSet) -> TrainingSet:
        return TrainingSet(*(getattr(rows, f).copy() for f in ("X", "label", "weight", "position", "group", "theta")))

    train_rows, valid = rows(6000), rows(2000)
    config = RankerConfig(position_handling=handling, max_rounds=40, early_stopping_rounds=10, min_data_in_leaf=60,
                          use_weights=True, refit=refit)
    names = [f"f{i}" for i in range(5)]
    kept = copy(train_rows)
    expected = train(config, kept, valid, [4], names, refit_rows=valid)
    released = copy(train_rows)
    got = train(config, released, valid, [4], names, refit_rows=valid, release_features=True)
    assert got.booster.model_to_string() == expected.booster.model_to_string()
    assert got.calibration == expected.calibration and got.best_iteration == expected.best_iteration
    assert released.X.shape == (0, 5) and kept.X.shape == (6000, 5)
    assert np.array_equal(released.label, train_rows.label)  # only the matrix goes


@pytest.mark.parametrize("handling", ["lambdarank", "lambdarank_position", "ipw"])
def test_lambdarank_early_stopping_is_not_fooled_by_the_logged_order(handling):
    """Rows come ordered by logged position and clicks follow position (theta = 1/k) times a
    relevance that one feature predicts, under a random logger. The first round's few leaves
    tie many items; had those ties kept the logged order, the click NDCG of round 1 would beat
    every later round and early stopping would keep one tree (it did, on the demo). Within
    each group the validation rows are shuffled, so boosting goes on and learns the feature."""
    from recsys_assets.ranker.training import RankerConfig, TrainingSet, train

    rng = np.random.default_rng(3)
    n_requests, slots = 1500, 20

    def rows():
        n = n_requests * slots
        x = rng.normal(size=n)
        position = np.tile(np.arange(1, slots + 1), n_requests)  # random logger: x independent of position
        theta = 1.0 / position
        clicks = (rng.random(n) < theta / (1 + np.exp(-(2.5 * x - 2.0)))).astype(float)
        X = np.column_stack([x, rng.normal(size=n)]).astype(np.float32)
        return TrainingSet(X, clicks, np.ones(n), position, np.full(n_requests, slots), theta)

    train_set, valid = rows(), rows()
    config = RankerConfig(position_handling=handling, max_rounds=200, early_stopping_rounds=20, monotone=False)
    ranker = train(config, train_set, valid, [])
    assert ranker.best_iteration > 5
    assert np.corrcoef(ranker.score(valid.X), valid.X[:, 0])[0, 1] > 0.8


@pytest.mark.parametrize("refit", [False, True])
def test_evaluation_never_touches_training_days(trained, monkeypatch, refit):
    from recsys_assets.assets import model as model_module
    from recsys_assets.assets.direct import connect
    from recsys_assets.config import PipelineConfig, load_settings

    config = PipelineConfig(**FAST, ranker_refit=refit)
    calls = []
    real = model_module.load_rows
    monkeypatch.setattr(model_module, "load_rows", lambda con, source, a, b: calls.append((source, a, b)) or real(con, source, a, b))
    con = connect(str(load_settings().warehouse))
    split = model_module.temporal_split(con, config)
    built = model_module.build_ranker(con, config)
    training_calls, calls[:] = list(calls), []
    model_module.build_evaluation(con, config)
    registered = model_module.build_registry(con, config)
    con.close()
    assert split.eval == [dt.date(2026, 1, 8), dt.date(2026, 1, 9)] and split.valid == dt.date(2026, 1, 7)
    for _, a, b in training_calls:  # training and validation stop before the first evaluation day
        assert b < split.eval[0]
    evaluated = [(a, b) for source, a, b in calls if (a, b) == (split.eval[0], split.eval[-1])]
    assert len(evaluated) == 1
    fitted = [(a, b) for source, a, b in calls if (a, b) != (split.eval[0], split.eval[-1])]
    assert fitted and all(b < split.eval[0] for _, b in fitted)  # baselines fit on training days only
    # the lineage names the days the model learned from: with a refit, the validation day too
    trained_days = registered["training_partitions"].split(",")
    assert (str(split.valid) in trained_days) == refit and str(split.eval[0]) not in trained_days
    assert built["rows"] == registered["rows"]


def test_a_sampler_change_shows_in_the_next_models_registry_row(trained, monkeypatch):
    from pipeline import materialize, metadata, sql

    from recsys_assets.policies.files import PACKAGED_POLICY_DIR

    home, _ = trained
    before = sql("SELECT sampler_version FROM model_registry")[0][0]
    policies = home / "policies" / "samplers"
    policies.mkdir(parents=True, exist_ok=True)
    text = (PACKAGED_POLICY_DIR / "samplers" / "ranking-default.yaml").read_text()
    (policies / "ranking-default.yaml").write_text(text.replace("max_negatives_per_positive: null", "max_negatives_per_positive: 5"))
    monkeypatch.setenv("RECSYS_POLICY_DIR", str(home / "policies"))
    materialize(["ranking_negatives"], [f"2026-01-0{d}" for d in range(5, 10)])
    (result,) = materialize(["position_bias", "ctr_ranker", "ranker_evaluation", "model_registry"], **FAST)
    after = metadata(result, "model_registry")["sampler_version"]
    assert after != before and after.startswith("ranking-default@")
    versions = [r[0] for r in sql("SELECT sampler_version FROM model_registry ORDER BY registered_at")]
    assert versions[-1] == after and set(versions[:-1]) == {before}  # earlier tests may have registered more models
    assert metadata(result, "ctr_ranker")["sampler_version"] == after


# ------------------------------------------------------------------ sampler comparison

USER_ARM = """name: exposed-only-ipw
description: "A user's idea: only exposed and skipped no-clicks as negatives, inverse-propensity weighted positives."
negatives:
  - negative_types: [exposed_no_click, skip_above]
weights: equal
position_handling: ipw
"""


def test_the_comparison_ranks_naive_below_debiased_and_picks_up_a_users_arm(trained, monkeypatch):
    from pipeline import metadata, sql

    from recsys_assets.policies.files import comparison_arms

    home, _ = trained
    packaged = set(comparison_arms())
    folder = home / "user_policies" / "comparison"
    folder.mkdir(parents=True)
    (folder / "exposed-only-ipw.yaml").write_text(USER_ARM)
    monkeypatch.setenv("RECSYS_POLICY_DIR", str(home / "user_policies"))
    from pipeline import materialize

    (result,) = materialize(["sampler_comparison"], **FAST)
    meta = metadata(result, "sampler_comparison")
    assert meta["primary_metric"] == "truth_ndcg@10" and meta["arms"] == len(packaged) + 1
    rows = sql("SELECT arm, rank, value, low, high FROM sampler_comparison WHERE metric = 'truth_ndcg@10'")
    by_arm = {arm: (rank, value, low, high) for arm, rank, value, low, high in rows}
    assert set(by_arm) == packaged | {"exposed-only-ipw"}
    naive, debiased = by_arm["all-non-clicks-equal"], by_arm["debiased"]
    assert debiased[0] < naive[0], by_arm                # ranked above
    assert debiased[2] > naive[3], by_arm                # intervals do not overlap
    assert naive[2] <= naive[1] <= naive[3]
    assert "Recommended: **" in meta["recommendation"] and "all-non-clicks-equal" in meta["comparison"]
    (recommendation,) = {r[0] for r in sql("SELECT recommendation FROM sampler_comparison")}
    assert recommendation == meta["recommendation"]


def test_the_recommendation_says_when_a_difference_is_not_significant():
    from recsys_assets.ranker.comparison import ArmEvaluation, compare

    rng = np.random.default_rng(0)
    base = rng.random(4000)

    def arm(name, values):
        return ArmEvaluation(name, "", f"{name}@x", 1, 1, {"truth_ndcg@10": float(values.mean())},
                             per_request={"truth_ndcg@10": values})

    result = compare([arm("good", base + 0.05), arm("twin", base + 0.05 + rng.normal(0, 1e-4, 4000)),
                      arm("poor", base)])
    assert {a.name for a in result.ranked[:2]} == {"good", "twin"} and result.ranked[2].name == "poor"
    best, other = result.ranked[0].name, result.ranked[1].name
    assert f"Recommended: **{best}**" in result.recommendation
    assert f"Not significantly different from it: {other}" in result.recommendation
    assert "Significantly better than poor" in result.recommendation
    d, lo, hi = result.differences["poor"]
    assert d == pytest.approx(0.05, abs=1e-4) and 0 < lo < d < hi


@pytest.mark.parametrize("edit, message", [
    (("position_handling: ipw", "position_handling: magic"), "position_handling"),
    (("[exposed_no_click, skip_above]", "[exposed_no_click, ignored_forever]"), "unknown negative type(s) ['ignored_forever']"),
    (("weights: equal", "weights: heavy"), "weights"),
    (("name: exposed-only-ipw", "name: exposed only"), "name"),
])
def test_bad_comparison_arms_fail_with_file_and_rule(tmp_path, edit, message):
    from recsys_assets.policies.arms import ComparisonArm
    from recsys_assets.policies.base import PolicyError

    path = tmp_path / "arm.yaml"
    path.write_text(USER_ARM.replace(*edit))
    with pytest.raises(PolicyError) as err:
        ComparisonArm.from_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_an_arm_naming_a_missing_sampler_policy_says_which():
    from recsys_assets.policies.arms import ComparisonArm
    from recsys_assets.policies.base import PolicyError
    from recsys_assets.policies.files import sampler_policies

    arm = ComparisonArm(name="typo", negatives=["ranking-defualt"])
    with pytest.raises(PolicyError, match="comparison arm 'typo': no sampler policy named 'ranking-defualt'"):
        arm.samplers(sampler_policies())
