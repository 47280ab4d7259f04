"""How the snapshot of one day costs with the history window: a long simulation through the
clean layer and every day's history rows and rollups, then ``impression_context`` of its last
day built at each history window (``RECSYS_HISTORY_DAYS``), timed, on copies of the same
warehouse. The last day's ``history_rows`` and ``history_rollups`` are rebuilt and timed too
(they do not depend on the window: a day's cost is theirs plus the snapshot's). Not part of
the default test run.

    python -m benchmarks.history_window [--days 57] [--requests-per-day 5000] [--windows 7,28,56]
        [--repeats 2] [--popularity-days 7] [--work DIR]

A day's snapshot should cost what that day's rows and keys cost, whatever the window: the
ratio printed last (the largest window's time over the smallest's) is the figure issue 22
sets at <= 1.3. Each window is timed ``--repeats`` times (the best is kept) on a fresh copy
of the cleaned warehouse, so no window profits from another's cache. With ``--work DIR`` the
simulation and the cleaned warehouse are kept in DIR and re-used when the settings match.
Prints a table and writes JSON to $RECSYS_HOME/bench/history_window-<time>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.ranker_seeds import build_assets, selection


def prepare(work: Path, days: int, requests_per_day: int, seed: int) -> tuple[Path, list[dt.date]]:
    """The simulated logs and a warehouse cleaned through ``item_state`` (cached in ``work``)."""
    from recsys_assets.assets.direct import connect
    from recsys_assets.config import PipelineConfig
    from recsys_assets.simulator import SimulatorConfig, simulate

    config = SimulatorConfig(seed=seed, days=days, requests_per_day=requests_per_day)
    day_list = [config.start + dt.timedelta(days=i) for i in range(days)]
    parents, _ = selection(("impression_context",))
    marker, database, logs = work / "data.json", work / "clean.duckdb", work / "logs"
    fingerprint = json.dumps({"sim": dataclasses.asdict(config), "assets": [a for a, _ in parents]}, sort_keys=True,
                             default=str)
    if marker.exists() and marker.read_text() == fingerprint and database.exists():
        return database, day_list
    for stale in (marker, database):
        stale.unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    simulate(config, logs)
    print(f"simulated {days} days x {requests_per_day} requests in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    con = connect(str(database))
    build_assets(con, logs, day_list, PipelineConfig(), parents)
    con.close()
    print(f"cleaned {len(parents)} assets in {time.perf_counter() - t0:.0f} s", flush=True)
    marker.write_text(fingerprint)
    return database, day_list


def time_window(database: Path, day: dt.date, window: int, popularity_days: int, scratch: Path) -> dict:
    """One build of the last day's impression_context at a history window, on a fresh copy."""
    from recsys_assets.assets.direct import connect
    from recsys_assets.assets.snapshots import (
        build_history_rollups,
        build_history_rows,
        build_impression_context,
    )
    from recsys_assets.config import PipelineConfig

    copy = scratch / f"w{window}.duckdb"
    shutil.copyfile(database, copy)
    con = connect(str(copy))
    pipeline = PipelineConfig(history_days=window, popularity_days=min(popularity_days, window))
    t0 = time.perf_counter()
    build_history_rows(con, day.isoformat())
    build_history_rollups(con, day.isoformat())
    t1 = time.perf_counter()
    build_impression_context(con, pipeline, day.isoformat())
    seconds = time.perf_counter() - t1
    rows = con.execute("SELECT count(*) FROM impression_context WHERE day = ?", [day]).fetchone()[0]
    history = con.execute("SELECT count(*) FROM events WHERE day BETWEEN ? AND ?",
                          [day - dt.timedelta(days=window), day - dt.timedelta(days=1)]).fetchone()[0]
    con.close()
    copy.unlink()
    return {"window": window, "seconds": seconds, "rows": rows, "history_events": history,
            "rows_and_rollups_seconds": t1 - t0}


def main(argv: list[str] | None = None) -> int:
    from recsys_assets.config import export_settings, load_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=57, help="simulated days (the last one is snapshotted)")
    parser.add_argument("--requests-per-day", type=int, default=5000)
    parser.add_argument("--windows", default="7,28,56", help="history windows in days, comma-separated")
    parser.add_argument("--popularity-days", type=int, default=7, help="RECSYS_POPULARITY_DAYS (capped at the window)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", help="keep the simulation and the cleaned warehouse here (re-used)")
    args = parser.parse_args(argv)
    windows = sorted({int(w) for w in args.windows.split(",")})
    if windows[-1] >= args.days:
        parser.error(f"the largest window ({windows[-1]} days) needs at least {windows[-1] + 1} simulated days")
    out_dir = load_settings().home / "bench"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp) / "work"
        export_settings(home=work / "home", logs=work / "logs")
        database, days = prepare(work, args.days, args.requests_per_day, args.seed)
        results = []
        for window in windows:
            runs = [time_window(database, days[-1], window, args.popularity_days, Path(tmp))
                    for _ in range(args.repeats)]
            best = min(runs, key=lambda r: r["seconds"])
            best["all_seconds"] = [round(r["seconds"], 2) for r in runs]
            results.append(best)
            print(f"window {window:>3} days: {best['seconds']:.2f} s (runs {best['all_seconds']}), "
                  f"{best['rows']} impressions, {best['history_events']} events in the window; the day's history "
                  f"rows and rollups {best['rows_and_rollups_seconds']:.2f} s", flush=True)
    ratio = results[-1]["seconds"] / results[0]["seconds"]
    header = (f"| history window (days) | snapshot seconds (best of {args.repeats}) | the day's history rows + "
              "rollups, seconds | impressions of the day | events in the window |")
    lines = [header,
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['window']} | {r['seconds']:.2f} | {r['rows_and_rollups_seconds']:.2f} | {r['rows']} | "
              f"{r['history_events']} |" for r in results]
    print("\n".join(lines))
    print(f"snapshot time at {windows[-1]} days / at {windows[0]} days: {ratio:.2f}x (issue 22's target: <= 1.3x)")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"history_window-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results, "ratio": ratio}, indent=2, default=str))
    print(f"json: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
