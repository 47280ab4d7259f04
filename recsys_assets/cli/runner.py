"""Materialize the whole asset graph over a partition range, in-process, in dependency order.

The graph mixes unpartitioned assets (the logs inventory, the catalog, the model) with
daily ones, and some daily assets read *later* days of their parents (a day's conversion
labels need the next seven days of events). The plan groups assets into stages: an asset
runs in a later stage than every parent it cannot share a run with (a parent of the other
kind, or a daily parent read at a later day). Each stage is one run for its unpartitioned
assets and one run per day for its daily assets, days in order. Every run is a normal
Dagster run on the instance (DAGSTER_HOME), so the UI shows them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

RUNNER_TAG = "recsys/runner"
PID_TAG = "recsys/pid"
HOST_TAG = "recsys/host"


@dataclass(frozen=True)
class Step:
    assets: tuple[dg.AssetKey, ...]
    partition_key: str | None
    groups: tuple[str, ...] = ()

    def label(self) -> str:
        names = ", ".join(k.to_user_string() for k in self.assets)
        return f"{names} [{self.partition_key}]" if self.partition_key else names


@dataclass(frozen=True)
class CheckOutcome:
    name: str  # asset:check
    severity: str  # ERROR or WARN
    message: str


@dataclass
class RunOutcome:
    step: Step
    success: bool
    seconds: float
    failed_checks: list[CheckOutcome] = field(default_factory=list)
    error: str = ""
    checks_passed: int = 0
    failed_steps: list[str] = field(default_factory=list)   # the assets whose step raised
    skipped_steps: list[str] = field(default_factory=list)  # not run: something upstream failed


def _needs_later_stage(graph, child: dg.AssetKey, parent: dg.AssetKey) -> bool:
    child_part = graph.get(child).partitions_def is not None
    parent_part = graph.get(parent).partitions_def is not None
    if child_part != parent_part:
        return True
    if not child_part:
        return False
    mapping = graph.get_partition_mapping(child, parent)
    return isinstance(mapping, dg.TimeWindowPartitionMapping) and mapping.end_offset > 0


def plan(defs: dg.Definitions, partition_keys: Sequence[str], selection: set[dg.AssetKey] | None = None) -> list[Step]:
    graph = defs.resolve_asset_graph()
    stage: dict[dg.AssetKey, int] = {}
    for key in graph.toposorted_asset_keys:
        parents = [p for p in graph.get(key).parent_keys if p in stage]
        stage[key] = max((stage[p] + int(_needs_later_stage(graph, key, p)) for p in parents), default=0)
    keys = [k for k in graph.toposorted_asset_keys if selection is None or k in selection]
    steps: list[Step] = []
    for s in sorted({stage[k] for k in keys}):
        members = [k for k in keys if stage[k] == s]
        unpartitioned = tuple(k for k in members if graph.get(k).partitions_def is None)
        partitioned = tuple(k for k in members if graph.get(k).partitions_def is not None)
        if unpartitioned:
            steps.append(Step(unpartitioned, None, _groups(graph, unpartitioned)))
        for pk in partition_keys if partitioned else []:
            steps.append(Step(partitioned, pk, _groups(graph, partitioned)))
    return steps


def _groups(graph, keys: Sequence[dg.AssetKey]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(graph.get(k).group_name for k in keys))


def execute(
    defs: dg.Definitions,
    steps: Sequence[Step],
    instance: dg.DagsterInstance,
    run_config: dict | None = None,
    on_step: Callable[[int, int, Step, RunOutcome | None], None] | None = None,
    stop_on_failure: bool = True,
    log_path: Path | None = None,
    verbose: bool = False,
) -> list[RunOutcome]:
    """Run the steps in order as in-process Dagster runs; stops at the first failed run.

    Dagster's event log of every run stays in the instance (the UI shows it) and is appended
    to ``log_path``; it reaches the console only with ``verbose``."""
    assets = list(defs.assets or [])
    checks = list(defs.asset_checks or [])
    resources = dict(defs.resources or {})
    outcomes: list[RunOutcome] = []
    for i, step in enumerate(steps):
        if on_step:
            on_step(i, len(steps), step, None)
        t0 = time.perf_counter()
        wanted_config = _config_for(step, run_config or {}) | {"loggers": {"console": {"config": {
            "log_level": "DEBUG" if verbose else "CRITICAL"}}}}
        result = dg.materialize(
            [*assets, *checks],
            selection=dg.AssetSelection.assets(*step.assets),
            partition_key=step.partition_key,
            instance=instance,
            resources=resources,
            run_config=wanted_config,
            raise_on_error=False,
            tags={RUNNER_TAG: "recsys run", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()},
        )
        evaluations = [ev.asset_check_evaluation_data for ev in result.all_events
                       if ev.event_type_value == "ASSET_CHECK_EVALUATION"]
        failed = [CheckOutcome(f"{e.asset_key.to_user_string()}:{e.check_name}", e.severity.value,
                               (e.description or "").strip()) for e in evaluations if not e.passed]
        if log_path is not None:
            append_event_log(instance, result.run_id, log_path)
        outcome = RunOutcome(step, result.success, time.perf_counter() - t0, failed, _error_text(result),
                             checks_passed=sum(e.passed for e in evaluations),
                             failed_steps=_step_keys(result, "STEP_FAILURE"),
                             skipped_steps=_not_run(step, result))
        outcomes.append(outcome)
        if on_step:
            on_step(i, len(steps), step, outcome)
        if not result.success and stop_on_failure:
            break
    return outcomes


def _config_for(step: Step, run_config: dict) -> dict:
    ops = {k: v for k, v in run_config.get("ops", {}).items() if dg.AssetKey(k) in step.assets}
    return {"ops": ops} if ops else {}


def append_event_log(instance: dg.DagsterInstance, run_id: str, path: Path) -> None:
    """Append a run's event log (Dagster's events and the assets' own log lines) to ``path``."""
    lines = []
    for entry in instance.all_logs(run_id):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.timestamp))
        event = entry.dagster_event.event_type_value if entry.dagster_event is not None else ""
        text = entry.message or (entry.dagster_event.message if entry.dagster_event is not None else "") or ""
        level = logging.getLevelName(entry.level) if isinstance(entry.level, int) else str(entry.level)
        lines.append(f"{when} {level:<7} {run_id[:8]} {entry.step_key or '-'} {event} {text}".rstrip())
    with path.open("a") as f:
        f.write("\n".join(lines) + "\n")


def _step_keys(result: dg.ExecuteInProcessResult, event_type: str) -> list[str]:
    """The steps (one per asset here) of the run that had an event of the type, in order."""
    return list(dict.fromkeys(e.step_key for e in result.all_events if e.event_type_value == event_type and e.step_key))


def _not_run(step: Step, result: dg.ExecuteInProcessResult) -> list[str]:
    """The step's assets neither materialized nor failed: not run because something upstream failed."""
    done = {e.asset_key.to_user_string() for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key is not None}
    failed = set(_step_keys(result, "STEP_FAILURE"))
    return [name for name in (k.to_user_string() for k in step.assets) if name not in done and name not in failed]


def _error_text(result: dg.ExecuteInProcessResult) -> str:
    texts = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error is not None:
                texts.append(error.message.strip())
                error = error.cause
    return "\n".join(texts)


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if stat.is_file():  # Linux: a zombie (state Z) has exited
        return stat.read_text().split(") ", 1)[-1][:1] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs of `recsys run` on this host whose process is gone (killed, crashed): mark them
    failed and free the concurrency-pool slots they still hold, so later runs do not wait
    forever for the duckdb pool. Returns the run ids reaped."""
    records = instance.get_run_records(dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED],
        tags={RUNNER_TAG: "recsys run"},
    ))
    reaped = []
    for record in records:
        run = record.dagster_run
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if run.tags.get(HOST_TAG) != socket.gethostname() or not pid or _alive(pid):
            continue
        instance.report_run_failed(run, f"the `recsys run` process {pid} that ran it is gone (killed or crashed)")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped
