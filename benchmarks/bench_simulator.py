"""Throughput of the log simulator: shown impressions written per wall-clock second.

The figure covers the whole ``simulate`` call, Parquet writing included::

    python benchmarks/bench_simulator.py --requests-per-day 100000 --days 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark the working tree

from recsys_assets.simulator import SimulatorConfig, simulate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests-per-day", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--out", type=Path, help="output folder (default: a temporary folder, deleted afterwards)"
    )
    args = parser.parse_args(argv)
    config = SimulatorConfig(seed=args.seed, days=args.days, requests_per_day=args.requests_per_day)
    with tempfile.TemporaryDirectory(prefix="bench-simulator-") as scratch:
        summary = simulate(config, args.out or Path(scratch))
    print(
        f"{args.requests_per_day:,} requests/day x {args.days} day(s), slate {config.slate_size}: "
        f"{summary.rows['impressions']:,} impressions in {summary.seconds:.2f} s "
        f"= {summary.impressions_per_second:,.0f} impressions/s"
    )


if __name__ == "__main__":
    main()
