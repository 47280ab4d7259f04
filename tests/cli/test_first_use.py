"""First use of a fresh home by several processes at once: the Dagster instance's storage is
created once, under a lock, and every process gets a working instance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OPEN = """
from recsys_assets.cli.main import open_instance
with open_instance() as instance:
    assert instance.get_runs(limit=1) == []
"""


def test_concurrent_first_runs_share_one_storage_creation(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text((Path(__file__).resolve().parents[2] / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-c", OPEN], env=env, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], "\n".join(e[-1500:] for e in errors)
    assert (home / "history" / "runs.db").is_file() and (home / "history" / "runs" / "index.db").is_file()


def test_the_storage_is_created_under_the_home_lock(tmp_path):
    """While another process holds the home's storage lock, a first run waits instead of
    creating the SQLite tables beside it; it goes on once the lock is released."""
    import fcntl
    import time

    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text((Path(__file__).resolve().parents[2] / "dagster.yaml").read_text())
    with open(home / ".storage.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.Popen([sys.executable, "-c", OPEN], env={**os.environ, "DAGSTER_HOME": str(home)},
                                stderr=subprocess.PIPE, text=True)
        time.sleep(8)  # ample time to import Dagster and reach the lock
        assert proc.poll() is None and not (home / "history").exists()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-1500:]
    assert (home / "history" / "runs.db").is_file()
