"""Warehouse conventions: table DDL, atomic partition writes, metadata reads.

Every asset owns one table and one SQL folder, both named after it: ``sql/<group>/<asset>/``
holds ``schema.sql`` (the DDL), ``build.sql`` (the partition write) and ``metadata.sql``. A
partition write runs ``build.sql`` inside one transaction: it deletes the partition's rows
and inserts the new ones, so a re-run replaces the partition and a crash leaves the
previous state. The DDL's hash is recorded, and
a table whose DDL changed is recreated empty (its asset's code version changes too, so
Dagster shows every downstream partition as needing a rebuild). A history table (a row per
trained model or comparison, appended: ``HISTORY_TABLES``) cannot be rebuilt from the logs, so
a change that only adds columns keeps its rows, the new columns NULL or their default.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from recsys_assets.warehouse.sql import ALL_KEYS, SQL_DIR, execute, run_sql


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed if the block ends, rolled back if it raises. The block's
    error is what the caller sees: a rollback that fails too (DuckDB may have ended the
    transaction itself, e.g. when the disk filled up) does not hide the cause."""
    execute(con, "BEGIN TRANSACTION")
    try:
        yield
        execute(con, "COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            execute(con, "ROLLBACK")
        raise


@functools.cache
def schema_files() -> dict[str, str]:
    """Every warehouse table and its DDL file: ``sql/<group>/<table>/schema.sql`` (the folder
    is named after the table, and after the asset that writes it where there is one)."""
    return {p.parent.name: f"{p.parent.parent.name}/{p.parent.name}/schema"
            for p in sorted(SQL_DIR.glob("*/*/schema.sql"))}


@functools.cache
def ddl_hash(table: str) -> str:
    text = (SQL_DIR / f"{schema_files()[table]}.sql").read_text()
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def all_tables() -> list[str]:
    return sorted(schema_files())


def missing_tables(con: duckdb.DuckDBPyConnection, tables: Iterable[str]) -> list[str]:
    """The ones of ``tables`` the warehouse does not have yet (nothing built them)."""
    present = {r[0] for r in execute(con, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")}
    return [t for t in tables if t not in present]


#: tables holding a history no rebuild brings back: a row per trained model or comparison
HISTORY_TABLES = frozenset({"ctr_ranker", "ranker_evaluation", "model_registry", "sampler_comparison",
                            "retrieval_model", "retrieval_evaluation", "retrieval_comparison"})


def ensure_schema(con: duckdb.DuckDBPyConnection, tables: Iterable[str] | None = None) -> list[str]:
    """Create missing tables; recreate tables whose DDL changed (a history table whose change
    only adds columns keeps its rows). Returns the recreated or migrated ones."""
    tables = all_tables() if tables is None else list(tables)
    execute(con, "CREATE TABLE IF NOT EXISTS _schema_versions (table_name VARCHAR PRIMARY KEY, ddl_hash VARCHAR)")
    recreated = []
    missing = set(missing_tables(con, tables))  # two reads for all tables, not two per table
    recorded = dict(execute(con, "SELECT table_name, ddl_hash FROM _schema_versions"))
    for table in tables:
        want = ddl_hash(table)
        exists = table not in missing
        if exists and recorded.get(table) == want:
            continue
        with transaction(con):
            # names below come from the fixed list of asset tables and the catalog, never from input
            previous = f"_previous_{table}"
            if exists:  # its DDL changed (or was never recorded)
                execute(con, f'ALTER TABLE "{table}" RENAME TO "{previous}"')
                recreated.append(table)
            run_sql(con, schema_files()[table])
            if exists:
                kept = _kept_columns(con, previous, table) if table in HISTORY_TABLES else None
                if kept:
                    names = ", ".join(f'"{c}"' for c in kept)
                    execute(con, f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{previous}"')
                execute(con, f'DROP TABLE "{previous}"')
            execute(con, "INSERT OR REPLACE INTO _schema_versions VALUES (?, ?)", [table, want])
    return recreated


def _kept_columns(con: duckdb.DuckDBPyConnection, old: str, new: str) -> list[str] | None:
    """The old table's columns when the new one only adds columns (each old one there, with
    its type; each added one nullable or with a default); None when the change is another."""
    def columns(table: str) -> dict[str, tuple[str, bool]]:
        rows = execute(con, "SELECT column_name, data_type, is_nullable = 'YES' OR column_default IS NOT NULL "
                       "FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ? "
                       "ORDER BY ordinal_position", [table])
        return {name: (dtype, optional) for name, dtype, optional in rows}

    before, after = columns(old), columns(new)
    if any(after.get(name, (None,))[0] != dtype for name, (dtype, _) in before.items()):
        return None
    if not all(optional for name, (_, optional) in after.items() if name not in before):
        return None
    return list(before)


def write_atomically(con: duckdb.DuckDBPyConnection, sql_names: str | Sequence[str], params: Mapping[str, Any],
                     chunks: tuple[tuple[int, int], ...] | list[tuple[int, int]] = ALL_KEYS) -> None:
    """Run ``sql/<name>.sql`` for each of ``sql_names`` in order (delete-then-insert of one
    partition, then what goes with it) in one transaction (``chunks``: see ``run_sql``)."""
    with transaction(con):
        for name in [sql_names] if isinstance(sql_names, str) else sql_names:
            run_sql(con, name, params, chunks)


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, delete: str | None = None,
                 params: list | None = None) -> None:
    """In one transaction: run the ``delete`` statement (which rows the new ones replace; None
    = append) and insert ``rows`` (Arrow, in the table's column order) into ``table``."""
    with transaction(con):
        if delete is not None:
            execute(con, delete, params or [])
        if rows.num_rows:
            con.from_arrow(rows).insert_into(table)


def sql_code_version(*sql_names: str, tables: Iterable[str] = ()) -> str:
    """A code version for an asset: hash of its SQL files, the macros every connection has,
    and its table DDL."""
    h = hashlib.sha256()
    for name in ("macros", *sql_names):
        h.update((SQL_DIR / f"{name}.sql").read_bytes())
    for table in tables:
        h.update(ddl_hash(table).encode())
    return h.hexdigest()[:12]
