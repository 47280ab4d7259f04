"""The `recsys` command line: simulate logs, validate logs, run the whole pipeline.

The CLI drives Dagster (it builds the definitions and materializes them on the local
instance); asset modules never import it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
import time
from pathlib import Path

from recsys_assets.settings import REPO_ROOT

# ------------------------------------------------------------------ progress


class ProgressBar:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, label: str, width: int = 30):
        self.label, self.width = label, width
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()

    def update(self, fraction: float, note: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        filled = round(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{self.label} [{bar}] {fraction:5.1%} {time.perf_counter() - self.t0:6.1f}s {note}"
        if self.tty:
            sys.stderr.write("\r" + line[:160].ljust(160))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def done(self, note: str = "") -> None:
        self.update(1.0, note)
        if self.tty:
            sys.stderr.write("\n")


# ------------------------------------------------------------------ simulate


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def cmd_simulate(args: argparse.Namespace) -> int:
    from recsys_assets.assets.sources import simulator_config
    from recsys_assets.simulator import simulate

    overrides = _parse_sets(args.set)
    for name, value in (("days", args.days), ("requests_per_day", args.requests_per_day), ("items", args.items),
                        ("users", args.users), ("seed", args.seed), ("start", args.start)):
        if value is not None:
            overrides[name] = str(value)
    try:
        config = simulator_config(overrides)
    except ValueError as exc:
        print(f"recsys simulate: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar("simulate")
    summary = simulate(config, Path(args.out), progress=lambda stage, f: bar.update(f, stage))
    bar.done()
    print(f"wrote {args.out}: {config.days} days from {config.start}, "
          f"{summary.impressions_per_second:,.0f} impressions/s over {summary.seconds:.1f}s")
    for table, rows in sorted(summary.rows.items()):
        print(f"  {table:<24} {rows:>12,}")
    return 0


# ------------------------------------------------------------------ validate


def cmd_validate(args: argparse.Namespace) -> int:
    from recsys_assets.ingest.validation import validate_logs

    root = Path(args.dir).resolve()
    report = validate_logs(root)
    if report.problems:
        print(f"{root}: {len(report.problems)} contract problem(s):")
        for p in report.problems:
            print(f"  ERROR {p}")
    for w in report.warnings:
        print(f"  WARN  {w}")
    if report.problems:
        return 1
    print(f"{root}: files follow the contract; {len(report.days)} day(s) of data "
          f"({report.days[0] if report.days else '-'} .. {report.days[-1] if report.days else '-'})")
    print("\nrow accounting (input = clean + filtered + quarantined + duplicate):")
    tables: dict[str, dict[str, int]] = {}
    for table, outcome, rows in report.accounting:
        tables.setdefault(table, {})[outcome] = int(rows)
    outcomes = ["clean", "filtered", "quarantined", "duplicate", "out_of_range"]
    print(f"  {'table':<12}" + "".join(f"{o:>13}" for o in outcomes) + f"{'input':>13}")
    for table, counts in tables.items():
        print(f"  {table:<12}" + "".join(f"{counts.get(o, 0):>13,}" for o in outcomes) + f"{sum(counts.values()):>13,}")
    if report.reasons:
        print("\nquarantined rows by rule:")
        for table, reason, rows, example in report.reasons:
            print(f"  {table:<12} {reason:<36} {rows:>9,}  e.g. {example}")
    rate = report.quarantine_rate
    verdict = "FAIL" if rate > args.max_quarantine_rate else "ok"
    print(f"\nquarantine rate {rate:.4%} (limit {args.max_quarantine_rate:.2%}): {verdict}")
    return 1 if rate > args.max_quarantine_rate else 0


# ------------------------------------------------------------------ run


def _prepare_dagster_home() -> Path:
    from recsys_assets.settings import load_settings

    home = Path(os.environ.get("DAGSTER_HOME") or load_settings().home / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_run(args: argparse.Namespace) -> int:
    if args.logs:
        os.environ["RECSYS_LOGS"] = str(Path(args.logs).resolve())
    if args.start:
        os.environ["RECSYS_START_DATE"] = args.start
    if args.end:
        os.environ["RECSYS_END_DATE"] = args.end
    if os.environ.get("RECSYS_LOGS") and not (os.environ.get("RECSYS_START_DATE") and os.environ.get("RECSYS_END_DATE")):
        from recsys_assets.ingest.reader import detect_day_range

        found = detect_day_range(Path(os.environ["RECSYS_LOGS"]))
        if found:
            os.environ.setdefault("RECSYS_START_DATE", found[0].isoformat())
            os.environ.setdefault("RECSYS_END_DATE", found[1].isoformat())
            print(f"partition range from the logs: {os.environ['RECSYS_START_DATE']} .. {os.environ['RECSYS_END_DATE']} (exclusive)")
    _prepare_dagster_home()
    import dagster as dg

    from recsys_assets.cli.runner import execute, plan, reap_dead_runs
    from recsys_assets.cli.summary import print_summary
    from recsys_assets.definitions import build_definitions
    from recsys_assets.defs.partitions import daily_partitions

    defs = build_definitions()
    keys = daily_partitions().get_partition_keys()
    selection = None
    if args.select:
        try:
            selection = set(dg.AssetSelection.from_string(args.select).resolve(defs.resolve_asset_graph()))
        except Exception as exc:  # noqa: BLE001 - a bad selection string is a usage error
            print(f"recsys run: --select {args.select!r}: {exc}", file=sys.stderr)
            return 2
        if not selection:
            print(f"recsys run: --select {args.select!r} matches no asset", file=sys.stderr)
            return 2
    steps = plan(defs, keys, selection)
    run_config = {"ops": {"raw_logs": {"config": {"simulator": _parse_sets(args.set), "resimulate": args.resimulate}}}}
    bar = ProgressBar("recsys run")
    t0 = time.perf_counter()

    def on_step(i, n, step, outcome):
        if outcome is None:
            bar.update(i / n, step.label()[:70])
        elif not outcome.success:
            bar.update(i / n, f"FAILED {step.label()[:60]}")

    with dg.DagsterInstance.get() as instance:
        for run_id in reap_dead_runs(instance):
            print(f"freed the duckdb pool slot of run {run_id}: its `recsys run` process is gone", file=sys.stderr)
        outcomes = execute(defs, steps, instance, run_config, on_step)
    ok = all(o.success for o in outcomes) and len(outcomes) == len(steps)
    bar.done("done" if ok else "stopped")
    print_summary(outcomes, time.perf_counter() - t0, keys)
    return 0 if ok else 1


def cmd_compare(args: argparse.Namespace) -> int:
    """Materialize sampler_comparison on the warehouse `recsys run` built, then print it."""
    if args.arms:
        os.environ["RECSYS_COMPARE_ARMS"] = args.arms
    run_args = argparse.Namespace(logs=args.logs, start=args.start, end=args.end, set=[], resimulate=False,
                                  select="key:sampler_comparison or key:report")
    code = cmd_run(run_args)
    if code != 0:
        print("recsys compare: the comparison did not run; build the warehouse first with `recsys run`", file=sys.stderr)
        return code
    import duckdb

    from recsys_assets.ranker.comparison import display_rows
    from recsys_assets.settings import load_settings
    from recsys_assets.warehouse.sql import query_dicts

    con = duckdb.connect(str(load_settings().warehouse), read_only=True)
    try:
        rows = query_dicts(con, "metadata/latest_comparison")
    finally:
        con.close()
    columns, table = display_rows(rows)
    widths = {c: max(len(c), *(len(str(line[c])) for line in table)) for c in columns}
    print()
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for line in table:
        print("  ".join(str(line[c]).ljust(widths[c]) for c in columns))
    print()
    print(textwrap.fill(rows[0]["recommendation"].replace("**", ""), width=100))
    return 0


# ------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="write simulated logs in the input contract plus truth/")
    sim.add_argument("--out", required=True, help="output directory")
    sim.add_argument("--days", type=int)
    sim.add_argument("--requests-per-day", type=int)
    sim.add_argument("--items", type=int)
    sim.add_argument("--users", type=int)
    sim.add_argument("--seed", type=int)
    sim.add_argument("--start", help="first day, YYYY-MM-DD")
    sim.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="any other simulator parameter, e.g. --set position_bias=1.5 (repeatable)")
    sim.set_defaults(func=cmd_simulate)

    val = sub.add_parser("validate", help="check a logs directory against the input contract")
    val.add_argument("dir")
    val.add_argument("--max-quarantine-rate", type=float, default=0.01,
                     help="fail when more than this share of rows is quarantined (default 0.01)")
    val.set_defaults(func=cmd_validate)

    run = sub.add_parser("run", help="materialize every asset over the partition range and print a summary")
    run.add_argument("--logs", help="logs directory in the input contract (default: simulate)")
    run.add_argument("--start", help="first day, YYYY-MM-DD (default RECSYS_START_DATE)")
    run.add_argument("--end", help="day after the last, YYYY-MM-DD (default RECSYS_END_DATE)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="simulator parameter (repeatable)")
    run.add_argument("--resimulate", action="store_true", help="simulate again even if logs exist")
    run.add_argument("--select", help="only these assets, a Dagster asset selection, e.g. '+ctr_labels' (it and "
                     "everything upstream) or 'group:clean or group:snapshots' (default: every asset)")
    run.set_defaults(func=cmd_run)

    cmp = sub.add_parser("compare", help="train the ranker under every comparison arm (sampler, weights, position "
                         "handling) on the built warehouse, rank them with intervals and print a recommendation")
    cmp.add_argument("--arms", help="comma list of arm names (default: every arm in policies/comparison and "
                     "$RECSYS_POLICY_DIR/comparison)")
    cmp.add_argument("--logs", help="logs directory, as for `recsys run`")
    cmp.add_argument("--start", help="first day, as for `recsys run`")
    cmp.add_argument("--end", help="day after the last, as for `recsys run`")
    cmp.set_defaults(func=cmd_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
