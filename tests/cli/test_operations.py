"""Operating the pipeline: schedule ticks ask for the right partitions, automation follows a
rebuilt partition downstream, late data triggers a rebuild, a failed check becomes exactly
one alert, training reports progress, and a run killed in the middle of a partition write
leaves, after a re-run, exactly the data a clean run leaves."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from direct import build_negatives_and_metrics, build_through_labels, connect
from logbuilder import T0, at, minimal_logs, write_table
from scenarios import broken_retrieval_policy_run

from recsys_assets.assets.sources import build_raw_logs
from recsys_assets.config import PipelineConfig, SettingsError, load_settings
from recsys_assets.definitions import build_definitions
from recsys_assets.defs.schedules import retrain_cron
from recsys_assets.defs.sensors import check_alerts_sensor, late_arrivals_sensor
from recsys_assets.ranker.training import RankerConfig, TrainingSet, train
from recsys_assets.warehouse.resource import warehouse_from_settings
from recsys_assets.warehouse.tables import all_tables

UTC = dt.UTC
TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def defs() -> dg.Definitions:
    return build_definitions()


# ------------------------------------------------------------------ schedules


def test_the_daily_schedule_builds_yesterdays_partition(defs):
    schedule = defs.resolve_schedule_def("daily_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.DagsterInstance.ephemeral() as instance:
        for tick, expected in [(dt.datetime(2026, 1, 20, 2, 0, tzinfo=UTC), "2026-01-19"),
                               (dt.datetime(2026, 1, 2, 2, 0, tzinfo=UTC), "2026-01-01")]:
            context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                                repository_def=defs.get_repository_def())
            result = schedule.evaluate_tick(context)
            assert [r.partition_key for r in result.run_requests] == [expected]
    job_assets = {k.to_user_string() for k in defs.resolve_job_def("daily_job").asset_layer.selected_asset_keys}
    assert {"requests", "impressions", "events", "impression_context", "ctr_labels", "conversion_labels",
            "ranking_negatives", "retrieval_negatives", "sampler_metrics"} <= job_assets
    assert not job_assets & {"ctr_ranker", "raw_logs", "item_state"}


def test_ingest_and_retrain_schedules(defs, monkeypatch):
    with dg.DagsterInstance.ephemeral() as instance:
        repo = defs.get_repository_def()
        ingest = defs.resolve_schedule_def("ingest_schedule")
        retrain = defs.resolve_schedule_def("retrain_schedule")
        assert ingest.cron_schedule == "0 1 * * *" and retrain.cron_schedule == "0 4 * * 1"
        for schedule, job in [(ingest, "ingest_job"), (retrain, "train_job")]:
            tick = dg.build_schedule_context(instance=instance, repository_def=repo,
                                             scheduled_execution_time=dt.datetime(2026, 1, 19, 4, 0, tzinfo=UTC))
            (request,) = schedule.evaluate_tick(tick).run_requests
            assert schedule.job_name == job and request.partition_key is None
    monkeypatch.setenv("RECSYS_RETRAIN_CRON", "30 5 * * *")
    assert retrain_cron() == "30 5 * * *"
    monkeypatch.setenv("RECSYS_RETRAIN_CRON", "every tuesday")
    with pytest.raises(SettingsError, match="RECSYS_RETRAIN_CRON='every tuesday': is not a cron expression"):
        retrain_cron()


# ------------------------------------------------------------------ declarative automation


def _requested(result, defs) -> dict[str, set[str | None]]:
    return {k.to_user_string(): set(result.get_requested_partitions(k))
            for k in defs.resolve_all_asset_keys() if result.get_num_requested(k)}


def test_automation_follows_a_rebuilt_partition_downstream_within_the_late_window(defs):
    when = dt.datetime(2026, 2, 1, 6, 0, tzinfo=UTC)  # the range ends 2026-02-01: the 31st is the latest day
    with dg.DagsterInstance.ephemeral() as instance:
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when)
        assert quiet.total_requested == 0

        instance.report_runless_asset_event(dg.AssetMaterialization("impressions", partition="2026-01-30"))
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor, evaluation_time=when)
        requested = _requested(after, defs)
        # a day's context reads that day's and earlier days' impressions (history); a day's CTR
        # labels read the impressions of the day before and after too (clicks near midnight);
        # negatives and metrics follow the labels, day by day
        assert requested["impression_context"] == {"2026-01-30", "2026-01-31"}
        for asset in ("ctr_labels", "ranking_negatives", "retrieval_negatives", "sampler_metrics"):
            assert requested[asset] == {"2026-01-29", "2026-01-30", "2026-01-31"}, (asset, requested)
        assert "impressions" not in requested and "ctr_ranker" not in requested

        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor, evaluation_time=when)
        assert again.total_requested == 0  # handled once

        # events of the 31st reach the conversion labels of every click whose 7-day window
        # (plus a day for late tracking) covers the 31st, and the CTR labels around midnight
        instance.report_runless_asset_event(dg.AssetMaterialization("events", partition="2026-01-31"))
        events = _requested(dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=again.cursor,
                                                              evaluation_time=when), defs)
        assert events["conversion_labels"] == {f"2026-01-{d}" for d in range(23, 32)}
        assert events["ctr_labels"] == {"2026-01-30", "2026-01-31"}

        # a rebuild of a day long closed does not cascade
        instance.report_runless_asset_event(dg.AssetMaterialization("impressions", partition="2026-01-10"))
        old = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when,
                                                cursor=dg.evaluate_automation_conditions(
                                                    defs=defs, instance=instance, evaluation_time=when).cursor)
        assert old.total_requested == 0


# ------------------------------------------------------------------ late arrivals


def test_on_a_fresh_home_the_warehouse_sensors_skip_with_a_reason(home):
    from recsys_assets.defs.sensors import sampler_change_sensor

    settings = load_settings()
    resources = {"warehouse": warehouse_from_settings(settings), "pipeline": settings.pipeline}
    late = late_arrivals_sensor(dg.build_sensor_context(resources=resources))
    retrain = sampler_change_sensor(dg.build_sensor_context(resources=resources))
    assert isinstance(late, dg.SkipReason) and "no raw_logs, row_accounting table" in late.skip_message
    assert isinstance(retrain, dg.SkipReason) and "no model_registry, ranking_negatives table" in retrain.skip_message


def test_late_rows_in_the_logs_trigger_a_rebuild_of_their_day(home):
    logs = home / "logs"
    minimal_logs(logs)
    settings = load_settings()
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    days = [dt.date(2026, 1, 4), dt.date(2026, 1, 5), dt.date(2026, 1, 6)]
    con = connect(str(settings.warehouse))
    build_through_labels(con, logs, days)
    con.close()
    context = dg.build_sensor_context(resources={"warehouse": warehouse_from_settings(settings)})
    assert isinstance(late_arrivals_sensor(context), dg.SkipReason)

    # a late file: two clicks of the 5th land after the 5th was built
    write_table(logs, "events", [
        {"event_id": "late-1", "ts": at(2), "type": "click", "item_id": "i1", "user_id": "u1", "request_id": "r1"},
        {"event_id": "late-2", "ts": at(3), "type": "click", "item_id": "i2", "user_id": "u1", "request_id": "r1"},
    ], name="part-late.parquet")
    con = connect(str(settings.warehouse))
    build_raw_logs(con, settings)
    con.close()
    requests = late_arrivals_sensor(context)
    assert [(r.partition_key, r.tags["recsys/reason"]) for r in requests] == [(T0.date().isoformat(), "late_arrivals")]
    assert requests[0].run_key == late_arrivals_sensor(context)[0].run_key  # one request per arrival, not per tick


def test_a_day_file_rewritten_with_as_many_rows_triggers_a_rebuild_of_its_day(home):
    logs = home / "logs"
    minimal_logs(logs)
    settings = load_settings()
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = connect(str(settings.warehouse))
    build_through_labels(con, logs, [dt.date(2026, 1, 4), dt.date(2026, 1, 5), dt.date(2026, 1, 6)])
    con.close()
    context = dg.build_sensor_context(resources={"warehouse": warehouse_from_settings(settings)})
    assert isinstance(late_arrivals_sensor(context), dg.SkipReason)

    # the click now names another item: same file, same row count, other content
    write_table(logs, "events", [
        {"event_id": "e1", "ts": at(1), "type": "click", "item_id": "i2", "user_id": "u1", "request_id": "r1"},
    ])
    con = connect(str(settings.warehouse))
    build_raw_logs(con, settings)
    con.close()
    requests = late_arrivals_sensor(context)
    assert [(r.partition_key, r.tags["recsys/reason"]) for r in requests] == [(T0.date().isoformat(), "late_arrivals")]


# ------------------------------------------------------------------ retraining on a new sampler version


def test_a_new_sampler_version_triggers_a_retrain_once_the_training_days_carry_it(home):
    from recsys_assets.defs.sensors import sampler_change_sensor
    from recsys_assets.policies.files import sampler_policy

    logs = home / "logs"
    days = [T0.date() + dt.timedelta(days=i) for i in range(3)]
    requests = [{"request_id": f"r{i}", "ts": at(days=i), "user_id": "u1"} for i in range(3)]
    impressions = [{"request_id": f"r{i}", "item_id": item, "position": p}
                   for i in range(3) for p, item in ((1, "i2"), (2, "i1"))]
    events = [{"event_id": f"e{i}", "ts": at(1, days=i), "type": "click", "item_id": "i1", "user_id": "u1",
               "request_id": f"r{i}"} for i in range(3)]
    items = [{"item_id": i, "valid_from": at(days=-30), "category": "c1"} for i in ("i1", "i2")]
    minimal_logs(logs, requests=requests, impressions=impressions, events=events, items=items)
    settings = load_settings()
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = connect(str(settings.warehouse))
    build_through_labels(con, logs, days)
    build_negatives_and_metrics(con, logs, days)
    con.close()
    current = sampler_policy("ranking-default", "ranking").version
    context = dg.build_sensor_context(resources={"warehouse": warehouse_from_settings(settings),
                                                 "pipeline": PipelineConfig()})

    def register(version: str, minute: int) -> None:
        with connect(str(settings.warehouse)) as c:
            c.execute("INSERT INTO model_registry (model_id, registered_at, model_path, sampler_version, "
                      "sampler_policy_hash, weight_policy, training_partitions, eval_partitions, rows, positives, "
                      "data_fingerprint, position_handling, metrics, dagster_run_id) "
                      "VALUES (?, ?, 'm', ?, 'h', 'w', 'd', 'd', 1, 1, 'f', 'examination', '{}', 'run')",
                      [f"model-{minute}", dt.datetime(2026, 2, 1, 0, minute), version])

    assert "no model yet" in sampler_change_sensor(context).skip_message
    register(current, 1)
    assert "already uses" in sampler_change_sensor(context).skip_message
    register("ranking-default@0ld", 2)  # the latest model was trained on another version
    request = sampler_change_sensor(context)
    assert request.run_key == f"sampler-{current}" and request.tags["recsys/reason"] == "sampler_change"
    with connect(str(settings.warehouse)) as c:  # a training day still carries another version: wait for its rebuild
        c.execute("UPDATE ranking_negatives SET sampler_version = 'ranking-default@0ld' WHERE day = ?", [days[0]])
    assert "waiting for ranking_negatives to be rebuilt" in sampler_change_sensor(context).skip_message


# ------------------------------------------------------------------ alerts


class _Webhook:
    """A local HTTP endpoint that records POST bodies; answers `status`."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.status == 200:
                    hook.bodies.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_drift_failure_is_delivered_once_to_the_alert_log_and_the_webhook(home, monkeypatch, defs):
    result = broken_retrieval_policy_run(home, monkeypatch)
    failed = [e.asset_check_evaluation_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed]
    assert [f.check_name for f in failed] == ["retrieval_sampler_drift"]
    hook = _Webhook()
    monkeypatch.setenv("RECSYS_ALERT_WEBHOOK", hook.url)
    alert_log = load_settings().alerts_log
    try:
        instance = dg.DagsterInstance.get()
        tick = lambda cursor: check_alerts_sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(), cursor=cursor))

        hook.status = 503  # the endpoint is down: logged, not acknowledged, retried next tick
        first = tick(None)
        assert hook.bodies == [] and len(alert_log.read_text().splitlines()) == 1
        hook.status = 200
        second = tick(first.cursor)
        third = tick(second.cursor)
    finally:
        hook.close()
    (body,) = hook.bodies
    assert body["asset"] == "sampler_metrics" and body["check"] == "retrieval_sampler_drift"
    assert body["partition"] == "2026-01-08" and body["severity"] == "ERROR"
    assert "same_category share" in body["message"] and body["metrics"]["psi/source_share"] > 0.25
    (line,) = alert_log.read_text().splitlines()
    assert json.loads(line) == body
    assert third.cursor == second.cursor and int(second.cursor) > int(first.cursor or 0)


# ------------------------------------------------------------------ progress


def test_training_reports_progress_through_the_logger():
    rng = np.random.default_rng(0)
    n = 4000
    X = rng.normal(size=(n, 3))
    clicks = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    data = TrainingSet(X=X, label=clicks, weight=np.ones(n), position=np.tile(np.arange(1, 11), n // 10),
                       group=np.full(n // 10, 10), theta=np.ones(n))
    lines: list[str] = []
    train(RankerConfig(max_rounds=100, early_stopping_rounds=100, min_data_in_leaf=20), data, data, [], progress=lines.append)
    assert [line.split(",")[0] for line in lines] == [f"ranker: iteration {i}/100" for i in (25, 50, 75, 100)]
    assert all("validation examination_loglik -0." in line for line in lines)


# ------------------------------------------------------------------ crash safety

DAILY_LAYERS = "not (group:model or group:reports)"
CRASH_DAYS = [dt.date(2026, 1, 5), dt.date(2026, 1, 6), dt.date(2026, 1, 7)]


def _fingerprints(path: Path, tables: list[str]) -> dict[str, tuple]:
    con = connect(str(path))
    try:
        # table names come from the sql/<group>/<table>/schema.sql files (all_tables()), never from input
        return {t: con.execute(f"SELECT count(*), sum(hash({t})) FROM {t}").fetchone() for t in tables}
    finally:
        con.close()


def test_a_run_killed_mid_write_then_rerun_leaves_exactly_the_clean_data(home):
    from recsys_assets.simulator import SimulatorConfig, simulate

    logs = home / "logs"
    simulate(SimulatorConfig(days=len(CRASH_DAYS), requests_per_day=200, items=200, users=150, seed=3,
                             start=CRASH_DAYS[0]), logs)
    env = {**os.environ, "RECSYS_LOGS": str(logs), "RECSYS_START_DATE": CRASH_DAYS[0].isoformat(),
           "RECSYS_END_DATE": (CRASH_DAYS[-1] + dt.timedelta(days=1)).isoformat(),
           "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS / "support"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(TESTS / "support" / "crash_child.py"), "run", "--select", DAILY_LAYERS]
    victim = CRASH_DAYS[1].isoformat()

    crashed = subprocess.run(command, env={**env, "CRASH_AT": f"labels/ctr_labels/build@{victim}"}, capture_output=True, check=False,
                             text=True, timeout=600)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    warehouse = load_settings().warehouse
    (partial,) = _fingerprints(warehouse, ["ctr_labels"]).values()
    with connect(str(warehouse)) as con:
        days_written = con.execute("SELECT list(DISTINCT day ORDER BY day) FROM ctr_labels").fetchone()[0]
    assert days_written == [CRASH_DAYS[0]], "the killed transaction left rows behind"
    assert partial[0] > 0

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "freed the duckdb pool slot of run" in rerun.stderr  # the killed run's slot did not block the re-run

    # the reference: a clean build of the same logs in a fresh warehouse
    reference = home / "reference.duckdb"
    con = connect(str(reference))
    build_through_labels(con, logs, CRASH_DAYS)
    build_negatives_and_metrics(con, logs, CRASH_DAYS)
    con.close()
    built = [t for t in all_tables() if t not in NOT_BUILT_BY_DAILY_LAYERS]
    assert _fingerprints(warehouse, built) == _fingerprints(reference, built)


# raw_logs records where the files were found (the reference is built with other settings); the
# model tables are not part of the daily layers.
NOT_BUILT_BY_DAILY_LAYERS = {"raw_logs", "ctr_ranker", "ranker_evaluation", "model_registry", "position_bias"}


def test_warehouse_connections_spill_run_in_utc_and_hand_freed_memory_back(tmp_path):
    """Every connection (the Dagster resource's and the benchmark's) has the memory limit,
    no insertion-order preservation (so large writes stream and spill), UTC, and jemalloc's
    background threads (memory a finished query freed goes back to the OS, e.g. before the
    ranker trains on what the hand-off query returned)."""
    from recsys_assets.assets.direct import connect as build_connect
    from recsys_assets.warehouse.resource import WarehouseResource

    settings = ("memory_limit", "preserve_insertion_order", "allocator_background_threads", "TimeZone")
    query = "SELECT current_setting(?), current_setting(?), current_setting(?), current_setting(?)"
    with WarehouseResource(database=str(tmp_path / "w.duckdb"), memory_limit="1GB").get_connection() as con:
        limit, order, background, tz = con.execute(query, settings).fetchone()
    assert (limit, order, background, tz) == ("953.6 MiB", False, True, "UTC")  # 1 GB as DuckDB prints it
    con = build_connect(str(tmp_path / "b.duckdb"), memory_limit="1GB")
    assert con.execute(query, settings).fetchone()[1:] == (False, True, "UTC")
    con.close()


def test_a_simulation_run_covers_the_days_its_set_options_simulate(home, monkeypatch):
    """``recsys run --set days=3 --set start=...`` builds the three simulated days, not the
    configured number of days from the configured start; on a user's logs ``--set`` is a
    simulator option and leaves the range alone."""
    from recsys_assets.cli.main import build_parser, run_settings
    from recsys_assets.defs.partitions import daily_partitions

    for name in ("RECSYS_LOGS", "RECSYS_END_DATE", "RECSYS_START_DATE", "RECSYS_SIM_DAYS"):
        monkeypatch.delenv(name, raising=False)  # restored after the test: run_settings exports them
    args = build_parser().parse_args(["run", "--set", "days=3", "--set", "start=2026-02-01", "--set", "seed=3"])
    keys = daily_partitions(run_settings(args)).get_partition_keys()
    assert keys == ["2026-02-01", "2026-02-02", "2026-02-03"]

    for name in ("RECSYS_END_DATE", "RECSYS_START_DATE", "RECSYS_SIM_DAYS"):
        monkeypatch.delenv(name, raising=False)
    args = build_parser().parse_args(["run", "--start", "2026-01-05", "--end", "2026-01-09", "--logs",
                                      str(home / "logs"), "--set", "days=2"])
    keys = daily_partitions(run_settings(args)).get_partition_keys()
    assert keys == ["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08"]
