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

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

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
    return path.name.endswith((".csv", ".csv.gz"))


def discover(root: Path) -> dict[str, list[Path]]:
    """Data files per contract table: ``root/<table>/**`` with a Parquet or CSV suffix."""
    found: dict[str, list[Path]] = {}
    for name in TABLES:
        folder = root / name
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(FILE_SUFFIXES)) if folder.is_dir() else []
        found[name] = [f for f in files if not any(part.startswith((".", "_")) for part in f.relative_to(root).parts)]
    return found


def _file_schema(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    rel = con.read_csv(str(path), all_varchar=True) if _is_csv(path) else con.read_parquet(str(path))
    return {c: str(t).upper() for c, t in zip(rel.columns, rel.types)}


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
    chosen = discover(root) if files is None else {name: list(files.get(name, [])) for name in TABLES}
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
    try:
        schema = _file_schema(con, path)
    except duckdb.Error as exc:
        return [Problem(table.name, str(path), None, f"unreadable: {str(exc).splitlines()[0]}")]
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


def _cast_expr(column: str, logical: str, physical: str | None) -> tuple[str, bool]:
    """SQL expression reading ``column`` as its logical type, and whether a cast can fail."""
    target = DUCKDB_TYPE[logical]  # type: ignore[index]
    quoted = f'"{column}"'
    if physical is None:
        return f"CAST(NULL AS {target})", False
    if physical == target:
        return quoted, False
    if physical.strip('"') == "NULL":
        return f"CAST({quoted} AS {target})", False
    if logical == "timestamp":
        if physical == "VARCHAR":
            return f"TRY_CAST(TRY_CAST({quoted} AS TIMESTAMPTZ) AS TIMESTAMP)", True
        return f"CAST({quoted} AS TIMESTAMP)", False
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
    if parquet:
        rel = con.read_parquet(parquet, union_by_name=True, filename=True, file_row_number=True)
        parts.append((rel, {c: str(t).upper() for c, t in zip(rel.columns, rel.types)}, "file_row_number"))
    if csv:
        rel = con.read_csv(csv, all_varchar=True, union_by_name=True, filename=True, header=True)
        parts.append((rel, {c: "VARCHAR" for c in rel.columns}, "row_number() OVER ()"))
    if len(parts) == 1:
        rel, physical, row_expr = parts[0]
        present = [c for c in tf.table.column_names if c in physical]
        cols = ", ".join(f'"{c}"' for c in present)
        return rel.project(f"{cols}, filename AS _file, {row_expr} AS _row"), {c: physical[c] for c in present}
    names = tf.table.column_names
    union = None
    for rel, physical, row_expr in parts:
        cols = ", ".join(
            f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in physical else f'CAST(NULL AS VARCHAR) AS "{c}"' for c in names
        )
        projected = rel.project(f"{cols}, filename AS _file, {row_expr} AS _row")
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


def detect_day_range(root: Path) -> tuple[dt.date, dt.date] | None:
    """First day and day-after-last of the requests in ``root`` (None when there are none)."""
    con = duckdb.connect()
    try:
        execute(con, "SET TimeZone = 'UTC'")
        inventory = inspect_logs(con, root, {"requests": discover(root)["requests"]})
        if inventory.problems or not inventory.tables["requests"].present:
            return None
        register_sources(con, inventory, only=["requests"])
        lo, hi = execute(con, "SELECT min(CAST(ts AS DATE)), max(CAST(ts AS DATE)) FROM src_requests")[0]
        return (lo, hi + dt.timedelta(days=1)) if lo is not None else None
    finally:
        con.close()
