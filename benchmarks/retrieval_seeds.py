"""Retrieval model quality over simulator seeds: full-catalog Recall@100 of the logQ-corrected
sampled softmax against the same pool uncorrected, a full softmax and popularity (with truth
recall/NDCG@100 when the simulation has full-catalog truth), and the retrieval comparison's arms.
Not part of the default test run.

    python -m benchmarks.retrieval_seeds --seeds 3 [--requests-per-day 20000] [--days 7]
        [--arms retrieval-default,retrieval-uniform,...] [--policy-dir DIR] [--no-comparison]
        [--set retrieval_in_batch=true] [--sim click_model=cascade] [--cache DIR]

``--policy-dir`` adds retrieval policies (``DIR/samplers/*.yaml``) the comparison can train as
arms: ``benchmarks/retrieval_policies`` holds the curriculum and distance-filter variants of the
packaged mix. With ``--cache DIR`` each seed's logs and warehouse (through the negatives) are kept
in DIR/seed-N and re-used when the simulator settings match.

Prints one JSON line per seed and a markdown table (mean ± stdev over seeds); writes the same
as JSON to $RECSYS_HOME/bench/retrieval_seeds.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.ranker_seeds import build_assets, selection, sim_overrides

MODEL_ASSETS = ("retrieval_model", "retrieval_evaluation")
HEADLINE = ("recall@100", "ndcg@100", "truth_recall@100", "truth_ndcg@100")


def run_seed(seed: int, args: argparse.Namespace, overrides: dict) -> dict:
    if args.cache:
        root = Path(args.cache) / f"seed-{seed}"
        return _run_seed_in(root, seed, args, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        return _run_seed_in(Path(tmp), seed, args, overrides)


def _run_seed_in(root: Path, seed: int, args: argparse.Namespace, overrides: dict) -> dict:
    from recsys_assets.assets import retrieval
    from recsys_assets.assets.direct import connect
    from recsys_assets.config import PipelineConfig, export_settings
    from recsys_assets.simulator import SimulatorConfig, simulate

    logs = root / "logs"
    export_settings(home=root / "home", logs=logs, policy_dir=args.policy_dir)
    config = SimulatorConfig(seed=seed, days=args.days, requests_per_day=args.requests_per_day, **sim_overrides(args.sim))
    days = [config.start + dt.timedelta(days=i) for i in range(config.days)]
    pipeline = PipelineConfig(**overrides)
    assets, _ = selection(MODEL_ASSETS)  # the retrieval model's ancestors: what a cache keeps
    fingerprint = json.dumps({"sim": dataclasses.asdict(config), "assets": [a for a, _ in assets]}, sort_keys=True,
                             default=str)
    marker, database = root / "data.json", root / "warehouse.duckdb"
    t0 = time.perf_counter()
    cached = marker.exists() and marker.read_text() == fingerprint and database.exists()
    if not cached:
        for stale in (database, marker):
            stale.unlink(missing_ok=True)
        root.mkdir(parents=True, exist_ok=True)
        simulate(config, logs)
        con = connect(str(database))
        build_assets(con, logs, days, pipeline, assets)
        con.close()
        marker.write_text(fingerprint)
    data_seconds = time.perf_counter() - t0
    con = connect(str(database))
    t1 = time.perf_counter()
    model = retrieval.build_retrieval_model(con, pipeline)
    evaluation = retrieval.build_retrieval_evaluation(con, pipeline)
    record = {"seed": seed, "cached_data": cached, "seconds_data": round(data_seconds, 1),
              "seconds_train": model["seconds/train"], "best_epoch": model["best_epoch"],
              "seconds_model_and_evaluation": round(time.perf_counter() - t1, 1)}
    record |= {k: v for k, v in evaluation.items() if isinstance(v, float | int) and not k.startswith("seconds")}
    if not args.no_comparison:
        comparison = retrieval.build_retrieval_comparison(con, pipeline)
        rows = con.execute("SELECT arm, metric, value, low, high FROM retrieval_comparison WHERE comparison_id = ? "
                           "AND slice = 'all' AND metric IN ('recall@100', 'recall@100 minus best', 'truth_recall@100')",
                           [comparison["comparison_id"]]).fetchall()
        record["arms"] = {f"{arm}/{metric}": [round(v, 5), round(lo, 5), round(hi, 5)] for arm, metric, v, lo, hi in rows}
        record["best_arm"] = comparison["best_arm"]
    con.close()
    return record


def _stats(values: list[float]) -> str:
    if not values:
        return ""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def markdown(runs: list[dict]) -> str:
    from recsys_assets.retrieval.evaluation import VARIANTS

    metrics = [m for m in HEADLINE if any(f"model/{m}" in r for r in runs)]
    lines = ["| variant | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for v in VARIANTS:
        lines.append(f"| {v} | " + " | ".join(_stats([r[f"{v}/{m}"] for r in runs if f"{v}/{m}" in r])
                                             for m in metrics) + " |")
    lines.append("")
    for metric in ("recall@100", "truth_recall@100", "truth_ndcg@100"):
        share = [r[f"model_share_of_full_softmax_{metric}"] for r in runs if f"model_share_of_full_softmax_{metric}" in r]
        raw = [r[f"no_logq_share_of_full_softmax_{metric}"] for r in runs if f"no_logq_share_of_full_softmax_{metric}" in r]
        if share:
            lines.append(f"- {metric}, share of the full softmax's: logQ-corrected {_stats(share)}, uncorrected {_stats(raw)}")
    lines.append(f"- training seconds: {_stats([r['seconds_train'] for r in runs])}")
    arms = sorted({k.split("/")[0] for r in runs for k in r.get("arms", {})})
    if arms:
        lines += ["", "| arm | recall@100 | truth_recall@100 | seeds best or not significantly worse than best |",
                  "|---|---:|---:|---:|"]
        for a in arms:
            rec = [r["arms"][f"{a}/recall@100"][0] for r in runs if f"{a}/recall@100" in r.get("arms", {})]
            truth = [r["arms"][f"{a}/truth_recall@100"][0] for r in runs if f"{a}/truth_recall@100" in r.get("arms", {})]
            tied = sum(1 for r in runs if r.get("best_arm") == a
                       or (f"{a}/recall@100 minus best" in r.get("arms", {}) and r["arms"][f"{a}/recall@100 minus best"][2] >= 0))
            lines.append(f"| {a} | {_stats(rec)} | {_stats(truth)} | {tied}/{len(runs)} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--requests-per-day", type=int, default=20_000)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--arms", default="", help="retrieval policies the comparison trains (default: every one)")
    p.add_argument("--policy-dir", default=None, help="extra policies (DIR/samplers/*.yaml)")
    p.add_argument("--no-comparison", action="store_true")
    p.add_argument("--set", action="append", default=[], help="pipeline setting KEY=VALUE")
    p.add_argument("--sim", action="append", default=None, help="simulator field KEY=VALUE")
    p.add_argument("--cache", default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from recsys_assets.config import load_settings

    args = parse_args(argv)
    overrides: dict = dict(kv.split("=", 1) for kv in args.set)
    if args.arms:
        overrides["retrieval_compare_arms"] = args.arms
    out_dir = load_settings().home / "bench"
    runs = []
    for seed in range(1, args.seeds + 1):
        record = run_seed(seed, args, overrides)
        print(json.dumps(record), flush=True)
        runs.append(record)
    table = markdown(runs)
    print(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "retrieval_seeds.json").write_text(json.dumps({"runs": runs, "table": table}, indent=1))


if __name__ == "__main__":
    main()
