"""The one settings object: every option defined once, read from the environment in one
module only, bad values refused with one line naming the variable, README's table generated."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_assets.config import (
    PipelineConfig,
    Settings,
    SettingsError,
    env_name,
    load_settings,
    settings_table,
)

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "recsys_assets"


def test_only_the_settings_module_reads_the_environment():
    """No module but config.py reads an environment variable; the CLI only sets DAGSTER_HOME."""
    offenders = []
    for path in sorted([*PACKAGE.rglob("*.py"), *(REPO / "benchmarks").rglob("*.py")]):
        if path == PACKAGE / "config.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"os\.(environ|getenv)|getenv\(", line) and "DAGSTER_HOME" not in line:
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_option_is_documented_once_and_named_after_its_field():
    names = [env_name(n) for model in (Settings, PipelineConfig) for n in model.model_fields if n != "pipeline"]
    assert len(names) == len(set(names))
    for model in (Settings, PipelineConfig):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_readme_configuration_table_is_the_generated_one():
    readme = (REPO / "README.md").read_text()
    assert settings_table() in readme, "README's configuration table differs: paste `recsys settings` output"


def test_values_are_parsed_from_the_environment():
    s = load_settings({"RECSYS_HOME": "/tmp/x", "RECSYS_START_DATE": "2026-02-01", "RECSYS_SIM_DAYS": "3",
                       "RECSYS_RANKER_USE_WEIGHTS": "true", "RECSYS_HISTORY_DAYS": "56"})
    assert s.home == Path("/tmp/x") and s.warehouse == Path("/tmp/x/warehouse.duckdb")
    assert str(s.end_date) == "2026-02-04"  # simulator: start + sim_days
    assert s.pipeline.ranker_use_weights is True and s.pipeline.history_days == 56
    assert load_settings({"RECSYS_LOGS": "/tmp/logs"}).end_date is None  # user logs: open range
    assert load_settings({}, start_date="2026-03-01").start_date.isoformat() == "2026-03-01"  # CLI override


@pytest.mark.parametrize(("env", "message"), [
    ({"RECSYS_DUCKDB_THREADS": "four"}, "RECSYS_DUCKDB_THREADS='four': Input should be a valid integer"),
    ({"RECSYS_START_DATE": "2026-02-30"}, "RECSYS_START_DATE='2026-02-30': Input should be a valid date"),
    ({"RECSYS_START_DATE": "2026-02-01", "RECSYS_END_DATE": "2026-01-01"},
     "RECSYS_END_DATE 2026-01-01 must be after RECSYS_START_DATE 2026-02-01"),
    ({"RECSYS_RANKER_USE_WEIGHTS": "maybe"}, "RECSYS_RANKER_USE_WEIGHTS='maybe': Input should be a valid boolean"),
    ({"RECSYS_DUCKDB_MEMORY_LIMIT": "lots"}, "RECSYS_DUCKDB_MEMORY_LIMIT='lots': is not a memory size"),
    ({"RECSYS_HISTORY_DAYS": "0"}, "RECSYS_HISTORY_DAYS='0': Input should be greater than or equal to 1"),
    ({"RECSYS_RETRAIN_CRON": "daily"}, "RECSYS_RETRAIN_CRON='daily': is not a cron expression"),
])
def test_a_bad_value_is_one_line_naming_the_variable(env, message):
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize(("args", "env", "message"), [
    (["run", "--start", "2026-02-30"], {}, "recsys run: RECSYS_START_DATE='2026-02-30': Input should be a valid date"),
    (["run", "--start", "2026-01-10", "--end", "2026-01-05"], {},
     "recsys run: RECSYS_END_DATE 2026-01-05 must be after RECSYS_START_DATE 2026-01-10"),
    (["run"], {"RECSYS_DUCKDB_THREADS": "x"}, "recsys run: RECSYS_DUCKDB_THREADS='x': Input should be a valid integer"),
])
def test_the_cli_reports_a_bad_setting_in_one_line(tmp_path, args, env, message):
    environ = {"PATH": "/usr/bin:/bin", "RECSYS_HOME": str(tmp_path), **env}
    done = subprocess.run([sys.executable, "-m", "recsys_assets.cli.main", *args], check=False, env=environ, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(message), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
