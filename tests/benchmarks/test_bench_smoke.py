"""The pipeline benchmark runs end to end at a tiny scale, writes its JSON, and its pandas
reference labels the day exactly as the SQL does (the full-scale figures come from
`make bench`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_every_stage_and_pandas_agrees_with_sql(tmp_path):
    env = {**os.environ, "RECSYS_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "benchmarks.pipeline", "--scale", "0.002", "--pandas-rows", "20000",
                           "--rounds", "5", "--tmp", str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (path,) = (tmp_path / "home" / "bench").glob("pipeline-*.json")
    (run,) = json.loads(path.read_text())
    stages = {s["stage"]: s for s in run["stages"]}
    assert list(stages) == ["simulate", "copy_floor", "clean", "snapshots", "ctr_labels", "other_labels", "negatives",
                            "sampler_metrics", "handoff", "training", "pandas"]
    assert stages["pandas"]["identical_to_sql"] is True and run["summary"]["pandas_identical"] is True
    assert stages["copy_floor"]["x_copy_floor"] == 1.0 and stages["ctr_labels"]["x_pandas"] > 0
    pandas = stages["pandas"]
    assert pandas["seconds_end_to_end"] >= pandas["seconds"] + pandas["seconds_load"] > pandas["seconds"]
    assert 0 < run["summary"]["ctr_labels_x_pandas_end_to_end"] >= run["summary"]["ctr_labels_x_pandas"]
    assert all(s["rows"] > 0 and s["seconds"] > 0 and s["peak_rss_mb"] > 0 for s in run["stages"])
    assert "x the copy floor" in done.stdout and not list(tmp_path.glob("recsys-bench-*"))  # work dir removed
