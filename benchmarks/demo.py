"""The default demo, timed: `recsys run` with the simulator's defaults in a fresh temporary
RECSYS_HOME, then its wall time in total and by stage, the slowest assets, and the truth
NDCG@10 on the held-out days of the model, the naive model, the logging ranker and the
ceiling (the model trained on the truth). Not part of the default test run.

    python -m benchmarks.demo [--keep] [--verbose]

Every RECSYS_* and DAGSTER_HOME variable of the caller's environment is left out, so the
figures are the defaults' (the ranker's threads included). The CPU seconds and the load
average say how far other processes slowed the wall time. ``--keep`` keeps the home
(its path is printed) for the UI or the run log. Writes JSON to
$RECSYS_HOME/bench/demo-<time>.json (the caller's home; `make bench-demo`: .recsys).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb

from recsys_assets.config import load_settings

VARIANTS = ("model", "naive", "logging", "ceiling")


def asset_seconds(log: str) -> dict[str, float]:
    """Seconds by asset (summed over its partitions) from a run log's step lines (Dagster
    writes ``in 1.2s``, ``in 340ms`` or ``in 2m3s``)."""
    out: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        m = re.search(r'Finished execution of step "([^"]+)" in (?:(\d+)m)?([\d.]+)(ms|s)', line)
        if m:
            step, minutes, value, unit = m.groups()
            out[step] += 60 * int(minutes or 0) + float(value) / (1000 if unit == "ms" else 1)
    return dict(out)


def truth_ndcg(warehouse: Path) -> dict[str, float]:
    """Truth NDCG@10 on the held-out days of every variant of the latest model's evaluation."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT variant, value FROM ranker_evaluation WHERE metric = 'truth_ndcg@10' AND slice = 'all' "
            "AND model_id = (SELECT model_id FROM ctr_ranker ORDER BY trained_at DESC LIMIT 1)").fetchall()
    finally:
        con.close()
    return {variant: value for variant, value in rows}


def run_demo(home: Path, verbose: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_") and k != "DAGSTER_HOME"}
    env["RECSYS_HOME"] = str(home)
    recsys = Path(sys.executable).with_name("recsys")
    command = [str(recsys) if recsys.exists() else "recsys", "run"]
    t0, cpu0, load0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg()[0]
    done = subprocess.run(command, env=env, capture_output=not verbose, text=True, check=False)
    wall = time.perf_counter() - t0
    cpu1, load1 = resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg()[0]
    if done.returncode != 0:
        raise SystemExit(f"recsys run failed ({done.returncode}):\n{(done.stdout or '')[-3000:]}{(done.stderr or '')[-3000:]}")
    out = done.stdout or ""
    stages: dict[str, float] = {}
    line = re.search(r"time by stage: (.*?)\nchecks:", out, re.DOTALL)
    if line:
        for name, seconds in re.findall(r"([\w+\-]+) ([\d.]+) s", " ".join(line.group(1).split())):
            stages[name] = float(seconds)
    total = re.search(r"runs succeeded in ([\d.]+) s", out)
    logs = sorted((home / "logs").glob("run-*.log"))
    assets = asset_seconds(logs[-1].read_text()) if logs else {}
    return {"wall_seconds": round(wall, 1), "run_seconds": float(total.group(1)) if total else None,
            # CPU time of the run: what other processes' load on the machine changes least
            "cpu_seconds": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1),
            "load_average_1min": [round(load0, 2), round(load1, 2)],
            "stages": stages, "assets": {k: round(v, 2) for k, v in sorted(assets.items(), key=lambda kv: -kv[1])},
            "truth_ndcg@10": truth_ndcg(home / "warehouse.duckdb"), "cores": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary RECSYS_HOME")
    parser.add_argument("--verbose", action="store_true", help="show recsys run's own output")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="recsys-demo-"))
    try:
        result = run_demo(home, args.verbose)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(f"recsys run (simulator defaults), {result['cores']} cores: {result['wall_seconds']:.1f} s wall "
          f"({result['run_seconds']} s by recsys run's own clock), {result['cpu_seconds']:.1f} CPU s; "
          f"1-minute load average {result['load_average_1min'][0]} before, {result['load_average_1min'][1]} after")
    print("by stage: " + ", ".join(f"{k} {v:.1f} s" for k, v in result["stages"].items()))
    print("slowest assets: " + ", ".join(f"{k} {v:.1f} s" for k, v in list(result["assets"].items())[:8]))
    ndcg = result["truth_ndcg@10"]
    print("truth NDCG@10 on the held-out days: " + ", ".join(f"{v} {ndcg[v]:.4f}" for v in VARIANTS if v in ndcg))
    if args.keep:
        print(f"home: {home}")
    bench = load_settings().home / "bench"  # the caller's home, not the demo's
    bench.mkdir(parents=True, exist_ok=True)
    path = bench / f"demo-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"json: {path}")


if __name__ == "__main__":
    main()
