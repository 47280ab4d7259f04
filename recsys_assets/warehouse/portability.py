"""Which statements in ``sql/`` use DuckDB-only constructs, file by file: the inventory the move
to a second engine (Spark, issue 23) starts from, and a ratchet that keeps it from growing.

Each statement is parsed with sqlglot (DuckDB dialect) and scanned for the constructs another
engine does not run, or runs with another meaning (the list in ``CONSTRUCTS``). The counts per
file are recorded in ``sql/portability_baseline.json``; the test suite fails when a file uses a
construct more often than recorded (a new DuckDB-only construct) and when it uses one less (the
baseline must come down with the port, so that progress is kept).

    python -m recsys_assets.warehouse.portability                   # the inventory, by construct
    python -m recsys_assets.warehouse.portability --write-baseline  # record today's counts

sqlglot is a development dependency (the ``dev`` extra); the pipeline does not import this module.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
from collections import Counter
from pathlib import Path

from recsys_assets.warehouse.sql import SQL_DIR, load_sql

BASELINE = SQL_DIR / "portability_baseline.json"

_RULES = (  # (construct, pattern over a statement without comments, what another engine needs instead)
    ("asof_join", r"\bASOF\s+(LEFT\s+)?JOIN\b", "no ASOF join on Spark: a range join on intervals, or lead()"),
    ("rowid", r"\browid\b", "no rowid on Spark: chunk by an integer key of the data"),
    ("macro", r"\b(CREATE|DROP)\s+(OR\s+REPLACE\s+)?(TEMP\s+|TEMPORARY\s+)?MACRO\b",
     "macros are DuckDB's: a view, a CTE, or SQL generated once"),
    ("cte_materialization", r"\bAS\s+(NOT\s+)?MATERIALIZED\s*\(", "a DuckDB planner hint"),
    ("wide_integer", r"\b(UBIGINT|HUGEINT|UHUGEINT|UINTEGER)\b", "no unsigned or 128-bit integers on Spark"),
    ("hash_function", r"(?<![\w.])hash\s*\(", "hash() differs between engines: one portable hash for draws and fingerprints"),
    ("parameter_frame_bound", r"\b(RANGE|ROWS)\s+BETWEEN\s+(?:(?!\bAND\b).)*?\$\w+",
     "frame bounds from parameters: literals or integer keys on Spark"),
    ("unordered_row_number", r"\brow_number\s*\(\s*\)\s*OVER\s*\(\s*\)",
     "row_number() without ORDER BY numbers rows differently on each engine"),
    ("delete", r"^\s*DELETE\s+FROM\b", "DELETE needs a table format that has it: partition overwrite on Spark"),
    ("insert_or_replace", r"\bINSERT\s+OR\s+REPLACE\b", "DuckDB's upsert: MERGE or overwrite on Spark"),
    ("arg_min_max", r"\barg_(min|max)\s*\(", "min_by / max_by on Spark"),
    ("unnest", r"\bunnest\s*\(", "explode / inline on Spark; parallel unnest zips lists on DuckDB only"),
    ("duckdb_interval_function", r"\bto_(days|hours|minutes|seconds|microseconds)\s*\(",
     "DuckDB's interval constructors: make_interval or arithmetic on Spark"),
)
#: construct -> (pattern, what another engine needs instead)
CONSTRUCTS: dict[str, tuple[re.Pattern[str], str]] = {
    name: (re.compile(pattern, re.IGNORECASE | re.DOTALL), why) for name, pattern, why in _RULES}

_MACRO_DEFINITION = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+)?MACRO\s+(?:TABLE\s+)?(\w+)",
                               re.IGNORECASE)


@functools.cache
def macro_names() -> frozenset[str]:
    """Every macro some SQL file defines (``sql/macros.sql`` and the table macros of a build)."""
    return frozenset(m.lower() for name in sql_files() for st in load_sql(name) for m in _MACRO_DEFINITION.findall(st))


#: constructs found otherwise than by a pattern
OTHER = {"macro_call": "a call of a macro the project defines: the macros are DuckDB's",
         "unparseable": "sqlglot cannot parse it as DuckDB SQL, so it cannot transpile it either"}


def sql_files() -> list[str]:
    """Every SQL file, as ``load_sql`` names it (``clean/events/build``)."""
    return sorted(str(p.relative_to(SQL_DIR).with_suffix("")) for p in SQL_DIR.rglob("*.sql"))


def scan_statement(statement: str) -> Counter[str]:
    """Constructs of one statement (comments already removed), with their counts; a statement
    sqlglot cannot parse counts as ``unparseable``."""
    import sqlglot
    from sqlglot.errors import ParseError

    found: Counter[str] = Counter()
    for name, (pattern, _) in CONSTRUCTS.items():
        hits = len(pattern.findall(statement))
        if hits:
            found[name] += hits
    defined = {m.lower() for m in _MACRO_DEFINITION.findall(statement)}
    calls = [c for c in re.findall(r"\b(\w+)\s*\(", statement) if c.lower() in macro_names() - defined]
    if calls:
        found["macro_call"] += len(calls)
    try:
        sqlglot.parse_one(statement, read="duckdb")
    except ParseError:
        found["unparseable"] += 1
    return found


def inventory() -> dict[str, dict[str, int]]:
    """File -> construct -> count, for the files that use any."""
    out = {}
    for name in sql_files():
        found: Counter[str] = Counter()
        for statement in load_sql(name):
            found += scan_statement(statement)
        if found:
            out[name] = dict(sorted(found.items()))
    return out


def load_baseline(path: Path = BASELINE) -> dict[str, dict[str, int]]:
    return json.loads(path.read_text()) if path.exists() else {}


def differences(current: dict[str, dict[str, int]], baseline: dict[str, dict[str, int]]) -> list[str]:
    """One line per (file, construct) whose count differs from the baseline's."""
    lines = []
    for name in sorted(set(current) | set(baseline)):
        now, then = current.get(name, {}), baseline.get(name, {})
        for construct in sorted(set(now) | set(then)):
            a, b = now.get(construct, 0), then.get(construct, 0)
            if a > b:
                why = CONSTRUCTS[construct][1] if construct in CONSTRUCTS else OTHER[construct]
                lines.append(f"sql/{name}.sql: {construct} used {a} times, {b} allowed ({why})")
            elif a < b:
                lines.append(f"sql/{name}.sql: {construct} down to {a} from {b}: lower the baseline "
                             "(python -m recsys_assets.warehouse.portability --write-baseline)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-baseline", action="store_true", help=f"record today's counts in {BASELINE}")
    args = parser.parse_args(argv)
    current = inventory()
    if args.write_baseline:
        BASELINE.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"wrote {BASELINE}")
    totals: Counter[str] = Counter()
    files: Counter[str] = Counter()
    for found in current.values():
        totals.update(found)
        files.update(found.keys())
    statements = sum(len(load_sql(n)) for n in sql_files())
    print(f"{len(sql_files())} SQL files, {statements} statements; DuckDB-only constructs:")
    for construct, count in totals.most_common():
        print(f"  {construct:<26} {count:>4} in {files[construct]:>3} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
