"""Test setup: every test gets its own RECSYS_HOME, logs directory and Dagster instance.

The partition range is fixed for the whole session (partitions are read when the asset
modules are imported): January 2026, which covers the hand-made logs and the simulator's
default start.
"""

from __future__ import annotations

import os

os.environ.setdefault("RECSYS_START_DATE", "2026-01-01")
os.environ.setdefault("RECSYS_END_DATE", "2026-02-01")

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _use_home(root: Path, mp: pytest.MonkeyPatch) -> Path:
    mp.setenv("RECSYS_HOME", str(root / "home"))
    mp.setenv("RECSYS_LOGS", str(root / "logs"))
    dagster_home = root / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    mp.setenv("DAGSTER_HOME", str(dagster_home))
    (root / "logs").mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh RECSYS_HOME and DAGSTER_HOME; RECSYS_LOGS points at tmp_path/'logs'."""
    return _use_home(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    """Like ``home``, shared by the tests of one module (for expensive pipeline runs)."""
    with pytest.MonkeyPatch.context() as mp:
        yield _use_home(tmp_path_factory.mktemp("home"), mp)
