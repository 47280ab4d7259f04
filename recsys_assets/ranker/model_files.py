"""A trained ranker on disk: LightGBM's text format plus JSON, never pickle.

``<models>/<model_id>/`` holds ``model.txt`` (the booster), ``feature_spec.json`` (feature
names, types, category codes), and ``model.json`` (calibration, position-bias curve,
training configuration and lineage). ``load`` gives back a scorer that reproduces the
training-time scores exactly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from recsys_assets.ranker.features import FeatureSpec
from recsys_assets.ranker.training import TrainedRanker, _sigmoid


@dataclass
class LoadedRanker:
    booster: lgb.Booster
    spec: FeatureSpec
    info: dict[str, Any]

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(X, num_iteration=self.info["best_iteration"], raw_score=True)

    def click_probability(self, X: np.ndarray, theta: np.ndarray, score: np.ndarray | None = None) -> np.ndarray:
        """Calibrated P(click) at examination probability theta; ``score``, when given, is
        ``self.score(X)`` already computed (one prediction instead of two)."""
        c = self.info["calibration"]
        raw = self.score(X) if score is None else score
        return _sigmoid(c["a"] * raw + c["b"] + c["c"] * np.log(np.maximum(theta, 1e-6)))


def save(directory: Path, ranker: TrainedRanker, spec: FeatureSpec, info: dict[str, Any]) -> Path:
    """Write the model files atomically: into a temporary folder, then rename into place."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    ranker.booster.save_model(str(tmp / "model.txt"), num_iteration=ranker.best_iteration)
    (tmp / "feature_spec.json").write_text(spec.to_json())
    payload = {**info, "best_iteration": ranker.best_iteration, "calibration": ranker.calibration,
               "config": dataclasses.asdict(ranker.config)}
    (tmp / "model.json").write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
    os.replace(tmp, directory)
    return directory


def load(directory: Path) -> LoadedRanker:
    booster = lgb.Booster(model_file=str(directory / "model.txt"))
    spec = FeatureSpec.load(directory / "feature_spec.json")
    trained_on = booster.feature_name()
    if not all(n.startswith("Column_") for n in trained_on) and trained_on != spec.names:
        raise ValueError(f"{directory / 'feature_spec.json'}: feature order {spec.names} is not the order the model in "
                         f"model.txt was trained on {trained_on}")
    info = json.loads((directory / "model.json").read_text())
    info["best_iteration"] = booster.current_iteration()  # the file holds exactly the chosen iterations
    return LoadedRanker(booster, spec, info)
