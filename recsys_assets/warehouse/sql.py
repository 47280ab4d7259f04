"""Load and run the SQL files in ``sql/`` with bound parameters.

A file holds one transformation: one or more statements separated by ``;`` at the end of
a line. Parameters are DuckDB named parameters (``$start``, ``$day`` ...) and are always
bound, never formatted into the text. Each statement receives exactly the parameters it
mentions, so one parameter dict serves a whole file.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

#: the SQL files: the repository's top-level ``sql/``, shipped inside the package (``recsys_assets/sql``)
SQL_DIR = Path(str(importlib.resources.files("recsys_assets") / "sql"))

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")


@functools.cache
def load_sql(name: str) -> tuple[str, ...]:
    """Statements of ``sql/<name>.sql`` (``name`` like ``clean/events``)."""
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    text = _COMMENT.sub("", path.read_text())
    parts = re.split(r";\s*(?:\n|$)", text)
    return tuple(p.strip() for p in parts if p.strip())


def _params_for(statement: str, params: Mapping[str, Any]) -> dict[str, Any]:
    wanted = set(_PARAM.findall(statement))
    missing = wanted - set(params)
    if missing:
        raise KeyError(f"SQL parameter(s) {sorted(missing)} not supplied; statement begins: {statement[:80]!r}")
    return {k: params[k] for k in wanted}


def execute(con: duckdb.DuckDBPyConnection, statement: str, params: Mapping[str, Any] | list | None = None) -> list[tuple]:
    """Execute one statement and consume its result (DuckDB 2 keeps a connection busy until then)."""
    return con.execute(statement, params if params is not None else []).fetchall()


def prepare_session(con: duckdb.DuckDBPyConnection, memory_limit: str | None = None) -> None:
    """What every connection to the warehouse runs first: UTC (timestamps in the contract are
    UTC and naive) and the project's macros (``sql/macros.sql``, temporary: per connection).
    ``memory_limit``, the limit the connection was opened with, is kept as given (DuckDB shows
    it rounded) so that :func:`release_memory` can put it back exactly."""
    execute(con, "SET TimeZone = 'UTC'")
    if memory_limit:
        execute(con, "SET VARIABLE recsys_memory_limit = ?", [memory_limit])
    run_sql(con, "macros")


def release_memory(con: duckdb.DuckDBPyConnection) -> None:
    """Hand the blocks DuckDB keeps cached after a large query back to the OS, for work outside
    DuckDB that needs the memory next (LightGBM after the ranker's hand-off: 1.9 GB at the
    benchmark's 1x scale). DuckDB drops its cached blocks when its limit is lowered, so the
    limit goes down to 32 MB and back to the one the connection was opened with. A no-op on a
    connection opened without a recorded limit."""
    ((limit,),) = execute(con, "SELECT getvariable('recsys_memory_limit')")
    if not limit:
        return
    try:
        execute(con, "SET memory_limit = '32MB'")
    except duckdb.Error:
        pass  # blocks in use that cannot be dropped: the limit stays where it was
    finally:
        execute(con, "SET memory_limit = ?", [limit])


@contextmanager
def second_session(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Another connection to the same database (``cursor()``), prepared like the first, for SQL run
    from another thread while the first is busy; its temporary tables are its own."""
    cursor = con.cursor()
    try:
        prepare_session(cursor)
        yield cursor
    finally:
        cursor.close()


#: the single chunk of a file run without chunks: every row key
ALL_KEYS = ((0, 1 << 62),)


def run_sql(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None,
            chunks: tuple[tuple[int, int], ...] | list[tuple[int, int]] = ALL_KEYS) -> None:
    """Execute every statement of ``sql/<name>.sql`` in order.

    A statement that mentions ``$chunk_lo`` and ``$chunk_hi`` is executed once per chunk
    ``[lo, hi)`` of row keys (a large write done in slices whose joins fit in memory)."""
    params = params or {}
    for statement in load_sql(name):
        if "$chunk_lo" in statement:
            for lo, hi in chunks:
                execute(con, statement, _params_for(statement, {**params, "chunk_lo": lo, "chunk_hi": hi}))
        else:
            execute(con, statement, _params_for(statement, params))


def query_sql(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Run a file whose last statement is a query; returns the cursor for fetching."""
    params = params or {}
    statements = load_sql(name)
    for statement in statements[:-1]:
        execute(con, statement, _params_for(statement, params))
    return con.execute(statements[-1], _params_for(statements[-1], params))


def query_dicts(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of the last statement of ``sql/<name>.sql`` as dicts (metadata queries)."""
    cur = query_sql(con, name, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def arrow_query(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None):
    """Result of a one-statement query file as an Arrow table (no row-by-row Python objects)."""
    (statement,) = load_sql(name)
    return con.sql(statement, params=_params_for(statement, params or {})).to_arrow_table()


def arrow_batches(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any] | None = None,
                  batch_rows: int = 1 << 18):
    """Result of a one-statement query file as a stream of Arrow record batches, so the
    caller never holds the whole result."""
    (statement,) = load_sql(name)
    return con.sql(statement, params=_params_for(statement, params or {})).to_arrow_reader(batch_rows)
