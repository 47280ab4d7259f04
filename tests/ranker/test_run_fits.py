"""Independent fits side by side (training.run_fits): the same models as one after the other."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from recsys_assets.ranker.training import RankerConfig, TrainingSet, run_fits, train


def _rows(rng: np.random.Generator, n: int) -> TrainingSet:
    X = rng.random((n, 5)).astype(np.float32)
    X[:, 4] = rng.integers(0, 4, n)
    position = np.tile(np.arange(1, 11), n // 10)
    theta = 1.0 / position
    clicks = (rng.random(n) < theta / (1 + np.exp(2 - 3 * X[:, 0]))).astype(float)
    return TrainingSet(X, clicks, np.ones(n), position, np.full(n // 10, 10), theta)


def test_fits_side_by_side_give_the_models_of_fits_one_after_the_other():
    rng = np.random.default_rng(5)
    train_rows, valid = _rows(rng, 6000), _rows(rng, 2000)
    names = [f"f{i}" for i in range(5)]
    configs = [RankerConfig(position_handling=h, max_rounds=40, early_stopping_rounds=10, min_data_in_leaf=60)
               for h in ("examination", "none", "lambdarank", "examination")]
    expected = [train(dataclasses.replace(c, threads=1), train_rows, valid, [4], names) for c in configs]
    threads_seen: list[tuple[int, str]] = []

    def job(config: RankerConfig):
        def fit(threads: int):
            threads_seen.append((threads, threading.current_thread().name))
            return train(dataclasses.replace(config, threads=threads), train_rows, valid, [4], names)
        return fit

    got = run_fits((job(c) for c in configs), threads=2, count=len(configs))
    assert [g.booster.model_to_string() for g in got] == [e.booster.model_to_string() for e in expected]
    assert [g.calibration for g in got] == [e.calibration for e in expected]
    # two cores: two fits at a time, one thread each, on the pool's threads
    assert {t for t, _ in threads_seen} == {1} and all(name.startswith("recsys-fit") for _, name in threads_seen)
    # one fit gets every core, on the caller's thread
    (alone,) = run_fits([job(configs[0])], threads=2)
    assert threads_seen[-1] == (2, threading.current_thread().name)
    assert alone.best_iteration > 0
