"""The Dagster UI, driven in headless Chromium: the asset graph, and runs launched from it.

Run with `make test-browser` (pytest -m browser tests/browser). The server is a real `dg dev`
(see conftest.py) on a fresh instance with a small simulation; every run here is launched by
clicking through the UI, and every result is checked where a person would look for it. The
server's GraphQL endpoint is used only to wait for runs robustly and to explain failures.

The tests of this module share one server: the first only reads, the second launches runs
on an instance that has none before it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip (or fail, under RECSYS_REQUIRE_BROWSER=1) and say why
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from conftest import DagsterUI  # tests/browser/conftest.py
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.browser

RUN_TIMEOUT_S = 240.0  # one small run, queued behind the duckdb pool, on 2 cores
EXPECTED_REQUESTS_CHECKS = {"row_accounting_balances", "unique_keys"}

Screenshot = Callable[["Page", str], Path]


@dataclass(frozen=True)
class Project:
    """What the UI should show, read from the project's Definitions under the server's settings."""

    groups: list[str]
    first_partition: str
    checks: dict[str, list[str]]  # asset key (one part) -> its check names


@pytest.fixture(scope="module")
def project(dagster_ui: DagsterUI) -> Project:
    # Load the definitions with the server's RECSYS_* settings (not tests/conftest.py's), so
    # the partition range is the one the UI shows.
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("RECSYS_")]:
            mp.delenv(name)
        for name, value in dagster_ui.env.items():
            if name.startswith("RECSYS_") or name == "DAGSTER_HOME":
                mp.setenv(name, value)
        from recsys_assets.config import load_settings
        from recsys_assets.definitions import build_definitions
        from recsys_assets.defs.partitions import daily_partitions

        graph = build_definitions().resolve_asset_graph()
        first_partition = daily_partitions(load_settings()).get_first_partition_key()
    assert first_partition is not None, "the settings define no daily partition"
    groups = sorted({graph.get(key).group_name for key in graph.get_all_asset_keys()})
    checks: dict[str, list[str]] = {}
    for check_key in graph.asset_check_keys:
        checks.setdefault(check_key.asset_key.to_user_string(), []).append(check_key.name)
    return Project(
        groups=groups, first_partition=first_partition, checks={k: sorted(v) for k, v in checks.items()}
    )


# --------------------------------------------------------------------------- UI helpers


def open_asset(page: Page, ui: DagsterUI, asset: str) -> None:
    page.goto(f"{ui.url}/assets/{asset}")
    # The tabs and an enabled Materialize button appear once the asset's definition has loaded.
    expect(page.get_by_role("tab", name="Overview")).to_be_visible()
    expect(materialize_button(page)).to_be_enabled()


def materialize_button(page: Page) -> Locator:
    # "Materialize" for an unpartitioned asset, "Materialize…" (opens a dialog) for a partitioned
    # one. Its accessible name also carries the icon's label, so match the visible text.
    return page.get_by_role("button").filter(has_text=re.compile(r"^Materialize…?$"))


def launched_run_id(page: Page) -> str:
    """The run id from the "Launched run <id>" toast the UI shows after a launch."""
    toast = page.get_by_role("listitem").filter(has_text=re.compile(r"Launched run [0-9a-f]{8}"))
    expect(toast).to_be_visible()
    href = toast.get_by_role("link", name="View").get_attribute("href") or ""
    match = re.search(r"/runs/([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})$", href)
    assert match, f"the launch toast links to {href!r}, not to a run"
    run_id = match.group(1)
    expect(toast).to_contain_text(run_id[:8])
    return run_id


_RUN_STATUS = """
query BrowserTestRunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status tags { key value } }
    ... on PythonError { message }
  }
}
"""

_RUN_ERRORS = """
query BrowserTestRunErrors($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level stepKey }
        ... on ExecutionStepFailureEvent { error { ...Error } }
        ... on RunFailureEvent { pipelineFailureError: error { ...Error } }
      }
    }
  }
}

fragment Error on PythonError { message errorChain { error { message } } }
"""


def _run_errors(ui: DagsterUI, run_id: str) -> str:
    logs = ui.graphql(_RUN_ERRORS, {"runId": run_id})["logsForRun"]
    lines = []
    for event in logs.get("events", []):
        error = event.get("error") or event.get("pipelineFailureError")
        if event.get("level") == "ERROR" or error:
            # The step's error, then its causes (where the asset's own exception is).
            messages = (
                [error["message"], *(c["error"]["message"] for c in error["errorChain"])] if error else []
            )
            detail = "".join(f"\n    {m.strip()}" for m in messages)
            lines.append(
                f"  {event['__typename']} {event.get('stepKey') or ''}: {event.get('message')}{detail}"
            )
    return "\n".join(lines) or "  (no error events)"


def wait_for_run_success(ui: DagsterUI, run_id: str, timeout_s: float = RUN_TIMEOUT_S) -> dict[str, str]:
    """Poll the run until it ends; fail with its error events unless it succeeded. Returns its tags."""
    deadline = time.monotonic() + timeout_s
    status = "unknown"
    while time.monotonic() < deadline:
        run = ui.graphql(_RUN_STATUS, {"runId": run_id})["runOrError"]
        if run["__typename"] != "Run":
            pytest.fail(f"run {run_id}: {run['__typename']} {run.get('message', '')}", pytrace=False)
        status = run["status"]
        if status == "SUCCESS":
            return {t["key"]: t["value"] for t in run["tags"]}
        if status in ("FAILURE", "CANCELED"):
            pytest.fail(f"run {run_id} ended {status}:\n{_run_errors(ui, run_id)}", pytrace=False)
        time.sleep(1)
    pytest.fail(f"run {run_id} still {status} after {timeout_s:.0f}s", pytrace=False)


def check_run_page(page: Page, ui: DagsterUI, run_id: str, *expected_texts: str) -> None:
    """Open the run's page and check that the UI shows it succeeded (and the given texts)."""
    page.goto(f"{ui.url}/runs/{run_id}")
    expect(page.get_by_text(run_id[:8], exact=True).first).to_be_visible()
    expect(page.get_by_text("Success", exact=True)).to_be_visible()
    for text in expected_texts:
        expect(page.get_by_text(text).first).to_be_visible()


def materialize_unpartitioned(
    page: Page, ui: DagsterUI, asset: str, screenshot: Screenshot, step: str
) -> None:
    """Asset page -> Materialize, wait for the run, check the run page; screenshot of it."""
    open_asset(page, ui, asset)
    materialize_button(page).click()
    run_id = launched_run_id(page)
    tags = wait_for_run_success(ui, run_id)
    assert "dagster/partition" not in tags, f"{asset} is unpartitioned, but run {run_id} has tags {tags}"
    check_run_page(page, ui, run_id, asset)
    screenshot(page, step)


# --------------------------------------------------------------------------- tests


def test_asset_graph_shows_every_group(
    page: Page, dagster_ui: DagsterUI, project: Project, screenshot: Screenshot
) -> None:
    assert project.groups, "the Definitions have no asset"
    page.goto(f"{dagster_ui.url}/asset-groups")
    expect(page.get_by_text("Global asset lineage", exact=True)).to_be_visible()
    for group in project.groups:
        # With several groups the graph draws each one collapsed: a node titled with its name.
        node = page.locator("svg foreignObject.group").filter(has=page.get_by_text(group, exact=True))
        expect(node, f"group {group!r} in the asset graph").to_be_visible()
    screenshot(page, "01_asset_graph")


def test_materialize_from_the_ui(
    page: Page, dagster_ui: DagsterUI, project: Project, screenshot: Screenshot
) -> None:
    # raw_logs runs the simulator and inventories the logs; outages is the other input of requests.
    materialize_unpartitioned(page, dagster_ui, "raw_logs", screenshot, "02_raw_logs_run_succeeded")
    materialize_unpartitioned(page, dagster_ui, "outages", screenshot, "03_outages_run_succeeded")

    # One daily partition of requests: Materialize… -> partition dialog -> that partition only.
    partition = project.first_partition
    open_asset(page, dagster_ui, "requests")
    materialize_button(page).click()
    dialog = page.get_by_role("dialog").filter(has_text="Partition selection")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Custom", exact=True).click()
    field = dialog.get_by_placeholder(re.compile(r"^ex: "))
    field.fill(partition)
    field.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    screenshot(page, "04_requests_partition_dialog")
    dialog.get_by_role("button", name="Launch 1 run", exact=True).click()
    run_id = launched_run_id(page)
    tags = wait_for_run_success(dagster_ui, run_id)
    assert tags.get("dagster/partition") == partition, (
        f"run {run_id} has tags {tags}, not partition {partition}"
    )
    check_run_page(page, dagster_ui, run_id, f"partition: {partition}")
    screenshot(page, "05_requests_run_succeeded")

    # The asset's checks ran in that run (they are blocking): the Checks tab shows them passed.
    checks = project.checks.get("requests", [])
    assert EXPECTED_REQUESTS_CHECKS <= set(checks), f"requests has checks {checks}"
    open_asset(page, dagster_ui, "requests")
    page.get_by_role("tab", name="Checks").click()
    expect(page).to_have_url(re.compile(r"[?&]view=checks"))
    expect(page.get_by_text(f"Checks ({len(checks)})", exact=True)).to_be_visible()
    for name in checks:
        # A row of the check list: the check's name (a truncating box titled with it) and its
        # latest status.
        row = (
            page.locator("span").filter(has=page.get_by_title(name, exact=True)).filter(has_text="Succeeded")
        )
        expect(row, f"check {name!r} listed as succeeded").to_have_count(1)
    screenshot(page, "06_requests_checks")
    for name in checks:
        page.locator("span").filter(has=page.get_by_title(name, exact=True)).click()
        expect(page).to_have_url(re.compile(rf"[?&]checkDetail={re.escape(name)}(&|$)"))
        expect(page.get_by_text("Latest execution", exact=True)).to_be_visible()
        expect(page.get_by_text("Passed", exact=True)).to_be_visible()
        screenshot(page, f"07_requests_check_{name}")


# Charts of the report: model variants, reliability, sampler arms, CTR and examination by
# position, two negative mixes, sampler rates, negatives per positive.
REPORT_CHARTS = 9


def test_the_html_report_shows_its_charts_offline(
    page: Page, report_html: Path, screenshot: Screenshot
) -> None:
    # The report is one file with inline SVG charts: viewing it must fetch nothing.
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(report_html.as_uri())
    expect(page).to_have_title("recsys report")
    expect(page.get_by_role("heading", name="recsys-assets report")).to_be_visible()
    charts = page.locator("svg[role=img]")
    expect(charts).to_have_count(REPORT_CHARTS)
    for title in (
        "Reliability: observed vs predicted CTR",
        "Examination curve (relative to position 1)",
        "ranking negative mix by day",
        "Sampler rates by day",
    ):
        chart = page.get_by_role("img", name=title, exact=True)
        expect(chart).to_be_visible()
        # the title is drawn as text in the chart (svg.fonttype "none"), not as glyph outlines
        expect(chart.locator("text").filter(has_text=title)).to_have_count(1)
    expect(
        page.get_by_role("img", name="Reliability: observed vs predicted CTR")
        .locator("text")
        .filter(has_text="rows per bin")
    ).to_have_count(1)
    expect(
        page.get_by_role("img", name="Examination curve (relative to position 1)")
        .locator("text")
        .filter(has_text=re.compile(r"^truth$"))
    ).to_have_count(1)
    assert page.get_by_text("no data").count() == 0
    assert fetched == [report_html.as_uri()], f"the report fetched {fetched[1:]}"
    screenshot(page, "08_html_report")
