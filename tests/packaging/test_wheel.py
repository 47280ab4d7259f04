"""The package works outside a checkout: the wheel built from the repository carries every SQL
file, every packaged policy and the Dagster instance config, and the installed code reads them
from the package (importlib.resources), never from the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy (setuptools writes build/ and *.egg-info next to the sources), without
    # build isolation (setuptools and wheel are dev dependencies: no index needed)
    source = out / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "dagster.yaml"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "sql", source / "sql")
    shutil.copytree(ROOT / "recsys_assets", source / "recsys_assets", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("recsys_assets-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_every_sql_file_policy_and_the_instance_config(wheel):
    names = set(wheel.namelist())
    sql = {f"recsys_assets/sql/{p.relative_to(ROOT / 'sql').as_posix()}" for p in (ROOT / "sql").rglob("*.sql")}
    assert len(sql) > 50 and sql <= names, sorted(sql - names)[:10]
    policies = {f"recsys_assets/{p.relative_to(ROOT / 'recsys_assets').as_posix()}"
                for p in (ROOT / "recsys_assets" / "policies").rglob("*.yaml")}
    assert policies and policies <= names, sorted(policies - names)
    assert "recsys_assets/dagster.yaml" in names
    assert wheel.read("recsys_assets/dagster.yaml") == (ROOT / "dagster.yaml").read_bytes()
    assert wheel.read("recsys_assets/sql/clean/row_accounting/build.sql") == (ROOT / "sql" / "clean" / "row_accounting" / "build.sql").read_bytes()


def test_the_wheel_has_the_cli_entry_point_and_no_tests(wheel):
    entry_points = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "recsys = recsys_assets.cli.main:main" in wheel.read(entry_points).decode()
    assert not [n for n in wheel.namelist() if n.startswith(("tests/", "benchmarks/"))]
