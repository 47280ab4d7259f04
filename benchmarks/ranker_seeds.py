"""Ranker quality over simulator seeds: NDCG@10 against the true attractiveness for the
logging ranker, a naive model, the default ranker and a model trained on the truth, plus
the position-bias curve's error. Not part of the default test run.

    python benchmarks/ranker_seeds.py --seeds 5 [--requests-per-day 20000] [--days 7]
        [--set position_handling=lambdarank_position] [--sim position_bias=1.2]
        [--cache DIR]

With ``--cache DIR`` each seed's logs and warehouse (through the negatives) are kept in
DIR/seed-N and re-used by later runs with the same simulator settings, so comparing model
settings costs only the model layer.

Prints one line per seed and the mean and spread, and writes JSON to
$RECSYS_HOME/bench/ranker_seeds.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from recsys_assets.config import export_settings, load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_seed(seed: int, args: argparse.Namespace, pipeline_overrides: dict, sim_overrides: dict) -> dict:
    if args.cache:
        return _run_seed_in(Path(args.cache) / f"seed-{seed}", seed, args, pipeline_overrides, sim_overrides)
    with tempfile.TemporaryDirectory() as tmp:
        return _run_seed_in(Path(tmp), seed, args, pipeline_overrides, sim_overrides)


def _run_seed_in(root: Path, seed: int, args: argparse.Namespace, pipeline_overrides: dict, sim_overrides: dict) -> dict:
    from recsys_assets.assets.direct import (
        build_clean,
        build_labels_layer,
        build_model_layer,
        build_negatives_layer,
        connect,
    )
    from recsys_assets.config import PipelineConfig
    from recsys_assets.simulator import SimulatorConfig, simulate

    logs = root / "logs"
    # the model layer reads the simulator's truth next to the logs
    export_settings(home=root / "home", logs=logs)
    config = SimulatorConfig(seed=seed, days=args.days, requests_per_day=args.requests_per_day, **sim_overrides)
    days = [config.start + dt.timedelta(days=i) for i in range(config.days)]
    pipeline = PipelineConfig(**pipeline_overrides)
    # the cached data layers are only valid for the simulator settings and data-layer config they came from
    fingerprint = json.dumps({"sim": dataclasses.asdict(config), "data": {k: v for k, v in pipeline_overrides.items()
                                                                         if not k.startswith("ranker_")}},
                             sort_keys=True, default=str)
    marker, database = root / "data.json", root / "warehouse.duckdb"
    t0 = time.perf_counter()
    if not (marker.exists() and marker.read_text() == fingerprint and database.exists()):
        for stale in (database, marker):
            stale.unlink(missing_ok=True)
        root.mkdir(parents=True, exist_ok=True)
        simulate(config, logs)
        con = connect(str(database) if args.cache else ":memory:")
        build_clean(con, logs, days, pipeline)
        build_labels_layer(con, days, pipeline)
        build_negatives_layer(con, logs, days, pipeline)
        if args.cache:
            con.close()
            marker.write_text(fingerprint)
    if args.cache:
        con = connect(str(database))
    out = build_model_layer(con, logs, pipeline)
    con.close()
    evaluation, bias = out["ranker_evaluation"], out["position_bias"]
    return {
        "seed": seed,
        "logging": evaluation["logging/truth_ndcg@10"], "naive": evaluation["naive/truth_ndcg@10"],
        "default": evaluation["model/truth_ndcg@10"], "ceiling": evaluation["ceiling/truth_ndcg@10"],
        "gap_closed": evaluation["gap_closed"], "curve": bias["used_method"],
        "curve_max_abs_error": bias[f"max_abs_error_vs_truth/{bias['used_method']}"],
        "model_auc": evaluation.get("model/auc"), "model_ece": evaluation.get("model/ece"),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _pairs(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        key, value = item.split("=", 1)
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        out[key] = {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--requests-per-day", type=int, default=20_000)
    parser.add_argument("--set", action="append", help="PipelineConfig field, e.g. ranker_position_handling=ipw")
    parser.add_argument("--sim", action="append", help="SimulatorConfig field, e.g. position_bias=1.2")
    parser.add_argument("--cache", help="keep each seed's logs and warehouse here and re-use them")
    args = parser.parse_args()
    export_settings(start_date="2026-01-05", end_date="2026-03-01")
    results = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        r = run_seed(seed, args, _pairs(args.set), _pairs(args.sim))
        results.append(r)
        print(json.dumps(r), flush=True)
    summary = {}
    for key in ("logging", "naive", "default", "ceiling", "gap_closed", "curve_max_abs_error"):
        values = [r[key] for r in results]
        summary[key] = {"mean": statistics.mean(values), "min": min(values), "max": max(values),
                        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0}
    print("\n| | mean | min | max | stdev |\n|---|---:|---:|---:|---:|")
    for key, s in summary.items():
        print(f"| {key} | {s['mean']:.4f} | {s['min']:.4f} | {s['max']:.4f} | {s['stdev']:.4f} |")
    home = load_settings().home / "bench"
    home.mkdir(parents=True, exist_ok=True)
    (home / "ranker_seeds.json").write_text(json.dumps({"args": vars(args), "runs": results, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
