"""The warehouse resource: DuckDB through dagster-duckdb, closed on every path, waiting on locks.

DuckDB allows one writing process per database file. Dagster serializes warehouse steps
with the `duckdb` concurrency pool, but a second process (the CLI, a test, a run started
outside the pool) can still hold the file. Instead of failing, a connection attempt waits
with backoff until ``lock_timeout_seconds`` and then fails with a message naming the file.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from recsys_assets.warehouse.sql import prepare_session

WAREHOUSE_POOL = "duckdb"


class WarehouseLockTimeout(RuntimeError):
    """The warehouse file stayed locked by another process for longer than the timeout."""


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def connect_with_wait(database: str, config: dict, timeout_seconds: float) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection, retrying with jittered backoff while another process holds the lock."""
    deadline = time.monotonic() + timeout_seconds
    delay = 0.05
    while True:
        try:
            return duckdb.connect(database=database, read_only=False, config=config)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockTimeout(
                    f"warehouse {database} stayed locked by another process for {timeout_seconds:.0f}s: {exc}"
                ) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)


class WarehouseResource(DuckDBResource):
    """`DuckDBResource` that always closes its connection and waits on a locked file.

    Every connection runs in UTC (timestamps in the contract are UTC and naive), with a
    memory limit and a spill directory so large partitions spill instead of failing.
    """

    lock_timeout_seconds: float = Field(default=600.0, description="How long to wait for a locked warehouse.")
    memory_limit: str = Field(default="4GB", description="DuckDB memory_limit for every connection.")
    threads: int = Field(default=0, description="DuckDB threads; 0 = DuckDB's default (all cores).")
    spill_directory: str = Field(default="", description="DuckDB temp_directory for spilling; '' = next to the file.")

    @contextmanager
    def get_connection(self, lock_timeout_seconds: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection in UTC with the project's macros; closed however the body ends.
        ``lock_timeout_seconds`` overrides how long to wait for a locked file (sensors wait less)."""
        if self.database != ":memory:":
            Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        # No statement here relies on insertion order (results that need an order say ORDER BY);
        # without it DuckDB streams and spills large inserts instead of running out of memory.
        # jemalloc's background threads hand the memory a finished query freed back to the OS
        # (without them the process keeps it: after the ranker's hand-off, gigabytes that
        # LightGBM then needs).
        config: dict = {"custom_user_agent": "recsys-assets", "memory_limit": self.memory_limit,
                        "preserve_insertion_order": False, "allocator_background_threads": True,
                        **self.connection_config}
        if self.threads > 0:
            config["threads"] = self.threads
        if self.spill_directory:
            Path(self.spill_directory).mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = self.spill_directory
        timeout = self.lock_timeout_seconds if lock_timeout_seconds is None else lock_timeout_seconds
        conn = connect_with_wait(self.database, config, timeout)
        try:
            prepare_session(conn, config["memory_limit"])  # the limit in force, connection_config included
            yield conn
        finally:
            conn.close()


def warehouse_from_settings(settings) -> WarehouseResource:
    return WarehouseResource(
        database=str(settings.warehouse),
        memory_limit=settings.duckdb_memory_limit,
        threads=settings.duckdb_threads,
        spill_directory=str(settings.spill_dir),
    )
