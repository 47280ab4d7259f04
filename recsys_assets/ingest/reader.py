"""Reading a logs directory in the input contract: discovery, file-level checks, typed views.

File-level faults (unreadable file, missing required column, a column whose physical type
cannot hold the logical type) raise :class:`ContractError` listing every problem with
file, column and rule. Row-level faults are left to the clean SQL, which quarantines rows
with a reason. The typed views this module registers (``src_<table>``) give the clean SQL
every contract column (NULL when a file lacks an optional one) plus:

- ``_cast_errors``: comma list of columns whose raw value did not parse, NULL if none;
- ``_file``, ``_row``: where the row came from (for quarantine and deterministic ties);
- ``_raw``: the raw row as JSON text, evaluated only where the SQL asks for it.

The projection is generated from the contract's constant column names; file paths reach
DuckDB through the relation API as values, never as SQL text.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from recsys_assets.ingest.contract import ACCEPTED_PHYSICAL, DUCKDB_TYPE, FILE_SUFFIXES, TABLES, Table
from recsys_assets.warehouse.sql import execute, query_dicts, run_sql


@dataclass(frozen=True)
class Problem:
    """One contract violation. ``count`` is the number of rows for row-level problems."""

    table: str
    file: str
    column: str | None
    rule: str
    count: int = 1

    def __str__(self) -> str:
        where = f"column '{self.column}'" if self.column else "file"
        rows = f" ({self.count} rows)" if self.count != 1 else ""
        return f"{self.file}: {where}: {self.rule}{rows}"


class ContractError(ValueError):
    """Files that break the input contract. The message lists every problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} input contract problem(s):\n{lines}")


@dataclass
class TableFiles:
    table: Table
    files: list[Path] = field(default_factory=list)
    schemas: dict[Path, dict[str, str]] = field(default_factory=dict)  # file -> column -> DuckDB type

    @property
    def present(self) -> bool:
        return bool(self.files)

    @property
    def is_csv(self) -> bool:
        return any(_is_csv(f) for f in self.files)

    def columns_present(self) -> set[str]:
        cols: set[str] = set()
        for schema in self.schemas.values():
            cols |= set(schema)
        return cols


@dataclass
class LogsInventory:
    root: Path
    tables: dict[str, TableFiles]
    problems: list[Problem]
    warnings: list[Problem]

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ContractError(self.problems)


def _is_csv(path: Path) -> bool:
    return path.name.lower().endswith((".csv", ".csv.gz"))


#: characters DuckDB reads as a glob pattern in a path
GLOB_CHARS = frozenset("*?[{")
#: the reader's own columns: the source file's name, and Parquet's row number
FILE_COLUMN = "__recsys_file"
RESERVED_COLUMNS = frozenset({FILE_COLUMN, "file_row_number"})


def discover(root: Path, skipped: list[Problem] | None = None) -> dict[str, list[Path]]:
    """Data files per contract table: ``root/<table>/**`` with a Parquet or CSV suffix (any
    case). Files under a folder or with a name starting with ``.`` or ``_`` (``_SUCCESS``,
    ``_temporary/``, ``.crc``) and files with another suffix are skipped; ``skipped``
    receives one warning per table saying which and why."""
    found: dict[str, list[Path]] = {}
    for name in TABLES:
        folder = root / name
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        hidden = [f for f in files if any(part.startswith((".", "_")) for part in f.relative_to(folder).parts)]
        other = [f for f in files if f not in hidden and not f.name.lower().endswith(FILE_SUFFIXES)]
        found[name] = [f for f in files if f not in hidden and f not in other]
        if skipped is not None:
            for group, why in ((hidden, "under a name starting with '.' or '_'"),
                               (other, f"not a data file (suffixes read: {', '.join(FILE_SUFFIXES)})")):
                if group:
                    listed = ", ".join(str(f.relative_to(folder)) for f in group[:3]) + (" ..." if len(group) > 3 else "")
                    skipped.append(Problem(name, str(folder), None, f"{len(group)} file(s) skipped, {why}: {listed}"))
    return found


def _file_schema(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """Column -> DuckDB type of one file, names as written (DuckDB matches them without case)."""
    rel = con.read_csv(str(path), all_varchar=True) if _is_csv(path) else con.read_parquet(str(path))
    return {c: str(t).upper() for c, t in zip(rel.columns, rel.types)}


def _written_names(path: Path) -> list[str]:
    """Column names as the file writes them (DuckDB renames repeats to ``name_1``)."""
    if not _is_csv(path):
        return pq.read_schema(path).names
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
        return next(csv.reader(f), [])


def inspect_logs(
    con: duckdb.DuckDBPyConnection, root: Path, files: dict[str, list[Path]] | None = None
) -> LogsInventory:
    """Check every file's schema against the contract. Never raises; problems are collected.

    ``files`` restricts the check to given files per table (a partition's share of the
    logs); without it every file under ``root`` is discovered and required tables must exist.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    if not root.is_dir():
        problems.append(Problem("*", str(root), None, "logs directory does not exist"))
        return LogsInventory(root, {n: TableFiles(t) for n, t in TABLES.items()}, problems, warnings)
    chosen = discover(root, warnings) if files is None else {name: list(files.get(name, [])) for name in TABLES}
    tables: dict[str, TableFiles] = {}
    for name, table in TABLES.items():
        tf = TableFiles(table, chosen[name])
        tables[name] = tf
        if files is None and table.required and not tf.files:
            problems.append(Problem(name, str(root / name), None, "required table has no .parquet or .csv files"))
        for path in tf.files:
            problems.extend(_check_file(con, tf, path, warnings))
    return LogsInventory(root, tables, problems, warnings)


def _check_file(con: duckdb.DuckDBPyConnection, tf: TableFiles, path: Path, warnings: list[Problem]) -> list[Problem]:
    table = tf.table
    if GLOB_CHARS & set(path.name):
        return [Problem(table.name, str(path), None, "file name holds a glob character (* ? [ {), which DuckDB would "
                        "expand to other files: rename the file")]
    try:
        found = _file_schema(con, path)
    except duckdb.Error as exc:
        return [Problem(table.name, str(path), None, f"unreadable: {str(exc).splitlines()[0]}")]
    try:
        written = _written_names(path)
    except (OSError, ValueError):  # DuckDB read the schema; pyarrow or the CSV module could not
        written = list(found)
    by_lower: dict[str, list[str]] = {}
    for column in written:
        by_lower.setdefault(column.lower(), []).append(column)
    clashes = [names for names in by_lower.values() if len(names) > 1]
    if clashes:
        return [Problem(table.name, str(path), ", ".join(names), "column names differ only in case (or repeat): "
                        "which one is meant is ambiguous") for names in clashes]
    reserved = sorted(set(by_lower) & RESERVED_COLUMNS)
    if reserved:
        return [Problem(table.name, str(path), ", ".join(reserved), "column name reserved by the reader: rename it")]
    renamed = [(c, c.lower()) for c in found if c != c.lower() and c.lower() in table.column_names]
    if renamed:
        warnings.append(Problem(table.name, str(path), ", ".join(c for c, _ in renamed),
                                "read as " + ", ".join(f"'{lower}'" for _, lower in renamed) + " (names match without case)"))
    schema = {c.lower(): t for c, t in found.items()}
    tf.schemas[path] = schema
    problems = []
    for col in table.columns:
        if col.name not in schema:
            if col.required:
                problems.append(Problem(table.name, str(path), col.name, "required column is missing"))
            continue
        physical = schema[col.name]
        if physical.strip('"') == "NULL":  # a column with no values at all (e.g. all nulls from Arrow)
            continue
        if physical.split("(")[0] not in ACCEPTED_PHYSICAL[col.type]:
            accepted = ", ".join(sorted(ACCEPTED_PHYSICAL[col.type]))
            problems.append(
                Problem(table.name, str(path), col.name, f"type {physical} cannot hold a {col.type} (accepted: {accepted})")
            )
    extra = sorted(set(schema) - set(table.column_names))
    if extra:
        warnings.append(Problem(table.name, str(path), ", ".join(extra), "columns not in the contract are ignored"))
    return problems


def register_partition_sources(con: duckdb.DuckDBPyConnection, root: Path, day: object) -> LogsInventory:
    """Register ``src_*`` and ``placed_*`` views over the files holding rows of ``day`` ± 2 days.

    The file list comes from the ``raw_logs`` inventory; unpartitioned tables (items,
    users, outages) are not registered here.
    """
    rows = query_dicts(con, "sources/raw_logs/partition_files", {"day": day})
    files: dict[str, list[Path]] = {}
    for r in rows:
        files.setdefault(r["source_table"], []).append(Path(r["file"]))
    inventory = inspect_logs(con, root, files)
    register_sources(con, inventory)
    run_sql(con, "sources/raw_logs/placed")
    return inventory


def register_table_sources(con: duckdb.DuckDBPyConnection, root: Path, table: str) -> LogsInventory:
    """Register ``src_<table>`` over every file of one (unpartitioned) table."""
    inventory = inspect_logs(con, root, {table: discover(root)[table]})
    register_sources(con, inventory, only=[table])
    return inventory


#: what a number written as text must look like (the same values a typed Parquet column
#: holds): an integer may carry a zero fraction ("1695.0", as pandas writes integers next to
#: nulls), never another ("2.5" is not rounded); no hex, no digit separators, no nan or inf
NUMBER_SYNTAX = {
    "int": r"[+-]?[0-9]+(\.0*)?",
    "float": r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?",
}


def _cast_expr(column: str, logical: str, physical: str | None) -> tuple[str, bool]:
    """SQL expression reading ``column`` as its logical type, and whether a cast can fail."""
    target = DUCKDB_TYPE[logical]  # type: ignore[index]
    quoted = f'"{column}"'
    if physical is None:
        return f"CAST(NULL AS {target})", False
    if logical == "float" and physical in ("DOUBLE", "FLOAT"):  # NaN and infinities are not values
        return f"CASE WHEN isfinite({quoted}) THEN CAST({quoted} AS {target}) END", True
    if logical == "string" and physical == "VARCHAR":  # an empty string is no value, as in CSV
        return f"NULLIF({quoted}, '')", False
    if physical == target:
        return quoted, False
    if physical.strip('"') == "NULL":
        return f"CAST({quoted} AS {target})", False
    if logical == "timestamp":
        if physical == "VARCHAR":
            return f"TRY_CAST(TRY_CAST({quoted} AS TIMESTAMPTZ) AS TIMESTAMP)", True
        return f"CAST({quoted} AS TIMESTAMP)", False
    if physical == "VARCHAR" and logical in NUMBER_SYNTAX:  # no rounding of 2.5, no 0x10, no 1_000, no nan
        parsed = f"CASE WHEN regexp_full_match(trim({quoted}), '{NUMBER_SYNTAX[logical]}') THEN TRY_CAST(trim({quoted}) AS {target}) END"
        return parsed, True
    if physical == "VARCHAR" or physical in ("UBIGINT", "HUGEINT"):  # text, or integers that may overflow
        return f"TRY_CAST({quoted} AS {target})", True
    return f"CAST({quoted} AS {target})", False


def _raw_relation(con: duckdb.DuckDBPyConnection, tf: TableFiles) -> tuple[duckdb.DuckDBPyRelation, dict[str, str]]:
    """One relation over a table's files with its contract columns as found, ``_file`` and ``_row``.

    Parquet keeps its physical types. CSV is read as text (every value is parsed row by
    row later); a folder mixing both is read as text throughout.
    """
    parquet = [str(f) for f in tf.files if not _is_csv(f)]
    csv = [str(f) for f in tf.files if _is_csv(f)]
    parts: list[tuple[duckdb.DuckDBPyRelation, dict[str, str], str]] = []
    # the paths are bound values (one parameter name per table and format: views of several
    # tables meet in one query); the file name goes to a column no contract table uses
    name = tf.table.name
    if parquet:
        rel = con.sql(f"SELECT * FROM read_parquet(${name}_parquet, union_by_name = true, "
                      f"filename = '{FILE_COLUMN}', file_row_number = true)", params={f"{name}_parquet": parquet})
        parts.append((rel, {c.lower(): str(t).upper() for c, t in zip(rel.columns, rel.types)}, "file_row_number"))
    if csv:
        rel = con.sql(f"SELECT * FROM read_csv(${name}_csv, all_varchar = true, union_by_name = true, header = true, "
                      f"filename = '{FILE_COLUMN}')", params={f"{name}_csv": csv})
        parts.append((rel, {c.lower(): "VARCHAR" for c in rel.columns}, "row_number() OVER ()"))
    if len(parts) == 1:
        rel, physical, row_expr = parts[0]
        present = [c for c in tf.table.column_names if c in physical]
        cols = ", ".join(f'"{c}"' for c in present)
        return rel.project(f"{cols}, {FILE_COLUMN} AS _file, {row_expr} AS _row"), {c: physical[c] for c in present}
    names = tf.table.column_names
    union = None
    for rel, physical, row_expr in parts:
        cols = ", ".join(
            f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in physical else f'CAST(NULL AS VARCHAR) AS "{c}"' for c in names
        )
        projected = rel.project(f"{cols}, {FILE_COLUMN} AS _file, {row_expr} AS _row")
        union = projected if union is None else union.union(projected)
    return union, {c: "VARCHAR" for c in names}


def register_sources(con: duckdb.DuckDBPyConnection, inventory: LogsInventory, only: list[str] | None = None) -> None:
    """Create TEMP views ``src_<table>`` over the files (empty typed views for absent tables)."""
    inventory.raise_for_problems()
    for name, tf in inventory.tables.items():
        if only is not None and name not in only:
            continue
        table = tf.table
        view = f"src_{name}"
        if not tf.present:
            cols = ", ".join(f'CAST(NULL AS {DUCKDB_TYPE[c.type]}) AS "{c.name}"' for c in table.columns)
            empty = con.sql(
                f"SELECT {cols}, CAST(NULL AS VARCHAR) AS _cast_errors, CAST(NULL AS VARCHAR) AS _file, "
                "CAST(NULL AS BIGINT) AS _row, CAST(NULL AS VARCHAR) AS _raw WHERE false"
            )
            con.register(view, empty)
            continue
        rel, physical = _raw_relation(con, tf)
        present = [c.name for c in table.columns if c.name in physical]
        exprs, checks = [], []
        for col in table.columns:
            expr, can_fail = _cast_expr(col.name, col.type, physical.get(col.name))
            exprs.append(f'{expr} AS "{col.name}"')
            if can_fail:
                checks.append(f"CASE WHEN \"{col.name}\" IS NOT NULL AND {expr} IS NULL THEN '{col.name}' END")
        cast_errors = f"NULLIF(concat_ws(',', {', '.join(checks)}), '')" if checks else "CAST(NULL AS VARCHAR)"
        raw = "to_json(struct_pack(" + ", ".join(f'"{c}" := "{c}"' for c in present) + "))::VARCHAR"
        projection = ", ".join(exprs) + f", {cast_errors} AS _cast_errors, _file, _row, {raw} AS _raw"
        con.register(view, rel.project(projection))  # a connection-scoped view; nothing is stored in the warehouse


#: the most days a partition range read from the logs may span (beyond it, say --start/--end)
MAX_DETECTED_DAYS = 731


class DayRangeError(ValueError):
    """The logs' request days do not make a plausible partition range."""


def detect_day_range(root: Path, now: dt.datetime | None = None) -> tuple[dt.date, dt.date] | None:
    """First day and day-after-last of the requests in ``root`` (None when there are none).

    Requests dated more than a day in the future are left out (the clean layer quarantines
    them). A span longer than ``MAX_DETECTED_DAYS`` raises ``DayRangeError`` naming the
    outermost days and their request counts, instead of planning thousands of partitions
    for a stray timestamp."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con = duckdb.connect()
    try:
        execute(con, "SET TimeZone = 'UTC'")
        inventory = inspect_logs(con, root, {"requests": discover(root)["requests"]})
        if inventory.problems or not inventory.tables["requests"].present:
            return None
        register_sources(con, inventory, only=["requests"])
        days = execute(con, "SELECT CAST(ts AS DATE) AS day, count(*) FROM src_requests WHERE ts <= ? "
                            "GROUP BY ALL ORDER BY day", [now + dt.timedelta(days=1)])
        days = [(d, n) for d, n in days if d is not None]
        if not days:
            return None
        first, last = days[0][0], days[-1][0]
        if (last - first).days + 1 > MAX_DETECTED_DAYS:
            edges = ", ".join(f"{d} ({n:,} request{'s' if n != 1 else ''})" for d, n in dict.fromkeys(days[:2] + days[-2:]))
            raise DayRangeError(f"{root}: requests span {first} .. {last} ({(last - first).days + 1:,} days, more than "
                                f"{MAX_DETECTED_DAYS} planned from the logs; outermost days: {edges}): pass --start and --end")
        return first, last + dt.timedelta(days=1)
    finally:
        con.close()
