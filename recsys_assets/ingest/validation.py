"""`recsys validate`: check a logs directory against the contract without touching the warehouse.

File-level problems are listed with file, column and rule. When the files are readable,
the clean layer's own SQL runs over every day the logs cover, in a throw-away in-memory
DuckDB, and the report gives the row accounting per table and the quarantine reasons
with counts, the same figures the pipeline would produce.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.ingest.reader import Problem, inspect_logs
from recsys_assets.warehouse.sql import execute


@dataclass
class ValidationReport:
    problems: list[Problem]
    warnings: list[Problem]
    accounting: list[tuple] = field(default_factory=list)  # (table, outcome, rows)
    reasons: list[tuple] = field(default_factory=list)  # (table, reason, rows, example file)
    days: list[dt.date] = field(default_factory=list)

    @property
    def input_rows(self) -> int:
        return sum(r for _, _, r in self.accounting)

    @property
    def quarantined_rows(self) -> int:
        return sum(r for _, o, r in self.accounting if o == "quarantined")

    @property
    def quarantine_rate(self) -> float:
        return self.quarantined_rows / self.input_rows if self.input_rows else 0.0


def validate_logs(root: Path, pipeline: PipelineConfig | None = None) -> ValidationReport:
    """Check ``root`` against the contract; run the clean rules when the files are readable."""
    from recsys_assets.assets.direct import build_groups, connect
    from recsys_assets.assets.sources import build_raw_logs

    pipeline = pipeline or load_settings().pipeline
    con = connect()
    try:
        inventory = inspect_logs(con, root)
        report = ValidationReport(list(inventory.problems), list(inventory.warnings))
        if inventory.problems:
            return report
        # Every day present in the logs is in range: validation knows no partition window.
        settings = load_settings().model_copy(update={"logs": root, "start_date": dt.date(1970, 1, 1), "end_date": dt.date(9999, 1, 1)})
        build_raw_logs(con, settings)
        report.days = [r[0] for r in execute(con, "SELECT DISTINCT day FROM raw_logs WHERE day IS NOT NULL ORDER BY 1")]
        build_groups(con, root, report.days, pipeline, ["clean"])
        report.accounting = execute(
            con, "SELECT source_table, outcome, sum(rows) FROM row_accounting GROUP BY ALL ORDER BY 1, 2"
        )
        report.reasons = execute(
            con,
            "SELECT source_table, reason, count(*), min(source_file) FROM quarantine GROUP BY ALL ORDER BY 1, 3 DESC, 2",
        )
        return report
    finally:
        con.close()
