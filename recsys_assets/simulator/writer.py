"""Parquet output: background writing into a staging folder and an atomic-enough publish.

Tables are built and written by writer threads while the simulation goes on (Arrow and
most NumPy kernels release the GIL). Large daily tables are streamed: the simulation hands
over one block of rows at a time and each block becomes a row group of the day's file, so
writing overlaps with the simulation of the next block. Each streamed table has its own
writer thread, which keeps the blocks of a file in order; other files share one thread.

Everything goes to ``out/.tmp-<pid>``; only when all files are written are the table
folders renamed into ``out``, and ``truth/manifest.json`` is written last, so a crashed run
never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = Path("truth") / "manifest.json"
MAX_PENDING_TASKS = 8
"""Back-pressure: the simulation waits when this many blocks are queued, bounding memory."""
SMALL_FILES = "files"
"""Writer thread shared by the files written in one piece."""
SMALL_DOMAIN_COLUMNS = frozenset({"position", "retrieval_rank"})
"""Integer columns with few distinct values, dictionary-encoded."""

Build = Callable[[], pa.Table]


def _options(schema: pa.Schema) -> dict[str, Any]:
    """Writer options: no Arrow schema (dictionary columns read back as plain strings).

    Dictionary columns are written as dictionary pages straight from their indices;
    statistics, whose computation is costly on dictionary columns, are kept for the others.
    Floating-point columns use ``BYTE_STREAM_SPLIT``, which makes them compressible.
    """
    dictionary = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    small = [f.name for f in schema if f.name in SMALL_DOMAIN_COLUMNS]
    floats = {f.name: "BYTE_STREAM_SPLIT" for f in schema if pa.types.is_floating(f.type)}
    plain = [f.name for f in schema if f.name not in dictionary]
    return {
        "compression": "snappy",
        "use_dictionary": dictionary + small or False,
        "column_encoding": floats or None,
        "write_statistics": plain or False,
        "store_schema": False,
    }


class TableStream:
    """One Parquet file written block by block (one row group per block) on its table's thread."""

    def __init__(self, sink: ParquetSink, name: str, path: Path, thread: str | None = None) -> None:
        self._sink = sink
        self._name = name
        self._path = path
        self._thread = thread or name
        self._writer: pq.ParquetWriter | None = None

    def append(self, build: Build) -> None:
        """Queue a block: ``build()`` runs on the writer thread."""
        self._sink._submit(self._thread, lambda: self._append(build))

    def close(self) -> None:
        """Queue the end of the file."""
        self._sink._submit(self._thread, self._close)

    def _append(self, build: Build) -> None:
        table = build()
        if self._writer is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self._path, table.schema, **_options(table.schema))
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._sink._count(self._name, table.num_rows)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class ParquetSink:
    """Writes files under ``root`` on per-table threads; counts the rows written per table."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: dict[str, int] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_PENDING_TASKS)
        self._threads: dict[str, ThreadPoolExecutor] = {}
        self._futures: list[Future[None]] = []

    def stream(self, name: str, relative: str) -> TableStream:
        """A file of table ``name`` at ``root / relative`` to be written block by block."""
        return TableStream(self, name, self.root / relative)

    def write(self, name: str, relative: str, build: Build) -> None:
        """Queue a whole file (small files share one writer thread)."""
        stream = TableStream(self, name, self.root / relative, thread=SMALL_FILES)
        stream.append(build)
        stream.close()

    def _submit(self, thread: str, task: Callable[[], None]) -> None:
        self._slots.acquire()
        if thread not in self._threads:
            self._threads[thread] = ThreadPoolExecutor(1, thread_name_prefix=f"simulator-{thread}")
        self._futures.append(self._threads[thread].submit(self._run, task))

    def _run(self, task: Callable[[], None]) -> None:
        try:
            task()
        finally:
            self._slots.release()

    def _count(self, name: str, rows: int) -> None:
        with self._lock:
            self.rows[name] = self.rows.get(name, 0) + rows

    def close(self) -> dict[str, int]:
        """Wait for every file; re-raise the first failure."""
        try:
            for future in self._futures:
                future.result()
        finally:
            for thread in self._threads.values():
                thread.shutdown(wait=True, cancel_futures=True)
        return dict(sorted(self.rows.items()))


def publish(staging: Path, out: Path, manifest: dict[str, Any]) -> None:
    """Move every folder of ``staging`` into ``out`` (replacing old ones), then write the manifest."""
    (out / MANIFEST).unlink(missing_ok=True)
    for folder in sorted(staging.iterdir()):
        target = out / folder.name
        if target.exists():
            retired = out / f".old-{os.getpid()}-{folder.name}"
            target.rename(retired)
            shutil.rmtree(retired)
        folder.rename(target)
    staging.rmdir()
    path = out / MANIFEST
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(temporary, path)
