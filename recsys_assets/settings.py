"""Project settings read from the environment (documented in README, section "Configuration").

Every user-facing knob that is not per-run config lives here, so that the Dagster
definitions, the CLI and the tests agree on one source of truth.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = REPO_ROOT / "sql"
PACKAGED_POLICY_DIR = Path(__file__).resolve().parent / "policies"

# Simulator defaults that also define the default partition range.
DEFAULT_SIM_START = dt.date(2026, 1, 5)
DEFAULT_SIM_DAYS = 7


def _env_date(name: str) -> dt.date | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not a date in YYYY-MM-DD form") from exc


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from exc


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :func:`load_settings`."""

    home: Path
    logs: Path | None
    start_date: dt.date
    end_date: dt.date | None  # exclusive; None = up to today
    sim_days: int
    sim_requests_per_day: int
    sim_seed: int
    policy_dir: Path | None
    late_days: int
    duckdb_memory_limit: str
    duckdb_threads: int

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def simulated_logs(self) -> Path:
        return self.home / "simulated_logs"

    @property
    def logs_dir(self) -> Path:
        """Where the input contract is read from: RECSYS_LOGS or the simulator's output."""
        return self.logs if self.logs is not None else self.simulated_logs

    @property
    def uses_simulator(self) -> bool:
        return self.logs is None

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def alerts_log(self) -> Path:
        return self.home / "alerts.jsonl"

    @property
    def spill_dir(self) -> Path:
        return self.home / "spill"


def load_settings() -> Settings:
    home = Path(os.environ.get("RECSYS_HOME", "") or ".recsys").expanduser().resolve()
    logs_raw = os.environ.get("RECSYS_LOGS", "").strip()
    logs = Path(logs_raw).expanduser().resolve() if logs_raw else None
    sim_days = _env_int("RECSYS_SIM_DAYS", DEFAULT_SIM_DAYS)
    start = _env_date("RECSYS_START_DATE") or DEFAULT_SIM_START
    end = _env_date("RECSYS_END_DATE")
    if end is None and logs is None:
        end = start + dt.timedelta(days=sim_days)
    if end is not None and end <= start:
        raise ValueError(f"RECSYS_END_DATE {end} must be after RECSYS_START_DATE {start}")
    policy_raw = os.environ.get("RECSYS_POLICY_DIR", "").strip()
    return Settings(
        home=home,
        logs=logs,
        start_date=start,
        end_date=end,
        sim_days=sim_days,
        sim_requests_per_day=_env_int("RECSYS_SIM_REQUESTS_PER_DAY", 20_000),
        sim_seed=_env_int("RECSYS_SIM_SEED", 7),
        policy_dir=Path(policy_raw).expanduser().resolve() if policy_raw else None,
        late_days=_env_int("RECSYS_LATE_DAYS", 3),
        duckdb_memory_limit=os.environ.get("RECSYS_DUCKDB_MEMORY_LIMIT", "").strip() or "4GB",
        duckdb_threads=_env_int("RECSYS_DUCKDB_THREADS", 0),
    )
