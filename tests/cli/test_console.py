"""What `recsys run` prints: by default a progress bar and a summary (stages, checks, rows, the
headline figure, what to look at next), with Dagster's event log kept in a file; `--verbose`
streams the event log to the console as well."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

#: a line of Dagster's console logger: "<time> - dagster - <LEVEL> - <job> - <run id> - ..."
DAGSTER_EVENT_LINE = re.compile(r" - dagster - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")
RECSYS = [sys.executable, "-m", "recsys_assets.cli.main"]


def _recsys(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECSYS_", "DAGSTER_"))}
    env |= {"RECSYS_HOME": str(home), "RECSYS_SIM_REQUESTS_PER_DAY": "300", "RECSYS_SIM_DAYS": "4",
            "RECSYS_END_DATE": "2026-01-09"}
    return subprocess.run([*RECSYS, *args], env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("console")


@pytest.fixture(scope="module")
def quiet_run(home) -> subprocess.CompletedProcess:
    return _recsys(home, "run")


def test_a_run_prints_a_progress_bar_and_a_summary_not_the_event_log(quiet_run, home):
    assert quiet_run.returncode == 0, quiet_run.stderr[-3000:]
    lines = (quiet_run.stdout + quiet_run.stderr).splitlines()
    assert len(lines) <= 60, "\n".join(lines)
    assert not [line for line in lines if DAGSTER_EVENT_LINE.search(line)]
    out = quiet_run.stdout
    assert re.search(r"^\d+/\d+ runs succeeded in [\d.]+ s over 4 daily partitions", out, re.MULTILINE)
    assert re.search(r"^checks: \d+ passed, \d+ warned, 0 failed$", out, re.MULTILINE)
    assert re.search(r"truth_ndcg@10 on the held-out days: model [\d.]+, naive [\d.]+", out)
    assert f"report   {home / 'reports' / 'latest.html'}" in out
    assert "recsys run [" in quiet_run.stderr and quiet_run.stderr.rstrip().endswith("done")
    # the event log is not lost: it is in the run's log file, which the summary names
    (log_file,) = (home / "logs").glob("run-*.log")
    assert f"run log  {log_file}" in out
    assert "STEP_SUCCESS" in log_file.read_text()


def test_verbose_streams_the_event_log_to_the_console(quiet_run, home):
    verbose = _recsys(home, "run", "--select", "raw_logs", "--verbose")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    events = [line for line in (verbose.stdout + verbose.stderr).splitlines() if DAGSTER_EVENT_LINE.search(line)]
    assert any("STEP_START" in line for line in events) and any("STEP_SUCCESS" in line for line in events)


def test_a_failed_run_names_what_failed_what_it_stopped_and_why(tmp_path):
    """Three days cannot hold a training, a validation and two held-out days: the model steps
    fail with that reason, the summary names them and the assets not run because of them, and
    no traceback reaches the console."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECSYS_", "DAGSTER_"))}
    env |= {"RECSYS_HOME": str(tmp_path), "RECSYS_SIM_REQUESTS_PER_DAY": "200", "RECSYS_SIM_DAYS": "3"}
    run = subprocess.run([*RECSYS, "run"], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 1
    out = " ".join(run.stdout.split())  # the summary wraps long lines
    assert re.search(r"FAILED: [a-z_, ]*\bposition_bias\b[a-z_, ]* \(so not run: [a-z_, ]*\bctr_ranker\b", out), out
    assert "need at least 4 days of labels (train, validation, 2 evaluation); found 3" in out
    assert "Traceback" not in run.stdout + run.stderr
