"""One settings object: every option of the project, stated once (name, type, default, meaning).

Each field of :class:`Settings` and of its ``pipeline`` part (:class:`PipelineConfig`, the
``pipeline`` resource the assets take) is set by the environment variable ``RECSYS_`` + its
name in capitals (``history_days`` -> ``RECSYS_HISTORY_DAYS``). :func:`load_settings` is the
only place that reads them; a bad value is a :class:`SettingsError` whose one-line message
names the variable. README's configuration table is :func:`settings_table` (a test keeps the
two equal).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "RECSYS_"
#: the simulator's first day, also the default first partition
DEFAULT_SIM_START = dt.date(2026, 1, 5)
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-]+$")
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


class SettingsError(ValueError):
    """A setting with a value that cannot be used; the message names the environment variable."""


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


class PipelineConfig(dg.ConfigurableResource):
    """Tunables of the clean, label, negative and model layers (the ``pipeline`` resource)."""

    skew_tolerance_seconds: int = Field(
        default=120, ge=0, description="an attributed event logged up to this long before its request is clock skew")
    bot_max_requests_per_day: int = Field(
        default=500, ge=1, description="a `user` with more requests in a day is classified as a detected bot")
    attribution_days: int = Field(default=30, ge=1, description="how far back an event's request is looked up")
    click_window_minutes: int = Field(default=30, ge=1, description="a click counts if within this long after the request")
    conversion_window_days: int = Field(default=7, ge=1, description="purchase window after a click")
    return_window_days: int = Field(default=30, ge=1, description="return window after a purchase")
    history_days: int = Field(default=28, ge=1, description="look-back of user and query history features")
    popularity_days: int = Field(default=7, ge=1, description="look-back of item popularity and repeated exposure")
    policy_dir: str = Field(
        default="", description="extra policy files: `weights/*.yaml`, `samplers/*.yaml`, `comparison/*.yaml` "
        "(same name overrides a packaged one); empty = the packaged policies only")
    weight_policy: str = Field(default="ctr-default", description="CTR weight policy")
    ranking_sampler: str = Field(default="ranking-default", description="ranking sampler policy")
    retrieval_sampler: str = Field(default="retrieval-default", description="retrieval sampler policy")
    eval_days: int = Field(default=2, ge=1, description="the last days held out for model evaluation")
    exploration_design: str = Field(
        default="auto", pattern=r"^(auto|shuffle|adjacent_swap|topk_shuffle(:[1-9][0-9]*)?)$",
        description="how exploration requests were randomized: `auto` (read from their propensities), `shuffle`, "
        "`topk_shuffle:K`, `adjacent_swap`")
    ranker_position_handling: str = Field(
        default="examination", description="`examination`, `lambdarank_position`, `ipw`, `none`, `lambdarank` "
        "(README, \"The ranker\")")
    ranker_use_weights: bool = Field(
        default=False, description="train on the label weights (measured worse with `examination`: the loss already "
        "discounts low positions)")
    ranker_threads: int = Field(
        default=0, ge=0, description="cores for the LightGBM fits; 0 = all (up to 8). Independent fits (baselines, comparison arms) run side by side, as many as cores")
    ranker_learning_rate: float = Field(default=0.1, gt=0, description="LightGBM learning rate")
    ranker_num_leaves: int = Field(default=7, ge=2, description="LightGBM leaves per tree")
    ranker_max_rounds: int = Field(
        default=1500, ge=1, description="LightGBM rounds at most (early stopping after 50 without improvement)")
    ranker_refit: bool = Field(
        default=False, description="after early stopping, fit again on the training days + the validation day for "
        "the rounds found (the evaluation days stay unseen)")
    ranker_exclude_features: str = Field(
        default="brand", description="comma list of features every model leaves out; empty = all features "
        "(`brand`, hundreds of values, overfits click labels)")
    compare_arms: str = Field(default="", description="comma list of comparison arms to run; empty = every arm")
    compare_head_share: float = Field(
        default=0.8, gt=0, lt=1, description="the head items take this share of training clicks; the rest is the tail")
    compare_max_train_requests: int = Field(
        default=30_000, ge=0, description="training requests per comparison (a seeded sample, the same for every "
        "arm; 0 = all)")
    retrieval_dim: int = Field(default=32, ge=2, le=512, description="embedding size of the two-tower retrieval model")
    retrieval_epochs: int = Field(
        default=20, ge=1, description="retrieval training epochs at most (early stopping after 2 without a better "
        "validation Recall@100)")
    retrieval_in_batch: bool = Field(
        default=True, description="the batch's other clicks as extra negatives of the retrieval model, next to its "
        "pool (logQ by click share): the full softmax's recall where the pool alone fell short on large catalogs")
    retrieval_full_softmax_max_items: int = Field(
        default=50_000, ge=0, description="the retrieval evaluation's full-softmax control is trained up to this "
        "catalog size (0 = never)")
    retrieval_compare_arms: str = Field(
        default="", description="comma list of retrieval sampler policies the retrieval comparison trains; empty = "
        "every retrieval policy")

    @property
    def policy_path(self) -> Path | None:
        return Path(self.policy_dir).expanduser().resolve() if self.policy_dir else None


class Settings(BaseModel):
    """The project's configuration, built once (:func:`load_settings`) and handed to the
    definitions, resources, partitions and the CLI."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, validate_default=True)

    home: Path = Field(
        default=Path(".recsys"), description="warehouse (`warehouse.duckdb`), simulated logs, models, reports, "
        "run logs, alert log")
    logs: Path | None = Field(default=None, description="a logs directory in the input contract; unset = simulator")
    start_date: dt.date = Field(default=DEFAULT_SIM_START, description="first daily partition")
    end_date: dt.date | None = Field(
        default=None, description="day after the last partition; unset = start + `sim_days` with the simulator, "
        "open (up to today) with user logs")
    sim_days: int = Field(default=7, ge=1, description="simulated days")
    sim_requests_per_day: int = Field(default=20_000, ge=1, description="simulated requests per day")
    sim_seed: int = Field(default=7, description="simulator seed")
    late_days: int = Field(
        default=3, ge=0, description="late events are expected within this many days: automation follows a rebuilt "
        "day's dependents over this many days + 2 (+ the label window for conversion and return)")
    duckdb_memory_limit: str = Field(
        default="4GB", description="DuckDB memory limit (spills to `RECSYS_HOME/spill`)")
    duckdb_threads: int = Field(default=0, ge=0, description="DuckDB threads; 0 = all cores")
    retrain_cron: str = Field(default="0 4 * * 1", description="cron (UTC) of the retrain schedule")
    alert_webhook: str = Field(default="", description="URL that receives a JSON POST per failed or warning check")
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig, description="the pipeline's tunables")

    @field_validator("home", "logs")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError("is not a memory size such as 4GB or 3.4GB")
        return value.strip()

    @field_validator("retrain_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError("is not a cron expression (five fields, e.g. '0 4 * * 1')")
        return value

    @model_validator(mode="before")
    @classmethod
    def _simulator_end(cls, data: Any) -> Any:
        """With the simulator and no end date, the range ends after the simulated days."""
        if isinstance(data, dict) and not data.get("end_date") and not data.get("logs"):
            try:
                start = dt.date.fromisoformat(str(data.get("start_date") or DEFAULT_SIM_START))
                days = int(data.get("sim_days") or cls.model_fields["sim_days"].default)
            except ValueError:
                return data  # the field validators name the bad value
            data = {**data, "end_date": start + dt.timedelta(days=days)}
        return data

    @model_validator(mode="after")
    def _range(self) -> Settings:
        if self.end_date is not None and self.end_date <= self.start_date:
            raise ValueError(f"RECSYS_END_DATE {self.end_date} must be after RECSYS_START_DATE {self.start_date}")
        return self

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

    @property
    def run_logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def _fields() -> Iterator[tuple[type[BaseModel], str, Any]]:
    for model in (Settings, PipelineConfig):
        for name, info in model.model_fields.items():
            if name != "pipeline":
                yield model, name, info


def _first_error(exc: ValidationError, raw: Mapping[str, str]) -> str:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err.get("loc") else ""
    message = str(err["msg"]).removeprefix("Value error, ")
    if not field:
        return message
    value = raw.get(field)
    shown = f"={value!r}" if value is not None else ""
    return f"{env_name(field)}{shown}: {message}"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings from the environment (``RECSYS_*``), then ``overrides`` (field name -> value,
    e.g. the CLI's ``--start``); raises :class:`SettingsError` naming the variable."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for _model, name, _info in _fields():
        value = env.get(env_name(name), "").strip()
        if value:
            raw[name] = value
    values: dict[str, dict[str, Any]] = {"settings": {}, "pipeline": {}}
    for model, name, _info in _fields():
        if name in raw or name in overrides:
            target = "pipeline" if model is PipelineConfig else "settings"
            values[target][name] = overrides.get(name, raw.get(name))
    try:
        pipeline = PipelineConfig(**values["pipeline"])
    except ValidationError as exc:
        raise SettingsError(_first_error(exc, raw)) from None
    except Exception as exc:  # noqa: BLE001 - Dagster wraps pydantic's error in its own
        raise SettingsError(_dagster_config_error(exc, raw)) from None
    try:
        return Settings(**values["settings"], pipeline=pipeline)
    except ValidationError as exc:
        raise SettingsError(_first_error(exc, raw)) from None


def _dagster_config_error(exc: Exception, raw: Mapping[str, str]) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ValidationError):
        return _first_error(cause, raw)
    return str(exc).splitlines()[0]


def settings_table() -> str:
    """README's configuration table, generated from the fields (one row per variable)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for _model, name, info in _fields():
        default = info.default
        if default in (None, ""):
            shown = "unset"
        elif isinstance(default, bool):
            shown = str(default).lower()
        else:
            shown = f"`{default}`"
        lines.append(f"| `{env_name(name)}` | {shown} | {info.description} |")
    return "\n".join(lines)


def export_settings(**values: Any) -> Settings:
    """Set options for this process (the CLI's ``--logs``, ``--start`` ...) where the Dagster
    definitions will read them, after checking them; returns the settings that now hold."""
    for name, value in values.items():
        if value is not None:
            os.environ[env_name(name)] = str(value)
    return load_settings()


def settings_values(settings: Settings) -> list[tuple[str, Any]]:
    """(variable, current value) for every option."""
    return [(env_name(name), getattr(settings.pipeline if model is PipelineConfig else settings, name))
            for model, name, _info in _fields()]
