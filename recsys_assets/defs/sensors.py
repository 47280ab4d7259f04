"""Sensors: late-arriving logs, sampler version changes, check alerts, and automation.

- ``late_arrivals_sensor``: a day whose raw rows (the ``raw_logs`` inventory) no longer add
  up to what its clean partitions accounted for has received late data, and a day one of
  whose files was rewritten since (its size or modification time changed) may hold other
  rows; rebuild that day.
- ``sampler_change_sensor``: once the ranking negatives carry a new sampler version, train
  a model on them (the registry then shows the new version).
- ``check_alerts_sensor``: deliver every failed or warning check once (``alerts.py``).
- ``automation_sensor``: evaluates the declarative automation conditions.
"""

from __future__ import annotations

import dagster as dg

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.defs.alerts import Alert, deliver, webhook_url
from recsys_assets.defs.schedules import daily_job, train_job
from recsys_assets.policies.files import sampler_policy
from recsys_assets.warehouse.resource import WarehouseLockTimeout, WarehouseResource
from recsys_assets.warehouse.sql import query_dicts
from recsys_assets.warehouse.tables import missing_tables

SENSOR_LOCK_TIMEOUT = 20.0


def _not_built(con, *tables: str) -> dg.SkipReason | None:
    """A skip with its reason while the warehouse lacks what a sensor reads (a fresh home)."""
    missing = missing_tables(con, tables)
    if missing:
        return dg.SkipReason(f"nothing to watch yet: no {', '.join(missing)} table (run `recsys run` or "
                             "materialize the assets from the UI)")
    return None


@dg.sensor(job=daily_job, minimum_interval_seconds=600, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Rebuild the days whose logs received rows after their partitions were built.")
def late_arrivals_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    try:
        with warehouse.get_connection(SENSOR_LOCK_TIMEOUT) as con:
            if skip := _not_built(con, "raw_logs", "row_accounting"):
                return skip
            stale = query_dicts(con, "checks/stale_partitions")
    except WarehouseLockTimeout:
        return dg.SkipReason("warehouse busy; trying again next tick")
    if not stale:
        return dg.SkipReason("every built partition accounts for all of its raw rows")
    return [dg.RunRequest(partition_key=str(r["day"]), run_key=f"late-{r['day']}-{r['raw_rows']}-{r['inputs'][:12]}",
                          tags={"recsys/reason": "late_arrivals"}) for r in stale]


@dg.sensor(job=train_job, minimum_interval_seconds=600, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Retrain when the ranking negatives carry a sampler version no registered model was trained on.")
def sampler_change_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource, pipeline: PipelineConfig):
    version = sampler_policy(pipeline.ranking_sampler, "ranking").version
    try:
        with warehouse.get_connection(SENSOR_LOCK_TIMEOUT) as con:
            if skip := _not_built(con, "model_registry", "ranking_negatives"):
                return skip
            state = query_dicts(con, "checks/sampler_versions", {"sampler_version": version, "eval_days": pipeline.eval_days})
    except WarehouseLockTimeout:
        return dg.SkipReason("warehouse busy; trying again next tick")
    if not state or state[0]["latest_model_version"] is None:
        return dg.SkipReason("no model yet: the retrain schedule or `recsys run` trains the first one")
    s = state[0]
    if s["latest_model_version"] == version:
        return dg.SkipReason(f"the latest model already uses {version}")
    if s["training_rows_other_versions"]:
        return dg.SkipReason(f"waiting for ranking_negatives to be rebuilt with {version} "
                             f"({s['training_rows_other_versions']} rows of the training days still carry another version)")
    return dg.RunRequest(run_key=f"sampler-{version}", tags={"recsys/reason": "sampler_change", "recsys/sampler_version": version})


def _partition_of(instance: dg.DagsterInstance, record) -> str | None:
    """The partition a check evaluated: our checks run in the partition's run and read its
    ``dagster/partition`` tag (partitioned checks are not stable in Dagster 1.13)."""
    partition = record.partition or record.event.dagster_event.partition
    if partition is None:
        run = instance.get_run_by_id(record.run_id)
        partition = run.tags.get("dagster/partition") if run is not None else None
    return partition


def _alerts_since(instance: dg.DagsterInstance, check_keys, after_id: int) -> list[Alert]:
    alerts = []
    for key in check_keys:
        for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=500):
            # newest first; FAILED = the evaluation did not pass (either severity)
            if record.id <= after_id or record.event is None or record.status.value != "FAILED":
                continue
            evaluation = record.event.dagster_event.event_specific_data
            alerts.append(Alert(
                id=record.id, asset=key.asset_key.to_user_string(), check=key.name,
                partition=_partition_of(instance, record),
                severity=evaluation.severity.value, message=evaluation.description or "",
                metrics={k: v.value for k, v in evaluation.metadata.items() if isinstance(v.value, (int, float, str))},
                run_id=record.run_id, timestamp=record.create_timestamp,
            ))
    return sorted(alerts, key=lambda a: a.id)


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Deliver each failed or warning asset check once: a line in RECSYS_HOME/alerts.jsonl, and a POST "
           "to RECSYS_ALERT_WEBHOOK when set.")
def check_alerts_sensor(context: dg.SensorEvaluationContext):
    after = int(context.cursor or 0)
    alerts = _alerts_since(context.instance, context.repository_def.asset_graph.asset_check_keys, after)
    delivered = 0
    for alert in alerts:
        try:
            deliver(alert, load_settings().alerts_log, webhook_url())
        except Exception as exc:  # noqa: BLE001 - retry this alert and the ones after it next tick
            context.log.warning(f"could not deliver alert {alert.id}: {exc}")
            break
        after = alert.id
        delivered += 1
    context.update_cursor(str(after))
    return dg.SkipReason(f"delivered {delivered} alert(s)" if alerts else "no new failed checks")


automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)

sensors = [late_arrivals_sensor, sampler_change_sensor, check_alerts_sensor, automation_sensor]
