"""Dagster wiring: partitions, automation conditions, jobs and schedules, sensors, alert delivery."""
