"""Entry point: simulate a window of logs and write them in the input contract.

The manifest (``truth/manifest.json``, written last) records the configuration, the window,
the rows written per table, every piece of injected dirt and, under ``model``, the facts of
the behaviour model: ``attractiveness_intercept`` (``b0``), ``relevance`` (the utility's
weights ``quality``, ``preference``, ``intent``, ``price``, the utility noise ``noise_sd`` and
``categories``, the category codes in the order of the preference vectors; see ``serving``),
the logging policies and the click model. The ground-truth tables are described in ``tables``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .arrays import digits_for
from .config import OUTAGE_START_HOUR, SimulatorConfig, per_position
from .day import DayRunner
from .dirt import OUTAGE_EVENT_TYPES, Window
from .ledger import Ledger
from .lifecycle import VERSION_KINDS
from .serving import RANKER_NOISE, RELEVANCE_WEIGHTS, TARGET_MEAN_ATTRACTIVENESS, policy_labels
from .tables import (
    empirical_examination_table,
    examination_table,
    items_table,
    outages_table,
    truth_items_table,
    truth_users_table,
    users_table,
)
from .timebase import US_PER_DAY, US_PER_HOUR, date_to_us, us_to_datetime
from .vocabulary import EVENT_TYPES, UNLABELED_BOT
from .world import World, build_world
from .writer import ParquetSink, publish

FORMAT_VERSION = 1


@dataclass(frozen=True)
class SimulationSummary:
    """What one :func:`simulate` call wrote."""

    output: Path
    rows: dict[str, int]
    """Rows written per table (``truth/...`` for ground-truth tables), dirt included."""
    seconds: float
    impressions_per_second: float
    """Impression rows written per wall-clock second of the whole call."""


def simulate(
    config: SimulatorConfig, out: Path, progress: Callable[[str, float], None] | None = None
) -> SimulationSummary:
    """Simulate ``config.days`` days of logs into ``out`` (replacing the tables already there).

    ``progress(stage, fraction)`` is called a few times per day with the overall fraction done.
    Files are written to ``out/.tmp-<pid>`` and moved into place at the end, and
    ``out/truth/manifest.json`` is written last.
    """
    started = time.perf_counter()
    report = progress or (lambda stage, fraction: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        report("world", 0.0)
        world_seed, days_seed = np.random.SeedSequence(config.seed).spawn(2)
        world = build_world(config, world_seed)
        window = _window(config)
        ledger = Ledger()
        sink = ParquetSink(staging)
        try:
            _queue_static(sink, world, window)
            runner = DayRunner(config, world, window, sink, ledger, _id_digits(config), report)
            for day, seed in enumerate(days_seed.spawn(config.days)):
                runner.run(day, seed)
            sink.write("truth/examination", "truth/examination.parquet", lambda: _examination(config, runner))
            report("writing", 1.0)
        finally:
            rows = sink.close()
        intercept = runner.intercept
        _record_world(ledger, world)
        manifest = _manifest(config, window, ledger, rows, intercept, world.category_codes.to_pylist())
        publish(staging, out, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    seconds = time.perf_counter() - started
    report("done", 1.0)
    return SimulationSummary(
        output=out,
        rows=rows,
        seconds=seconds,
        impressions_per_second=rows.get("impressions", 0) / seconds if seconds > 0 else 0.0,
    )


def _examination(config: SimulatorConfig, runner: DayRunner) -> pa.Table:
    """The marginal examination curve the setting implies.

    ``pbm`` and ``trust_bias``: exact, ``P(depth >= k) k ** -position_bias`` over the scroll
    depths of people. ``cascade`` and ``dcm``: examination depends on the clicks above, so
    the share of people's impressions at each position that were examined (latent draws).
    """
    if config.click_model in ("cascade", "dcm"):
        return empirical_examination_table(runner.examined_counts, runner.shown_counts)
    return examination_table(config.position_bias, runner.depth_counts, config.slate_size)


def _window(config: SimulatorConfig) -> Window:
    start = date_to_us(config.start)
    outage_start = start + config.outage_day * US_PER_DAY + OUTAGE_START_HOUR * US_PER_HOUR
    return Window(
        start_us=start,
        end_us=start + config.days * US_PER_DAY,
        outage_start_us=outage_start,
        outage_end_us=outage_start + round(config.outage_hours * US_PER_HOUR),
    )


def _id_digits(config: SimulatorConfig) -> dict[str, int]:
    """Id widths large enough for every id the run can hand out."""
    requests = config.days * (2 * config.requests_per_day + 2_000 * config.unlabeled_bot_users + 100)
    return {
        "request": digits_for(requests, 9),
        "session": digits_for(requests, 9),
        "event": digits_for(requests * (2 * config.slate_size + 50), 12),
    }


def _queue_static(sink: ParquetSink, world: World, window: Window) -> None:
    outage_types = [EVENT_TYPES[code] for code in OUTAGE_EVENT_TYPES]
    sink.write("items", "items/items.parquet", lambda: items_table(world))
    sink.write("users", "users/users.parquet", lambda: users_table(world))
    sink.write(
        "outages",
        "outages/outages.parquet",
        lambda: outages_table(window.outage_start_us, window.outage_end_us, outage_types),
    )
    sink.write("truth/items", "truth/items.parquet", lambda: truth_items_table(world))
    sink.write("truth/users", "truth/users.parquet", lambda: truth_users_table(world))


def _record_world(ledger: Ledger, world: World) -> None:
    """Facts about the catalog, the item lifecycle and the special accounts."""
    timeline, catalog = world.timeline, world.catalog
    for code, kind in enumerate(VERSION_KINDS[1:], start=1):
        ledger.add("dirt", "item_versions", kind, count=int(np.count_nonzero(timeline.kind == code)))
    corrected = timeline.recorded_us > timeline.valid_from_us
    ledger.add("dirt", "item_versions", "back_dated_corrections", count=int(corrected.sum()))
    ledger.set(
        "dirt", "banned_brands", value=[world.brand_ids[int(b)].as_py() for b in timeline.banned_brands]
    )
    grouped = catalog.dedup_group >= 0
    ledger.set("dirt", "catalog", "dedup_groups", value=len(np.unique(catalog.dedup_group[grouped])))
    ledger.set("dirt", "catalog", "dedup_items", value=int(grouped.sum()))
    ledger.set("dirt", "catalog", "region_restricted_items", value=int(np.count_nonzero(catalog.region_mask)))
    ledger.set("dirt", "catalog", "age_restricted_items", value=int(catalog.age_restricted.sum()))
    bots = world.population.accounts(UNLABELED_BOT)
    ledger.set("dirt", "unlabeled_bots", "user_ids", value=[world.user_ids[int(u)].as_py() for u in bots])


def _behaviour(config: SimulatorConfig) -> dict[str, Any]:
    """The logging policies and click model, per position where they vary by position."""
    slots = config.slate_size
    labels = policy_labels(config)
    qualities = config.policy_values(config.logging_qualities, config.logging_quality)
    noises = config.policy_values(config.logging_noises, RANKER_NOISE)
    policies = config.logging_policies
    rankers = {
        labels[0 if code == 0 else code + 1]: {
            "bucket": code % policies,
            "version": code // policies,
            "quality": qualities[code % policies],
            "noise": noises[code % policies],
        }
        for code in range(policies * config.ranker_versions)
    }
    facts: dict[str, Any] = {
        "logging_policies": rankers,
        "exploration_policy": labels[1],
        "exploration_design": config.exploration_design,
        "logger": config.logger,
        "click_model": config.click_model,
    }
    if config.click_model == "dcm":
        facts["dcm_continuation"] = list(per_position(config.dcm_continuation, slots))
    if config.click_model == "trust_bias":
        facts["trust_eps_plus"] = list(per_position(config.trust_eps_plus, slots))
        facts["trust_eps_minus"] = list(per_position(config.trust_eps_minus, slots))
    return facts


def _manifest(
    config: SimulatorConfig,
    window: Window,
    ledger: Ledger,
    rows: dict[str, int],
    intercept: float | None,
    categories: list[str],
) -> dict[str, Any]:
    facts = ledger.as_dict()
    dirt = facts.get("dirt", {})
    enabled = window.outage_end_us > window.outage_start_us
    dirt["outage"] = {
        "start": us_to_datetime(window.outage_start_us).isoformat() if enabled else None,
        "end": us_to_datetime(window.outage_end_us).isoformat() if enabled else None,
        "surface": None,
        "event_types": [EVENT_TYPES[code] for code in OUTAGE_EVENT_TYPES] if enabled else [],
        **dirt.get("outage", {}),
    }
    return {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "window": {
            "start": us_to_datetime(window.start_us).isoformat(),
            "end": us_to_datetime(window.end_us).isoformat(),
        },
        "rows": rows,
        "dirt": dirt,
        "events": facts.get("events", {}),
        "model": {
            "attractiveness_intercept": intercept,
            "target_mean_attractiveness": TARGET_MEAN_ATTRACTIVENESS,
            "relevance": {**RELEVANCE_WEIGHTS, "categories": categories},
            **_behaviour(config),
        },
    }
