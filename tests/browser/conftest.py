"""Fixtures of the browser tests: a real `dg dev` on a free loopback port and headless Chromium.

The server runs the project's own command from the virtualenv, with its own RECSYS_HOME and
DAGSTER_HOME in a temporary directory and a small simulation (2 days x 200 requests), so runs
launched from the UI take seconds. It runs in its own process group, which is always
terminated at the end (SIGTERM, then SIGKILL for whatever is left), even when a test fails.

Chromium is Debian's (/usr/bin/chromium, `make browser-deps`), driven by Playwright; no browser
is downloaded. Without it the tests skip, unless RECSYS_REQUIRE_BROWSER=1 (CI), where a
missing browser is a failure.

Everything playwright-related is imported lazily: this file is collected by every pytest run
(the default one only deselects the `browser` marker) and must not need the browser stack.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "tests" / "artifacts" / "browser"

# The simulation the server runs: small enough that every run launched from the UI is quick.
SERVER_SETTINGS = {"RECSYS_SIM_DAYS": "2", "RECSYS_SIM_REQUESTS_PER_DAY": "200"}

STARTUP_TIMEOUT_S = 180.0  # dg dev + loading the code location, on 2 busy cores
SHUTDOWN_GRACE_S = 30.0  # after SIGTERM, before SIGKILL
UI_TIMEOUT_MS = 60_000  # default wait of every Playwright action and assertion

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

# Paths of the screenshots taken in this session, listed at the end of the run.
SCREENSHOTS: list[Path] = []


def _browser_required() -> bool:
    return os.environ.get("RECSYS_REQUIRE_BROWSER", "").strip() not in ("", "0")


def require_browser_stack() -> None:
    """Skip (or fail, under RECSYS_REQUIRE_BROWSER=1) when Playwright or Chromium is missing."""
    problems = []
    if importlib.util.find_spec("playwright") is None:
        problems.append("the Python package `playwright` is not installed (`make setup` installs it)")
    if not CHROMIUM.is_file():
        problems.append(f"{CHROMIUM} is missing (`make browser-deps` installs Debian's chromium)")
    if not problems:
        return
    message = "cannot run the browser tests: " + "; ".join(problems)
    if _browser_required():
        pytest.fail(f"{message} (RECSYS_REQUIRE_BROWSER is set)", pytrace=False)
    pytest.skip(message)


# --------------------------------------------------------------------------- the dg dev server


@dataclass
class DagsterUI:
    """A running `dg dev`: its URL, the environment it runs with, and its log."""

    url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes]

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, timeout: float = 30
    ) -> dict[str, Any]:
        """POST a query to the webserver's GraphQL endpoint; returns ``data`` or raises on errors."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.load(response)
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def log_tail(self, lines: int = 150) -> str:
        """The last lines of dg dev's log, without its color codes."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(_ANSI_ESCAPE.sub("", line) for line in text.splitlines()[-lines:])


_WORKSPACE_QUERY = """
query BrowserTestWorkspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_env(home: Path, dagster_home: Path, venv_bin: Path) -> dict[str, str]:
    """The caller's environment without any RECSYS_*/DAGSTER_* setting, plus the server's own.

    Dropping them matters: tests/conftest.py pins RECSYS_START_DATE/END_DATE for the unit tests,
    and a developer's RECSYS_LOGS would replace the simulator.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECSYS_", "DAGSTER_"))}
    env |= SERVER_SETTINGS | {
        "RECSYS_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        # dg warns when the active virtualenv is not the project's; make it the project's.
        "VIRTUAL_ENV": str(venv_bin.parent),
        "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    return env


def _reset_interrupt_signals() -> None:
    """Runs in the child between fork and exec: default SIGINT/SIGTERM dispositions."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _child_setup() -> Callable[[], None] | None:
    # A shell that starts pytest in the background makes it ignore SIGINT, and an ignored
    # signal stays ignored across exec. Dagster maps SIGTERM onto its SIGINT handler, so dg dev
    # would then ignore SIGTERM too and only SIGKILL would stop it, without a clean shutdown.
    # Only that case needs a preexec_fn (which is unsafe with threads; none run at this point).
    return _reset_interrupt_signals if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else None


def _live_group_members(pgid: int) -> list[int]:
    """Processes of the group that are not zombies (orphans may never be reaped here)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def stop_process_group(process: subprocess.Popen[bytes], grace_s: float = SHUTDOWN_GRACE_S) -> None:
    """Terminate a process started with ``start_new_session=True`` and everything in its group."""
    pgid = process.pid  # a session leader's pid is its process group id
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _live_group_members(pgid):
        time.sleep(0.2)
    if _live_group_members(pgid):
        _signal_group(pgid, signal.SIGKILL)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass  # SIGKILL was sent; nothing more can be done from here


def _wait_until_ready(ui: DagsterUI, timeout_s: float) -> None:
    """Poll until the webserver answers and the code location is loaded; fail fast on errors."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while True:
        code = ui.process.poll()
        if code is not None:
            pytest.fail(
                f"dg dev exited with code {code} before the UI was ready:\n{ui.log_tail()}", pytrace=False
            )
        try:
            workspace = ui.graphql(_WORKSPACE_QUERY, timeout=5)["workspaceOrError"]
        except (OSError, RuntimeError, ValueError) as exc:  # not listening yet, or still starting up
            last = f"{type(exc).__name__}: {exc}"
        else:
            entries = workspace.get("locationEntries") or []
            errors = [
                f"{e['name']}: {e['locationOrLoadError']['message']}"
                for e in entries
                if (e.get("locationOrLoadError") or {}).get("__typename") == "PythonError"
            ]
            if errors:
                pytest.fail("the code location failed to load:\n" + "\n".join(errors), pytrace=False)
            if entries and all(
                e["loadStatus"] == "LOADED"
                and (e.get("locationOrLoadError") or {}).get("__typename") == "RepositoryLocation"
                for e in entries
            ):
                return
            last = f"workspace not loaded yet: {entries}"
        if time.monotonic() > deadline:
            pytest.fail(
                f"dg dev was not ready after {timeout_s:.0f}s ({last}):\n{ui.log_tail()}", pytrace=False
            )
        time.sleep(0.5)


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterUI]:
    """`dg dev` on a free loopback port with a fresh RECSYS_HOME and DAGSTER_HOME."""
    require_browser_stack()  # no point in starting a server for tests that will skip
    venv_bin = Path(sys.executable).parent  # `make test-browser` runs the venv's python
    dg = venv_bin / "dg"
    if not dg.exists():
        pytest.fail(
            f"{dg} not found: run the browser tests with the project's virtualenv (`make test-browser`)"
        )
    root = tmp_path_factory.mktemp("dagster_ui")
    dagster_home = root / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    port = _free_port()
    log_path = root / "dg-dev.log"
    env = _server_env(root / "recsys", dagster_home, venv_bin)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(dg), "dev", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole at the end
            preexec_fn=_child_setup(),  # noqa: PLW1509 (see _child_setup)
        )
    ui = DagsterUI(url=f"http://127.0.0.1:{port}", env=env, log_path=log_path, process=process)
    try:
        _wait_until_ready(ui, STARTUP_TIMEOUT_S)
        # Mark the "Join the Dagster community" dialog as seen; it would cover the page otherwise.
        ui.graphql("mutation BrowserTestNuxSeen { setNuxSeen }")
        yield ui
    finally:
        stop_process_group(process)
        print(f"\ndg dev log: {log_path}")


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser_context(
    dagster_ui: DagsterUI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """Headless Debian Chromium with a fresh profile, driven by Playwright."""
    require_browser_stack()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Iterator[Page]:
    page = browser_context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.set_default_navigation_timeout(UI_TIMEOUT_MS)
    yield page
    page.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """tests/artifacts/browser (gitignored), emptied of the previous session's screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture
def screenshot(artifacts_dir: Path) -> Callable[[Page, str], Path]:
    """``screenshot(page, step)`` saves the page to tests/artifacts/browser/<step>.png."""

    def take(page: Page, step: str) -> Path:
        path = artifacts_dir / f"{step}.png"
        page.screenshot(path=str(path), full_page=True)
        SCREENSHOTS.append(path)
        print(f"screenshot: {path}")
        return path

    return take


# --------------------------------------------------------------------------- the HTML report


def _fill_report_warehouse(con: Any) -> None:
    """A few rows in every table the report reads, shaped like a real run: skewed predictions
    (reliability bins over three decades), estimated and true examination curves, 30 days of
    sampler metrics (many date labels)."""
    import datetime as dt

    con.execute(
        "INSERT INTO ctr_ranker VALUES ('ctr-browser', TIMESTAMP '2026-01-31 10:00', '/m', 'examination', "
        "'all_shown', DATE '2026-01-01', DATE '2026-01-28', DATE '2026-01-29', 1000, 50, 100, 10, 'ranking@1', "
        "'ctr@1', 'fp', '{}')"
    )
    predicted = [0.0003, 0.0005, 0.0009, 0.0014, 0.0023, 0.0042, 0.0079, 0.017, 0.041, 0.17]
    evaluation = []
    for variant, drift in (("model", 1.0), ("naive", 1.4), ("logging", 1.2), ("ceiling", 0.9)):
        evaluation += [
            (variant, "rows", "all", 113_975.0),
            (variant, "ndcg@10", "all", 0.33 / drift),
            (variant, "truth_ndcg@10", "all", 0.72 / drift),
            (variant, "auc", "all", 0.9 / drift),
        ]
        if variant in ("model", "naive"):
            for b, p in enumerate(predicted, 1):
                observed = p * (drift if b % 2 else 1 / drift)
                evaluation += [
                    (variant, "reliability_predicted", f"reliability:{b}", p * drift**0.5),
                    (variant, "reliability_observed", f"reliability:{b}", observed),
                ]
    con.executemany("INSERT INTO ranker_evaluation (model_id, variant, metric, slice, value) "
                    "VALUES ('ctr-browser', ?, ?, ?, ?)", evaluation)
    for method, decay in (("exploration_ratio", 0.74), ("exploration_fit", 0.76), ("pbm_em", 0.8)):
        con.executemany(
            "INSERT INTO position_bias VALUES (?, ?, ?, NULL, NULL, ?, DATE '2026-01-01', DATE '2026-01-28', NULL, true)",
            [(method, p, decay ** (p - 1), method == "exploration_fit") for p in range(1, 31)],
        )
    con.execute(
        "CREATE VIEW truth_examination AS SELECT range::INTEGER AS position, "
        "0.75 ** (range - 1) AS examination FROM range(1, 31)"
    )
    con.execute(
        "INSERT INTO ctr_labels SELECT DATE '2026-01-02', 'r' || (i // 30), 'i' || i, 1 + i % 30, "
        "TIMESTAMP '2026-01-02 00:00', NULL, CASE WHEN hash(i) % 1000 < 300 * 0.75 ** (i % 30) THEN 1 ELSE 0 END, "
        "1.0, NULL, NULL, NULL, NULL, 0, false, NULL, 'ctr@1' FROM range(30000) t(i)"
    )
    metrics = []
    for d in range(30):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=d)
        for key, share in (
            ("below_last_click", 0.4),
            ("explicit_hide", 0.05),
            ("never_visible", 0.45),
            ("skip_above", 0.1),
        ):
            metrics.append((day, "ranking", "source_share", key, share))
        for key in ("exposed_no_click", "hard", "popularity", "same_category", "uniform"):
            metrics.append((day, "retrieval", "source_share", key, 0.2))
        metrics += [
            (day, "ranking", "negatives_per_positive", "", 20 + d % 3),
            (day, "retrieval", "negatives_per_positive", "", 8.0),
            (day, "ranking", "false_negative_estimate", "", 0.22),
            (day, "ranking", "zero_click_rate", "", 0.3 + 0.7 * 0.8**d),
            (day, "retrieval", "shortfall_rate", "", 0.01),
        ]
    con.executemany("INSERT INTO sampler_metrics VALUES (?, ?, 'v1', ?, ?, ?)", metrics)
    con.executemany(
        "INSERT INTO sampler_comparison VALUES ('cmp-1', TIMESTAMP '2026-01-31 11:00', ?, ?, NULL, ?, "
        "'truth_ndcg@10', 'truth_ndcg@10', ?, ?, ?, 'Recommended: **skip-above-only**.')",
        [
            ("skip-above-only", "skip-above-only@1", 1, 0.728, 0.723, 0.733),
            ("exposure-weighted-debiased", "exposure-weighted-debiased@1", 2, 0.647, 0.641, 0.652),
        ],
    )
    con.execute("INSERT INTO label_exclusions VALUES (DATE '2026-01-02', 'ctr', 'not_shown', 4016)")
    con.execute("INSERT INTO row_accounting VALUES (DATE '2026-01-02', 'impressions', 'clean', 30000, NULL)")


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report (``latest.html``) built by ``build_report`` from a small in-memory warehouse.

    The browser tests' own runs stop before a model exists, and a whole `recsys run` would take
    minutes; the report reads tables only, so a handful of rows in them gives every chart."""
    import duckdb

    from recsys_assets.report.html import build_report
    from recsys_assets.warehouse.tables import ensure_schema

    out_dir = tmp_path_factory.mktemp("reports")
    con = duckdb.connect(":memory:")
    try:
        ensure_schema(con)
        _fill_report_warehouse(con)
        model = {
            "model_id": "ctr-browser",
            "sampler_version": "ranking@1",
            "weight_policy": "ctr@1",
            "train_first_day": "2026-01-01",
            "train_last_day": "2026-01-28",
        }
        build_report(con, out_dir, model)
    finally:
        con.close()
    return out_dir / "latest.html"  # what the `report` asset writes next to report-<model_id>.html


# --------------------------------------------------------------------------- reporting


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, attach the end of dg dev's log and a screenshot of the page to the report."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        page = funcargs.get("page")
        if page is not None and not page.is_closed():
            from playwright.sync_api import Error as PlaywrightError

            path = ARTIFACTS / f"failure-{item.name}.png"
            try:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(path), full_page=True)
                SCREENSHOTS.append(path)
                report.sections.append(("page at failure", f"{page.url}\nscreenshot: {path}"))
            except (PlaywrightError, OSError) as exc:  # the browser may be the thing that broke
                report.sections.append(("page at failure", f"no screenshot: {exc}"))
        ui = funcargs.get("dagster_ui")
        if isinstance(ui, DagsterUI):
            report.sections.append((f"dg dev log, last lines ({ui.log_path})", ui.log_tail()))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS:
        terminalreporter.section("browser screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))
