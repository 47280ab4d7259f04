"""Pipeline benchmark: one simulated day through every stage, against the copy floor and a
pandas reference, with the peak memory of each stage.

    python -m benchmarks.pipeline                   # 1M requests x 30 impressions = 30M impressions
    python -m benchmarks.pipeline --scale 0.01      # a quick smoke run (10k requests)
    python -m benchmarks.pipeline --triple          # then the same at 3x scale (must finish; no pandas)
    python -m benchmarks.pipeline --triple-only     # only the 3x run

Each stage runs in its own process on the same DuckDB file (``memory_limit`` and a spill
directory set), so its peak RSS is its own. Stages: simulate, copy_floor (DuckDB reading
the day's impressions Parquet into a table unchanged: the least work any stage can do),
clean, snapshots, ctr_labels, other_labels, negatives, sampler_metrics, handoff (rows to
LightGBM's numpy inputs), training (LightGBM, fixed rounds), and pandas (CTR labelling +
request-level negatives on a user-closed subset, checked identical to the SQL's rows).
Each stage reports its peak RSS and the peak size of DuckDB's spill directory (sampled every
0.5 s by the parent). Output: a table on stdout and JSON under ``RECSYS_HOME/bench/``. Figures are ratios within
one run, because machines are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 1, 5)
STAGES = ["simulate", "copy_floor", "clean", "snapshots", "ctr_labels", "other_labels", "negatives",
          "sampler_metrics", "handoff", "training", "pandas"]
PIPELINE_STAGES = ["clean", "snapshots", "ctr_labels", "other_labels", "negatives", "sampler_metrics"]


# ------------------------------------------------------------------ one stage (child process)


def _fold_days(src: Path, dst: Path, days: int) -> None:
    """Put `days` simulated days onto the first: the same logs, `days` times the volume in one
    day. A request moves back by its day's offset; its impressions and candidates follow it,
    and so do the events attributed to it (unattributed events move by their own day)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def files(table: str) -> list[str]:
        return [str(f) for f in sorted((src / table).glob("*.parquet"))]

    con.register("requests_src", con.read_parquet(files("requests")))
    con.execute("CREATE TEMP TABLE shift AS SELECT request_id, least(date_diff('day', ?, CAST(ts AS DATE)), ?) AS k "
                "FROM requests_src", [DAY, days - 1])
    moved = {"requests": ["ts"], "impressions": ["ts"], "events": ["ts", "recorded_at"], "candidates": []}
    for table, columns in moved.items():
        if not files(table):
            continue
        rel = con.read_parquet(files(table))
        con.register("src", rel)
        columns = [c for c in columns if c in rel.columns]
        own_day = "least(greatest(date_diff('day', ?, CAST(t.ts AS DATE)), 0), ?)" if "ts" in rel.columns else "0"
        params = [DAY, days - 1] if "ts" in rel.columns else []
        replaced = "".join(f", t.{c} - to_days(CAST(coalesce(s.k, {own_day}) AS INTEGER)) AS {c}" for c in columns)
        excluded = f" EXCLUDE ({', '.join(columns)})" if columns else ""
        (dst / table).mkdir(parents=True, exist_ok=True)
        query = (f"SELECT t.*{excluded}{replaced} FROM src t LEFT JOIN shift s USING (request_id)"
                 if "request_id" in rel.columns else f"SELECT t.*{excluded}{replaced} FROM src t LEFT JOIN shift s ON false")
        con.sql(query, params=params * len(columns)).write_parquet(str(dst / table / "part-0.parquet"))
        con.unregister("src")
    for table in ("items", "users", "outages", "truth"):
        if (src / table).exists():
            os.symlink(src / table, dst / table)


def run_stage(stage: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    import duckdb

    from recsys_assets.assets.direct import build_clean, connect
    from recsys_assets.config import PipelineConfig

    logs = work / "logs"
    pipeline = PipelineConfig()
    key = DAY.isoformat()
    out: dict[str, Any] = {}
    if stage == "simulate":
        from recsys_assets.simulator import SimulatorConfig, simulate

        requests = round(1_000_000 * args.scale)
        fold = 3 if args.triple_run else 1
        config = SimulatorConfig(days=fold, requests_per_day=requests, slate_size=30, candidates_per_request=40,
                                 items=max(2000, int(200_000 * min(args.scale, 1.0))), users=max(1000, requests // 4),
                                 seed=args.seed, start=DAY)
        t0 = time.perf_counter()
        summary = simulate(config, work / "sim" if fold > 1 else logs)
        if fold > 1:
            _fold_days(work / "sim", logs, fold)
        out |= {"seconds": time.perf_counter() - t0, "rows": summary.rows["impressions"]}
        return out
    con = connect(str(work / "warehouse.duckdb"), memory_limit=args.memory_limit, spill=work / "spill")
    def rows(table: str) -> int:
        return con.table(table).filter(duckdb.ColumnExpression("day") == duckdb.ConstantExpression(DAY)) \
            .aggregate("count(*)").fetchall()[0][0]

    t0 = time.perf_counter()
    if stage == "copy_floor":
        files = [str(p) for p in sorted((logs / "impressions").glob("*.parquet"))]
        con.execute("DROP TABLE IF EXISTS copy_floor")
        con.execute("CREATE TABLE copy_floor AS SELECT * FROM read_parquet(?)", [files])
        out["rows"] = con.execute("SELECT count(*) FROM copy_floor").fetchone()[0]
    elif stage == "clean":
        build_clean(con, logs, [DAY], pipeline)
        out["rows"] = rows("impressions")
    elif stage == "snapshots":
        from recsys_assets.assets.snapshots import (
            build_history_rollups,
            build_history_rows,
            build_impression_context,
        )
        from recsys_assets.warehouse.tables import write_atomically

        write_atomically(con, "snapshots/item_state/build", {})
        build_history_rows(con, key)
        build_history_rollups(con, key)
        build_impression_context(con, pipeline, key)
        out["rows"] = rows("impression_context")
    elif stage == "ctr_labels":
        from recsys_assets.assets.labels import build_labels
        from recsys_assets.policies.files import weight_policy

        build_labels(con, "ctr_labels", "ctr", pipeline, key, weight_policy(pipeline.weight_policy).sql_params())
        out["rows"] = rows("ctr_labels")
    elif stage == "other_labels":
        from recsys_assets.assets.labels import build_labels

        for table, task in (("conversion_labels", "conversion"), ("hide_labels", "hide"), ("return_labels", "return")):
            build_labels(con, table, task, pipeline, key)
        out["rows"] = sum(rows(t) for t in ("conversion_labels", "hide_labels", "return_labels"))
    elif stage == "negatives":
        from recsys_assets.assets.negatives import build_ranking_negatives, build_retrieval_negatives

        build_ranking_negatives(con, pipeline, key)
        build_retrieval_negatives(con, pipeline, key)
        out["rows"] = rows("ranking_negatives") + rows("retrieval_negatives")
    elif stage == "sampler_metrics":
        from recsys_assets.assets.metrics import build_sampler_metrics

        build_sampler_metrics(con, logs, pipeline, key)
        out["rows"] = rows("ranking_negatives") + rows("retrieval_negatives")
    elif stage in ("handoff", "training"):
        import numpy as np

        from recsys_assets.ranker.dataset import stream_training_set
        from recsys_assets.ranker.position_bias import Curve
        from recsys_assets.ranker.training import RankerConfig, TrainingSet, train
        from recsys_assets.ranker.truth import register_truth

        register_truth(con, logs)
        # as ctr_ranker does: record batches spooled, no Arrow table of the day and no matrix (LightGBM bins
        # the spooled batches)
        data, spec = stream_training_set(con, "negatives", DAY, DAY, Curve("flat", np.ones(100)),
                                         exclude=pipeline.ranker_exclude_features, batches=True)
        out["rows"] = len(data.label)
        if stage == "training":
            t0 = time.perf_counter()  # the handoff is its own stage
            categorical = list(range(len(spec.numeric), len(spec.names)))
            # validated on a copy of the first tenth of the requests (the ranker asset validates
            # on another day); the spool is dropped once LightGBM has binned it, as ctr_ranker does
            groups = int(np.searchsorted(np.cumsum(data.group), len(data.label) // 10)) + 1
            head = int(data.group[:groups].sum())
            valid = TrainingSet(data.X[:head].copy(), data.label[:head].copy(), data.weight[:head].copy(),
                                data.position[:head].copy(), data.group[:groups].copy(), data.theta[:head].copy())
            train(RankerConfig(max_rounds=args.rounds, early_stopping_rounds=args.rounds), data, valid, categorical,
                  spec.names, release_features=True)
    elif stage == "pandas":
        out |= _pandas_stage(con, pipeline, args)
        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return out
    out["seconds"] = time.perf_counter() - t0
    con.close()
    return out


def _pandas_stage(con, pipeline, args: argparse.Namespace) -> dict[str, Any]:
    """Load a user-closed subset (every request of 1/k of the users, and 1/k of the anonymous
    requests), label it with pandas (timed), compare with the SQL's rows for the same requests."""
    import pandas as pd

    from benchmarks import pandas_reference as ref
    from recsys_assets.policies.files import sampler_policy, weight_policy

    total = con.execute("SELECT count(*) FROM impression_context WHERE day = ?", [DAY]).fetchone()[0]
    k = max(1, -(-total // args.pandas_rows))
    t_load = time.perf_counter()
    con.execute("CREATE OR REPLACE TEMP MACRO in_subset(user_id, request_id, k) AS "
                "(CASE WHEN user_id IS NULL THEN hash(request_id) ELSE hash(user_id) END) % k = 0")
    base = con.execute("""SELECT request_id, item_id, position, request_ts, user_id, surface, visible_ms,
                                 ui_prior_impressions, ineligible_reason
                          FROM impression_context WHERE day = ? AND in_subset(user_id, request_id, ?)""", [DAY, k]).df()
    exposures = con.execute("""SELECT i.request_id, i.item_id, q.user_id, q.ts AS request_ts FROM impressions i
                                JOIN requests q USING (request_id)
                                WHERE i.traffic = 'user' AND q.user_id IS NOT NULL AND hash(q.user_id) % ? = 0""", [k]).df()
    events = con.execute("""SELECT e.event_id, e.type, e.request_id, e.item_id, e.user_id, e.ts FROM events e
                             LEFT JOIN requests q USING (request_id)
                             WHERE e.type IN ('click', 'hide')
                               AND (CASE WHEN e.request_id IS NOT NULL THEN
                                        (CASE WHEN q.user_id IS NULL THEN hash(q.request_id) ELSE hash(q.user_id) END)
                                    ELSE hash(e.user_id) END) % ? = 0""", [k]).df()
    outages = con.execute("SELECT start_ts, end_ts, surface, event_types FROM outages").df()
    outages = outages.astype(object).where(outages.notna(), None)
    policy = weight_policy(pipeline.weight_policy)
    p = policy.sql_params()
    order = sorted(range(len(p["pf_max"])), key=lambda i: p["pf_max"][i])
    w = {"min_visible_ms": p["min_visible_ms"], "exclude_never_visible": p["exclude_never_visible"],
         "type_weights": dict(policy.negative_types), "pf_max": [p["pf_max"][i] for i in order],
         "pf_factor": [p["pf_factor"][i] for i in order], "visibility_unknown_factor": p["visibility_unknown_factor"],
         "below_decay": p["below_decay"], "below_free": p["below_free"], "repeat_min": p["repeat_min"],
         "repeat_factor": p["repeat_factor"], "positive": p["w_positive"]}
    types = sampler_policy(pipeline.ranking_sampler, "ranking").negative_types
    inputs = ref.Inputs(base, exposures, events, outages)
    t0 = time.perf_counter()
    seconds_load = t0 - t_load  # the subset's selection in DuckDB and its transfer to pandas
    labels = ref.ctr_labels(inputs, pipeline.click_window_minutes, w)
    seconds = time.perf_counter() - t0  # the labelling alone, compared with the ctr_labels stage
    t_write = time.perf_counter()
    con.register("pandas_labels", labels)
    con.execute("CREATE OR REPLACE TEMP TABLE pandas_ctr_labels AS SELECT * FROM pandas_labels")
    con.unregister("pandas_labels")
    seconds_write = time.perf_counter() - t_write
    t_negatives = time.perf_counter()
    negatives = ref.ranking_negatives(labels, types)
    seconds_negatives = time.perf_counter() - t_negatives
    sql_labels = con.execute("""SELECT request_id, item_id, position, label, negative_type, weight FROM ctr_labels
                                WHERE day = ? AND in_subset(user_id, request_id, ?)""", [DAY, k]).df()
    sql_negatives = con.execute("""SELECT request_id, item_id, negative_type, weight FROM ranking_negatives
                                   WHERE day = ? AND in_subset(user_id, request_id, ?)""", [DAY, k]).df()

    def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
        keys = ["request_id", "item_id"]
        a, b = a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True)
        if len(a) != len(b) or not (a[keys].to_numpy() == b[keys].to_numpy()).all():
            return False
        if not (a["negative_type"].fillna("") == b["negative_type"].fillna("")).all():
            return False
        return bool(((a["weight"] - b["weight"]).abs() <= 1e-9).all())

    identical = same(labels, sql_labels) and bool((labels.sort_values(["request_id", "item_id"])["label"].to_numpy()
                                                    == sql_labels.sort_values(["request_id", "item_id"])["label"].to_numpy()).all()) \
        and same(negatives, sql_negatives)
    # end to end, as the SQL stage is timed: reading the inputs out of the warehouse, labelling,
    # writing the labels back (the load also selects the user subset, so it is an upper bound)
    return {"seconds": seconds, "seconds_negatives": seconds_negatives, "seconds_load": seconds_load,
            "seconds_write": seconds_write, "seconds_end_to_end": seconds_load + seconds + seconds_write,
            "rows": len(base), "identical": identical, "subset": f"1/{k} of users"}


# ------------------------------------------------------------------ the run (parent process)


def _child(stage: str, work: Path, args: argparse.Namespace, triple: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.pipeline", "--stage", stage, "--work", str(work), "--scale", str(args.scale),
           "--memory-limit", args.memory_limit, "--seed", str(args.seed), "--rounds", str(args.rounds),
           "--pandas-rows", str(args.pandas_rows)] + (["--triple-run"] if triple else [])
    spill, peak = work / "spill", 0
    with (subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child,
          ThreadPoolExecutor(1) as pool):
        # DuckDB's spill files, sampled while the stage runs (they go when its connection closes)
        reader = pool.submit(child.communicate)
        while child.poll() is None:
            peak = max(peak, _dir_bytes(spill))
            time.sleep(0.5)
        stdout, stderr = reader.result()
    if child.returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1]) | {"spill_mb": peak / 2**20}


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:  # deleted while walked
                pass
    return total


def run_all(args: argparse.Namespace, triple: bool) -> dict[str, Any]:
    import shutil
    import tempfile

    if args.tmp:
        Path(args.tmp).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="recsys-bench-", dir=args.tmp))
    try:
        results = {}
        for stage in STAGES:
            if triple and stage == "pandas":
                continue
            results[stage] = _child(stage, work, args, triple)
            r = results[stage]
            print(f"  {stage:16s} {r['rows']:>12,} rows {r['seconds']:8.2f} s  peak RSS {r['rss_mb']:7.0f} MB"
                  f"  spill {r['spill_mb']:7.0f} MB", flush=True)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[str, Any], label: str) -> tuple[str, dict[str, Any]]:
    floor = results["copy_floor"]["seconds"]
    impressions = results["copy_floor"]["rows"]
    pandas = results.get("pandas")
    pandas_rate = pandas["rows"] / pandas["seconds"] if pandas else None
    lines = [f"{label}: {impressions:,} impressions in the day",
             f"{'stage':16s} {'rows':>12s} {'seconds':>9s} {'impr./s':>12s} {'x floor':>8s} {'x pandas':>9s} {'peak RSS':>9s} {'spill':>9s}"]
    table = []
    for stage, r in results.items():
        x_floor = r["seconds"] / floor if stage not in ("simulate", "pandas") else None
        rate = impressions / r["seconds"] if stage not in ("pandas",) else r["rows"] / r["seconds"]
        x_pandas = None
        if pandas_rate and stage == "ctr_labels":
            x_pandas = rate / pandas_rate
        row = {"stage": stage, "rows": r["rows"], "seconds": round(r["seconds"], 3), "impressions_per_second": round(rate),
               "x_copy_floor": round(x_floor, 2) if x_floor else None, "x_pandas": round(x_pandas, 1) if x_pandas else None,
               "peak_rss_mb": round(r["rss_mb"]), "peak_spill_mb": round(r["spill_mb"])}
        if stage == "pandas":
            row["identical_to_sql"] = r["identical"]
            row["subset"] = r["subset"]
            row |= {k: round(r[k], 3) for k in ("seconds_load", "seconds_write", "seconds_end_to_end")}
        table.append(row)
        lines.append(f"{stage:16s} {r['rows']:>12,} {r['seconds']:>9.2f} {rate:>12,.0f} "
                     f"{(f'{x_floor:.2f}' if x_floor else ''):>8s} {(f'{x_pandas:.1f}' if x_pandas else ''):>9s} "
                     f"{r['rss_mb']:>7.0f}MB {r['spill_mb']:>7.0f}MB")
    pipeline_seconds = sum(results[s]["seconds"] for s in PIPELINE_STAGES)
    summary = {"impressions": impressions, "pipeline_x_copy_floor": round(pipeline_seconds / floor, 2),
               "ctr_labels_x_copy_floor": round(results["ctr_labels"]["seconds"] / floor, 2),
               "simulator_impressions_per_second": round(results["simulate"]["rows"] / results["simulate"]["seconds"]),
               "peak_rss_mb": round(max(r["rss_mb"] for r in results.values())),
               "peak_spill_mb": round(max(r["spill_mb"] for r in results.values()))}
    if pandas:
        sql_rate = impressions / results["ctr_labels"]["seconds"]
        summary |= {"ctr_labels_x_pandas": table[[t["stage"] for t in table].index("ctr_labels")]["x_pandas"],
                    "ctr_labels_x_pandas_end_to_end": round(sql_rate / (pandas["rows"] / pandas["seconds_end_to_end"]), 1),
                    "pandas_identical": pandas["identical"]}
    lines.append("clean -> snapshots -> labels -> negatives -> metrics: "
                 f"{pipeline_seconds:.1f} s = {summary['pipeline_x_copy_floor']}x the copy floor; "
                 f"CTR labels {summary['ctr_labels_x_copy_floor']}x"
                 + (f"; CTR labelling {summary['ctr_labels_x_pandas']}x faster than pandas's labelling, "
                    f"{summary['ctr_labels_x_pandas_end_to_end']}x than pandas end to end "
                    f"(load {pandas['seconds_load']:.1f} s + label {pandas['seconds']:.1f} s + write "
                    f"{pandas['seconds_write']:.1f} s; identical rows: {pandas['identical']})" if pandas else ""))
    return "\n".join(lines), {"label": label, "stages": table, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="x 1M requests x 30 impressions (default 1)")
    parser.add_argument("--triple", action="store_true", help="also run at 3x the scale (must finish; no pandas stage)")
    parser.add_argument("--triple-only", action="store_true", help="only the 3x run")
    parser.add_argument("--memory-limit", default="3.4GB",
                        help="DuckDB memory_limit (default 3.4GB: a stage then fits in 4 GiB), spilling to disk")
    parser.add_argument("--pandas-rows", type=int, default=3_000_000, help="impressions the pandas reference handles")
    parser.add_argument("--rounds", type=int, default=50, help="LightGBM rounds in the training stage")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tmp", help="where the work directory goes (default: the system's temp dir)")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--triple-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        out = run_stage(args.stage, Path(args.work), args)
        out.setdefault("rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(out, default=str))
        return 0
    sys.path.insert(0, str(ROOT))
    from recsys_assets.config import load_settings

    runs = [] if args.triple_only else [(f"scale {args.scale:g}", False)]
    runs += [(f"scale {3 * args.scale:g} (3x)", True)] if args.triple or args.triple_only else []
    outputs = []
    for label, triple in runs:
        print(f"{label} ...", flush=True)
        text, data = report(run_all(args, triple), label)
        print(text, flush=True)
        outputs.append(data)
    out_dir = load_settings().home / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"pipeline-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(outputs, indent=2, default=str))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
