"""Jobs and schedules: ingest the logs, refresh yesterday's partitions, retrain weekly.

- ``ingest_job`` (01:00 UTC daily): the logs inventory and the unpartitioned catalog tables.
- ``daily_job`` (02:00 UTC daily, for yesterday's partition): every daily asset, clean to
  sampler metrics. Late events and open label windows are handled by the late-arrival
  sensor and by declarative automation (``automation.py``), not by re-running old days
  blindly.
- ``train_job`` (``RECSYS_RETRAIN_CRON``, default Mondays 04:00 UTC): position bias,
  ranker, evaluation, registry, report. A sampler version change also triggers it
  (``sensors.py``).
All start RUNNING so ``dg dev`` does real work.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from recsys_assets.config import load_settings
from recsys_assets.defs.partitions import daily_partitions


def retrain_cron() -> str:
    """``RECSYS_RETRAIN_CRON`` (five cron fields, UTC), default Mondays 04:00."""
    return load_settings().retrain_cron


INGEST_ASSETS = ("raw_logs", "outages", "users", "items", "item_state")
TRAIN_ASSETS = ("position_bias", "ctr_ranker", "ranker_evaluation", "retrieval_model", "retrieval_evaluation", "model_registry",
                "sampler_comparison", "retrieval_comparison", "report")

ingest_job = dg.define_asset_job(
    "ingest_job", selection=dg.AssetSelection.assets(*INGEST_ASSETS),
    description="Check the logs against the contract, inventory them, rebuild the catalog tables.",
)
daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*INGEST_ASSETS, *TRAIN_ASSETS, "multitask_labels"),
    description="One day: clean, snapshots, labels, negatives, sampler metrics, with their checks.",
)
train_job = dg.define_asset_job(
    "train_job", selection=dg.AssetSelection.assets(*TRAIN_ASSETS),
    description="Estimate position bias, train and evaluate the ranker and the retrieval model, register them, compare "
    "the samplers, write the report.",
)

ingest_schedule = dg.ScheduleDefinition(
    name="ingest_schedule", job=ingest_job, cron_schedule="0 1 * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.schedule(job=daily_job, cron_schedule="0 2 * * *", execution_timezone="UTC", name="daily_schedule",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Every day at 02:00 UTC, build yesterday's partition of every daily asset.")
def daily_schedule(context: dg.ScheduleEvaluationContext):
    yesterday = (context.scheduled_execution_time - dt.timedelta(days=1)).date().isoformat()
    if yesterday not in daily_partitions().get_partition_keys(current_time=context.scheduled_execution_time):
        return dg.SkipReason(f"{yesterday} is outside the partition range (RECSYS_START_DATE .. RECSYS_END_DATE)")
    return dg.RunRequest(partition_key=yesterday, run_key=f"daily-{yesterday}")


retrain_schedule = dg.ScheduleDefinition(
    name="retrain_schedule", job=train_job,
    cron_schedule=retrain_cron(), execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

jobs = [ingest_job, daily_job, train_job]
schedules = [ingest_schedule, daily_schedule, retrain_schedule]
