"""The summary `recsys run` prints: what ran and how long by stage, the checks that did not
pass, the headline figures, what the warehouse holds, and where to look next."""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path

import duckdb

from recsys_assets.cli.runner import RunOutcome
from recsys_assets.config import Settings
from recsys_assets.retrieval.evaluation import VARIANTS
from recsys_assets.warehouse.sql import query_dicts
from recsys_assets.warehouse.tables import all_tables

HEADLINE = ("truth_ndcg@10", "ndcg@10", "auc")
#: how a headline figure is named when it is not the truth's
BIASED = {"ndcg@10": "click NDCG@10 (biased: it rewards reproducing the logged order)"}


def print_summary(settings: Settings, outcomes: list[RunOutcome], seconds: float, partition_keys: list[str],
                  log_path: Path | None = None) -> None:
    ok = sum(o.success for o in outcomes)
    span = f"{partition_keys[0]} .. {partition_keys[-1]}" if partition_keys else "-"
    print(f"\n{ok}/{len(outcomes)} runs succeeded in {seconds:.1f} s over {len(partition_keys)} daily partitions ({span})")
    print(f"logs: {settings.logs_dir}\nwarehouse: {settings.warehouse}")
    by_stage: dict[str, float] = defaultdict(float)
    for o in outcomes:
        by_stage["+".join(o.step.groups) or "-"] += o.seconds
    print(_wrap("time by stage: " + ", ".join(f"{g} {s:.1f} s" for g, s in by_stage.items())))
    for o in outcomes:
        if not o.success:
            failed = ", ".join(o.failed_steps) or o.step.label()
            skipped = f" (so not run: {', '.join(o.skipped_steps)})" if o.skipped_steps else ""
            print("\n" + _wrap(f"FAILED: {failed}{skipped}"))
            print(textwrap.indent(_clip(o.error, 12), "  "))
    checks = [(o.step.partition_key, c) for o in outcomes for c in o.failed_checks]
    errors = sum(c.severity == "ERROR" for _, c in checks)
    print(f"checks: {sum(o.checks_passed for o in outcomes)} passed, {len(checks) - errors} warned, {errors} failed")
    for partition, c in checks[:10]:
        print(_wrap(f"  {c.severity} {c.name} [{partition or 'all'}]: {c.message.splitlines()[0] if c.message else ''}"))
    if len(checks) > 10:
        print(f"  ... and {len(checks) - 10} more (the UI lists them all)")
    if settings.warehouse.exists():
        _print_warehouse(settings)
    print("\nnext:")
    report = settings.reports_dir / "latest.html"
    if report.exists():
        print(f"  report   {report}")
    print(f"  UI       DAGSTER_HOME={settings.dagster_home} dg dev   (then http://127.0.0.1:3000)")
    if log_path is not None:
        print(f"  run log  {log_path}   (`--verbose` streams it)")


def _print_warehouse(settings: Settings) -> None:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        existing = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        counts = [(t, con.table(t).aggregate("count(*)").fetchall()[0][0]) for t in all_tables() if t in existing]
        print(_wrap("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts)))
        if "ctr_ranker" in existing and "ranker_evaluation" in existing:
            model = [r["model_id"] for r in query_dicts(con, "model/model_registry/latest")]
            if model:
                for line in headline_lines(con, model[0]):
                    print(_wrap(line))
                for line in model_to_use(con, model[0]):
                    print(_wrap(line))
        if {"retrieval_model", "retrieval_evaluation", "model_registry"} <= existing:
            rows = query_dicts(con, "model/retrieval_evaluation/headline")
            values = {r["variant"]: r["value"] for r in rows if r["value"] is not None}
            if "model" in values:
                figures = ", ".join(f"{v} {values[v]:.4f}" for v in VARIANTS
                                    if v in values)
                verdict = rows[0]["promoted"]
                print(_wrap(f"retrieval model {rows[0]['model_id']}: Recall@100 over the full catalog: {figures}"
                            + ("" if verdict is None else "; promoted" if verdict
                               else f"; NOT promoted: {rows[0]['promotion_reason']}")))
    finally:
        con.close()


def headline_lines(con: duckdb.DuckDBPyConnection, model_id: str) -> list[str]:
    """The model's headline figures next to the baselines: truth NDCG@10 where the logs have the
    truth; else the estimate the registry judged by, then the first defined of click NDCG@10
    (labelled biased) and AUC. Undefined figures (NULL: no NDCG within one-item slates) are skipped."""
    rows = query_dicts(con, "model/ranker_evaluation/headline", {"model_id": model_id})
    values = {(r["variant"], r["metric"]): r["value"] for r in rows if r["value"] is not None}
    entry = query_dicts(con, "model/model_registry/entry", {"model_id": model_id})
    judge = entry[0]["judged_by"] if entry else None
    first = next((m for m in HEADLINE if ("model", m) in values), None)
    if first is None:
        return []
    metrics = [first] if first == "truth_ndcg@10" or ("model", judge) not in values else list(dict.fromkeys([judge, first]))
    lines = []
    for metric in metrics:
        figures = ", ".join(f"{v} {values[(v, metric)]:.4f}" for v in ("model", "naive", "logging", "ceiling")
                            if (v, metric) in values)
        lines.append(f"model {model_id}: {BIASED.get(metric, metric)} on the held-out days: {figures}")
    return lines


def model_to_use(con: duckdb.DuckDBPyConnection, model_id: str) -> list[str]:
    """Which model to serve: the new one when the registry promoted it, else that it is not
    promoted and why, and the earlier promoted model that stays in use (if any)."""
    columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'model_registry'").fetchall()}
    if "promoted" not in columns:  # no registry yet, or one from before promotion was recorded
        return []
    entry = query_dicts(con, "model/model_registry/entry", {"model_id": model_id})
    if not entry or entry[0]["promoted"] is None:
        return []
    if entry[0]["promoted"]:
        return [f"use model {model_id}: promoted ({entry[0]['promotion_reason']})"]
    lines = [f"model {model_id} is NOT promoted: {entry[0]['promotion_reason']}"]
    in_use = query_dicts(con, "model/model_registry/in_use")
    if in_use:
        lines.append(f"keep using model {in_use[0]['model_id']} (the last promoted one, registered "
                     f"{in_use[0]['registered_at']:%Y-%m-%d %H:%M})")
    else:
        lines.append("no earlier model is promoted: keep the ranker you serve today")
    return lines


def _wrap(line: str) -> str:
    return textwrap.fill(line, width=110, subsequent_indent="    ")


def _clip(text: str, lines: int) -> str:
    kept = text.strip().splitlines()
    return "\n".join(kept[:lines] + ([f"... ({len(kept) - lines} more lines in the run log)"] if len(kept) > lines else []))
