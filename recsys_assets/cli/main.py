"""The `recsys` command line: simulate logs, validate logs, run the whole pipeline.

The CLI drives Dagster (it builds the definitions and materializes them on the local
instance); asset modules never import it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.resources
import os
import re
import sys
import textwrap
import time
import traceback
import warnings
from pathlib import Path

from recsys_assets.config import Settings, SettingsError, export_settings, load_settings

# ------------------------------------------------------------------ progress


class ProgressBar:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, label: str, width: int = 30):
        self.label, self.width = label, width
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.decile = -1

    def update(self, fraction: float, note: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        decile = int(fraction * 10)
        if not self.tty and decile == self.decile and fraction < 1.0:
            return  # not a terminal (a log, CI): a line per tenth of the work, not per step
        self.decile = decile
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


def _prepare_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME (default RECSYS_HOME/dagster) with the packaged instance config. Created
    under a temporary name and renamed, so two first runs at once never see half a file."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        tmp = home / f".dagster.yaml.{os.getpid()}"
        tmp.write_bytes((importlib.resources.files("recsys_assets") / "dagster.yaml").read_bytes())
        os.replace(tmp, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@contextlib.contextmanager
def open_instance():
    """The Dagster instance of DAGSTER_HOME, its storage created under an exclusive file lock:
    two first runs on a fresh home would otherwise both create the SQLite tables, and one dies
    with `table runs already exists`."""
    import dagster as dg

    home = Path(os.environ["DAGSTER_HOME"])
    with open(home / ".storage.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # run storage (created on first use)
        instance.all_instigator_state()  # schedule storage
        instance.event_log_storage.get_asset_records()  # the event log's index shard
        fcntl.flock(lock, fcntl.LOCK_UN)
    with instance:
        yield instance


def run_settings(args: argparse.Namespace) -> Settings:
    """The settings of a run, exported for the definitions: ``--logs``, ``--start`` and ``--end``;
    on simulated logs, the ``days`` and ``start`` of ``--set`` also set the partition range (the
    run covers the days simulated, not the configured number); on a user's logs the range is
    the logs' days unless ``--start`` and ``--end`` say otherwise."""
    sets = {} if args.logs else _parse_sets(args.set)
    settings = export_settings(logs=Path(args.logs).resolve() if args.logs else None,
                               start_date=args.start or sets.get("start"), end_date=args.end,
                               sim_days=sets.get("days"))
    if settings.logs is not None and not (args.start and args.end):
        from recsys_assets.ingest.reader import detect_day_range

        found = detect_day_range(settings.logs)
        if found:
            settings = export_settings(start_date=args.start or found[0].isoformat(),
                                       end_date=args.end or found[1].isoformat())
            print(f"partition range from the logs: {settings.start_date} .. {settings.end_date} (exclusive)")
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    settings = run_settings(args)
    _prepare_dagster_home(settings)
    import dagster as dg

    from recsys_assets.cli.runner import execute, plan, reap_dead_runs
    from recsys_assets.cli.summary import print_summary
    from recsys_assets.definitions import build_definitions
    from recsys_assets.defs.partitions import daily_partitions

    defs = build_definitions()
    keys = daily_partitions(settings).get_partition_keys()
    selection = None
    if args.select:
        try:
            with warnings.catch_warnings():  # Dagster's own parser of `group:` selections warns of its beta parameter
                warnings.simplefilter("ignore", dg.BetaWarning)
                selection = set(dg.AssetSelection.from_string(args.select).resolve(defs.resolve_asset_graph()))
        except Exception as exc:  # noqa: BLE001 - a bad selection string is a usage error
            raise UsageError(f"--select {args.select!r}: {exc}") from None
        if not selection:
            raise UsageError(f"--select {args.select!r} matches no asset")
    steps = plan(defs, keys, selection)
    run_config = {"ops": {"raw_logs": {"config": {"simulator": _parse_sets(args.set), "resimulate": args.resimulate}}}}
    settings.run_logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.run_logs_dir / f"run-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    bar = ProgressBar("recsys run")
    t0 = time.perf_counter()

    def on_step(i, n, step, outcome):
        if outcome is None:
            bar.update(i / n, step.label()[:70])
        elif not outcome.success:
            bar.update(i / n, f"FAILED {step.label()[:60]}")

    with open_instance() as instance:
        for run_id in reap_dead_runs(instance):
            print(f"freed the duckdb pool slot of run {run_id}: its `recsys run` process is gone", file=sys.stderr)
        outcomes = execute(defs, steps, instance, run_config, on_step, log_path=log_path, verbose=args.verbose)
    ok = all(o.success for o in outcomes) and len(outcomes) == len(steps)
    bar.done("done" if ok else "stopped")
    print_summary(settings, outcomes, time.perf_counter() - t0, keys, log_path)
    return 0 if ok else 1


def cmd_compare(args: argparse.Namespace) -> int:
    """Materialize sampler_comparison on the warehouse `recsys run` built, then print it."""
    export_settings(compare_arms=args.arms)
    run_args = argparse.Namespace(logs=args.logs, start=args.start, end=args.end, set=[], resimulate=False,
                                  select="key:sampler_comparison or key:report", verbose=args.verbose)
    code = cmd_run(run_args)
    if code != 0:
        print("recsys compare: the comparison did not run; build the warehouse first with `recsys run`", file=sys.stderr)
        return code
    import duckdb

    from recsys_assets.ranker.comparison import display_rows
    from recsys_assets.warehouse.sql import query_dicts

    con = duckdb.connect(str(load_settings().warehouse), read_only=True)
    try:
        rows = query_dicts(con, "model/sampler_comparison/latest")
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


def cmd_settings(args: argparse.Namespace) -> int:
    """The configuration: every variable with its current value, or README's table."""
    from recsys_assets.config import settings_table, settings_values

    if args.markdown:
        print(settings_table())
        return 0
    for name, value in settings_values(load_settings()):
        print(f"{name:<36} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="stream Dagster's event log to the console and show tracebacks")

    sim = sub.add_parser("simulate", parents=[common], help="write simulated logs in the input contract plus truth/")
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

    val = sub.add_parser("validate", parents=[common], help="check a logs directory against the input contract")
    val.add_argument("dir")
    val.add_argument("--max-quarantine-rate", type=float, default=0.01,
                     help="fail when more than this share of rows is quarantined (default 0.01)")
    val.set_defaults(func=cmd_validate)

    run = sub.add_parser("run", parents=[common], help="materialize every asset over the partition range and print a summary")
    run.add_argument("--logs", help="logs directory in the input contract (default: simulate)")
    run.add_argument("--start", help="first day, YYYY-MM-DD (default RECSYS_START_DATE)")
    run.add_argument("--end", help="day after the last, YYYY-MM-DD (default RECSYS_END_DATE)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="simulator parameter (repeatable); days= and start= also set the partition range")
    run.add_argument("--resimulate", action="store_true", help="simulate again even if logs exist")
    run.add_argument("--select", help="only these assets, a Dagster asset selection, e.g. '+key:ctr_labels' (it and everything "
                     "upstream) or 'group:clean or group:snapshots' (default: every asset)")
    run.set_defaults(func=cmd_run)

    cmp = sub.add_parser("compare", parents=[common], help="train the ranker under every comparison arm (sampler, weights, position "
                         "handling) on the built warehouse, rank them with intervals and print a recommendation")
    cmp.add_argument("--arms", help="comma list of arm names (default: every arm in policies/comparison and "
                     "$RECSYS_POLICY_DIR/comparison)")
    cmp.add_argument("--logs", help="logs directory, as for `recsys run`")
    cmp.add_argument("--start", help="first day, as for `recsys run`")
    cmp.add_argument("--end", help="day after the last, as for `recsys run`")
    cmp.set_defaults(func=cmd_compare)
    st = sub.add_parser("settings", parents=[common], help="print every RECSYS_* setting with its current value")
    st.add_argument("--markdown", action="store_true", help="README's configuration table (defaults and meanings)")
    st.set_defaults(func=cmd_settings)
    return parser


class UsageError(ValueError):
    """A command-line argument that cannot be used."""


def main(argv: list[str] | None = None) -> int:
    """Every failure ends as one line (or a few) naming the file, column, rule or setting, and
    a non-zero exit; ``--verbose`` shows the traceback too."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("recsys: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `recsys settings | head`
        return 0
    except Exception as exc:  # noqa: BLE001 - the one error path of the CLI
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"recsys {args.command}: {_describe(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, (UsageError, SettingsError)) else 1


def _first_paragraph(text: str, width: int = 300) -> str:
    """A long engine message (DuckDB's CSV errors end in pages of reader options) as its
    first paragraph on one line, with the file it names; a message of one paragraph (ours,
    such as a list of contract problems) as it is."""
    if "\n\n" not in text.strip():
        return text.strip()
    head = text.strip().split("\n\n")[0]
    line = " ".join(part.strip()[:width] for part in head.splitlines() if part.strip())
    file = re.search(r"^\s*file = (.+)$", text, re.MULTILINE)
    if file and file.group(1).strip() not in line:
        line += f" (file {file.group(1).strip()})"
    return line


def _describe(exc: BaseException) -> str:
    """The error's message, with the causes that add to it (a disk-full error under a failed rollback)."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = _first_paragraph(str(exc)) or type(exc).__name__
        if not any(text in p for p in parts):
            parts.append(text)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return " <- ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
