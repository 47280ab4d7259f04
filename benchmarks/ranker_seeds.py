"""Ranker quality over simulator seeds and settings: NDCG@10 against the true attractiveness for
the logging ranker, a naive model, the default ranker and a model trained on the truth, the
gap closed, the position-bias estimator chosen and its curve error, and the off-policy
figures of the evaluation. Not part of the default test run.

    python benchmarks/ranker_seeds.py --seeds 5 [--setting NAME ...|--setting all]
        [--requests-per-day 20000] [--days 7]
        [--set ranker_position_handling=ipw] [--sim position_bias=1.2] [--cache DIR]

``--setting`` names a simulator preset (``PRESETS`` below; repeatable; ``all`` = every one);
``--sim key=value`` sets a ``SimulatorConfig`` field on top of every selected setting (alone:
one ad-hoc setting). Each seed builds only what the ranker and its evaluation need
(``MODEL_ASSETS`` and their ancestors in the asset graph), not the sampler comparison, the
other labels or the retrieval negatives.

With ``--cache DIR`` each seed's logs and warehouse (through the negatives) are kept in
DIR/<setting>/seed-N and re-used by later runs with the same simulator settings, so comparing
model settings costs only the model layer.

Prints one JSON line per seed, then a markdown table with a row per setting (mean ± stdev over
seeds; "gap of means" is the gap closed by the mean NDCGs, which a seed with a near-zero
naive-to-ceiling gap cannot blow up) and, where the evaluation has off-policy figures (keys
with ``ips_dcg`` or ``snips``), whether they order the default and the naive model as the
truth does; writes the same as JSON to $RECSYS_HOME/bench/ranker_seeds.json.

To benchmark a fixed commit while the work tree changes, run this script with
``PYTHONPATH`` pointing at an export of it (``git archive <commit> recsys_assets sql``); the
JSON records which package ran and the repository's commit at the start of each setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import math
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from recsys_assets.config import export_settings, load_settings

_SWAP_AB2 = {"logging_policies": 2, "exploration_design": "adjacent_swap", "exploration_share": 0.05}
#: named simulator settings (SimulatorConfig fields on top of its defaults); issue 20's logs
PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    "ab2_noexplore": {"logging_policies": 2, "exploration_share": 0.0},
    "ab3_noexplore": {"logging_policies": 3, "exploration_share": 0.0},
    "ab3_versions_noexplore": {"logging_policies": 3, "ranker_versions_change_every_days": 2,
                               "exploration_share": 0.0},
    # one near-perfect deterministic logger: 0.95 of the true utility, little score noise
    "good_logger_noexplore": {"logging_policies": 1, "logging_quality": 0.95, "logging_noises": "0.05",
                              "exploration_share": 0.0},
    "pbm_swap_ab2": dict(_SWAP_AB2),
    "cascade_swap_ab2": {"click_model": "cascade", **_SWAP_AB2},
    "dcm_swap_ab2": {"click_model": "dcm", **_SWAP_AB2},
    "trust_swap_ab2": {"click_model": "trust_bias", **_SWAP_AB2},
    "dcm_top10_ab2": {"click_model": "dcm", "logging_policies": 2, "exploration_design": "topk_shuffle",
                      "exploration_top_k": 10, "exploration_share": 0.03},
    "pl_logger": {"logger": "plackett_luce", "exploration_share": 0.0},
}
#: what each seed builds, with every ancestor in the asset graph
MODEL_ASSETS = ("position_bias", "ctr_ranker", "ranker_evaluation")
FIGURES = ("logging", "naive", "default", "ceiling", "gap_closed", "curve_max_abs_error")
#: evaluation metadata keys that are off-policy estimates (variant/metric)
OFF_POLICY_MARKERS = ("ips_dcg", "snips")


# ------------------------------------------------------------------ settings


def sim_overrides(items: list[str] | None) -> dict[str, object]:
    """``key=value`` pairs as SimulatorConfig fields, each cast to its field's type."""
    from recsys_assets.simulator import SimulatorConfig

    types = {f.name: f.type for f in dataclasses.fields(SimulatorConfig)}
    out: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in types:
            raise SystemExit(f"--sim {item!r}: expected key=value with key one of {', '.join(types)}")
        kind = types[key]
        try:
            out[key] = {"int": int, "float": float, "date": dt.date.fromisoformat}.get(kind, str)(value)
        except ValueError as exc:
            raise SystemExit(f"--sim {item!r}: {key} is {kind}: {exc}") from None
    return out


def resolve_settings(names: list[str] | None, extra: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
    """(label, SimulatorConfig overrides) per setting: the named presets (``all`` = every one, in
    ``PRESETS`` order) with ``extra`` on top; no name = one setting, ``default`` or ``custom``."""
    if not names:
        return [("custom" if extra else "default", dict(extra))]
    chosen: list[str] = []
    for name in names:
        if name == "all":
            chosen += [n for n in PRESETS if n not in chosen]
        elif name not in PRESETS:
            raise SystemExit(f"--setting {name!r}: unknown; one of all, {', '.join(PRESETS)}")
        elif name not in chosen:
            chosen.append(name)
    suffix = "+" + ",".join(f"{k}={v}" for k, v in extra.items()) if extra else ""
    return [(name + suffix, {**PRESETS[name], **extra}) for name in chosen]


def cache_dir(cache: str, label: str, seed: int) -> Path:
    """DIR/<setting>/seed-N; an ad-hoc label (with ``=``) is hashed into a safe directory name."""
    safe = label if label.replace("_", "").isalnum() else "custom-" + hashlib.sha1(label.encode()).hexdigest()[:10]
    return Path(cache) / safe / f"seed-{seed}"


def _pairs(items: list[str] | None) -> dict:
    """``--set`` pairs (PipelineConfig fields; pydantic checks the values)."""
    out = {}
    for item in items or []:
        key, value = item.split("=", 1)
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        out[key] = {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value
    return out


# ------------------------------------------------------------------ one seed


@functools.cache
def selection(model_assets: tuple[str, ...] = MODEL_ASSETS) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """(data assets, model assets) as (name, partitioned), in graph order: ``model_assets`` and
    every ancestor of them; the data part is what a cache keeps."""
    from recsys_assets.assets.direct import DAGSTER_ONLY, graph_order
    from recsys_assets.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    parents = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
               for k in graph.get_all_asset_keys()}
    needed, todo = set(), list(model_assets)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += parents[name]
    assert not needed & DAGSTER_ONLY, needed & DAGSTER_ONLY
    order = [(name, partitioned) for name, _group, partitioned in graph_order() if name in needed]
    return [a for a in order if a[0] not in model_assets], [a for a in order if a[0] in model_assets]


def build_assets(con, logs: Path, days: list[dt.date], pipeline, assets: list[tuple[str, bool]]) -> dict:
    """Build ``assets`` (every day of a daily one) with the direct builders; their metadata."""
    from recsys_assets.assets.direct import DAILY_BUILDERS, TABLE_BUILDERS, Inputs
    from recsys_assets.warehouse.tables import ensure_schema

    inputs = Inputs(con, logs, tuple(days), pipeline)
    ensure_schema(con)
    out = {}
    for name, partitioned in assets:
        if partitioned:
            out[name] = [DAILY_BUILDERS[name](inputs, d.isoformat()) for d in days]
        else:
            out[name] = TABLE_BUILDERS[name](inputs)
    return out


def run_seed(seed: int, label: str, sim: dict, args: argparse.Namespace, pipeline_overrides: dict) -> dict:
    if args.cache:
        return _run_seed_in(cache_dir(args.cache, label, seed), seed, label, sim, args, pipeline_overrides)
    with tempfile.TemporaryDirectory() as tmp:
        return _run_seed_in(Path(tmp), seed, label, sim, args, pipeline_overrides)


def _run_seed_in(root: Path, seed: int, label: str, sim: dict, args: argparse.Namespace,
                 pipeline_overrides: dict) -> dict:
    from recsys_assets.assets.direct import connect
    from recsys_assets.config import PipelineConfig
    from recsys_assets.simulator import SimulatorConfig, simulate

    logs = root / "logs"
    # the model layer reads the simulator's truth next to the logs
    export_settings(home=root / "home", logs=logs)
    config = SimulatorConfig(seed=seed, days=args.days, requests_per_day=args.requests_per_day, **sim)
    days = [config.start + dt.timedelta(days=i) for i in range(config.days)]
    pipeline = PipelineConfig(**pipeline_overrides)
    data_assets, model_assets = selection()
    # the cached data layers are only valid for the simulator settings, data-layer config and
    # asset selection they came from
    fingerprint = json.dumps({"sim": dataclasses.asdict(config),
                              "data": {k: v for k, v in pipeline_overrides.items() if not k.startswith("ranker_")},
                              "assets": [name for name, _ in data_assets]}, sort_keys=True, default=str)
    marker, database = root / "data.json", root / "warehouse.duckdb"
    t0 = time.perf_counter()
    cached = bool(args.cache) and marker.exists() and marker.read_text() == fingerprint and database.exists()
    if not cached:
        for stale in (database, marker):
            stale.unlink(missing_ok=True)
        root.mkdir(parents=True, exist_ok=True)
        simulate(config, logs)
        con = connect(str(database) if args.cache else ":memory:")
        build_assets(con, logs, days, pipeline, data_assets)
        if args.cache:
            con.close()
            marker.write_text(fingerprint)
    data_seconds = time.perf_counter() - t0
    if args.cache:
        con = connect(str(database))
    out = build_assets(con, logs, days, pipeline, model_assets)
    con.close()
    return seed_record(seed, label, out["ranker_evaluation"], out["position_bias"]) | {
        "cached_data": cached, "seconds_data": round(data_seconds, 1),
        "seconds": round(time.perf_counter() - t0, 1)}


def seed_record(seed: int, label: str, evaluation: dict, bias: dict) -> dict:
    """The figures of one seed from the evaluation's and the position bias's metadata."""
    used = bias["used_method"]
    off_policy = {k: evaluation[k] for k in sorted(evaluation)
                  if any(m in k for m in OFF_POLICY_MARKERS) and isinstance(evaluation[k], int | float)}
    return {
        "setting": label, "seed": seed,
        "logging": evaluation.get("logging/truth_ndcg@10"), "naive": evaluation.get("naive/truth_ndcg@10"),
        "default": evaluation.get("model/truth_ndcg@10"), "ceiling": evaluation.get("ceiling/truth_ndcg@10"),
        "gap_closed": evaluation.get("gap_closed"), "curve": used,
        "curve_max_abs_error": bias.get(f"max_abs_error_vs_truth/{used}"),
        "model_auc": evaluation.get("model/auc"), "model_ece": evaluation.get("model/ece"),
        "identified": bias.get("identified"), "judged_by": evaluation.get("best_valid_estimate"),
        "promoted": evaluation.get("promotable"),
        "off_policy": off_policy,
    }


# ------------------------------------------------------------------ summary


def _stats(values: list) -> dict | None:
    values = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not values:
        return None
    return {"mean": statistics.mean(values), "min": min(values), "max": max(values),
            "stdev": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def off_policy_metrics(runs: list[dict]) -> list[str]:
    """Off-policy metric names (without the variant) present for both the default and the naive
    model, bounds (``_low``/``_high``) left out."""
    names = set()
    for r in runs:
        for key in r.get("off_policy", {}):
            variant, _, metric = key.partition("/")
            if variant == "model" and f"naive/{metric}" in r["off_policy"] and not metric.endswith(("_low", "_high", "/low", "/high")):
                names.add(metric)
    return sorted(names)


def summarize(runs: list[dict]) -> dict:
    """Mean and spread of every figure over the seeds of one setting, the estimators chosen,
    seeds where the default beats naive, and per off-policy metric whether it orders the
    default and the naive model as the truth does."""
    out: dict = {"seeds": len(runs), **{key: _stats([r.get(key) for r in runs]) for key in FIGURES}}
    means = [out[k]["mean"] if out[k] else None for k in ("naive", "default", "ceiling")]
    # robust to a seed whose naive-to-ceiling gap is near zero (its own ratio explodes)
    out["gap_closed_of_means"] = ((means[1] - means[0]) / (means[2] - means[0])
                                  if None not in means and means[2] > means[0] else None)
    out["curve"] = dict(Counter(r["curve"] for r in runs).most_common())
    pairs = [(r["default"], r["naive"]) for r in runs if r.get("default") is not None and r.get("naive") is not None]
    out["default_beats_naive"] = sum(d > n for d, n in pairs)
    out["compared"] = len(pairs)
    # what a user ends up with: the model where the registry promotes it, else the naive baseline
    out["promoted"] = sum(r.get("promoted") is True for r in runs)
    out["identified"] = sum(r.get("identified") is True for r in runs)
    out["in_use"] = _stats([r["default"] if r.get("promoted") is not False else r["naive"] for r in runs])
    off = {}
    for metric in off_policy_metrics(runs):
        agree = n = 0
        for r in runs:
            m, b = r["off_policy"].get(f"model/{metric}"), r["off_policy"].get(f"naive/{metric}")
            if None in (m, b, r.get("default"), r.get("naive")) or r["default"] == r["naive"]:
                continue
            n += 1
            agree += (m > b) == (r["default"] > r["naive"])
        off[metric] = {"default": _stats([r["off_policy"].get(f"model/{metric}") for r in runs]),
                       "naive": _stats([r["off_policy"].get(f"naive/{metric}") for r in runs]),
                       "agree": agree, "compared": n}
    out["off_policy"] = off
    return out


def _ms(s: dict | None, pct: bool = False) -> str:
    if s is None:
        return "n/a"
    if pct:
        return f"{100 * s['mean']:.0f}% ± {100 * s['stdev']:.0f}"
    return f"{s['mean']:.4f} ± {s['stdev']:.4f}"


def markdown(summaries: dict[str, dict]) -> str:
    """One row per setting (mean ± stdev over seeds; gap closed also min..max), then the
    off-policy figures where the evaluation has any."""
    lines = [("| setting | seeds | logging | naive | default | ceiling | gap closed (min..max) | gap of means | default > naive "
              "| estimator chosen | curve identified | curve max abs error | promoted | in use |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for label, s in summaries.items():
        gap = s["gap_closed"]
        span = f" ({100 * gap['min']:.0f}..{100 * gap['max']:.0f}%)" if gap else ""
        curve = ", ".join(f"{k} ×{v}" for k, v in s["curve"].items())
        of_means = "n/a" if s["gap_closed_of_means"] is None else f"{100 * s['gap_closed_of_means']:.0f}%"
        lines.append(f"| {label} | {s['seeds']} | {_ms(s['logging'])} | {_ms(s['naive'])} | {_ms(s['default'])} "
                     f"| {_ms(s['ceiling'])} | {_ms(gap, pct=True)}{span} | {of_means} | {s['default_beats_naive']}/{s['compared']} "
                     f"| {curve} | {s['identified']}/{s['seeds']} | {_ms(s['curve_max_abs_error'])} "
                     f"| {s['promoted']}/{s['seeds']} | {_ms(s['in_use'])} |")
    off = [(label, metric, o) for label, s in summaries.items() for metric, o in s["off_policy"].items()]
    if off:
        lines += ["", "| setting | off-policy metric | default | naive | orders default vs naive as truth |",
                  "|---|---|---:|---:|---:|"]
        lines += [f"| {label} | {metric} | {_ms(o['default'])} | {_ms(o['naive'])} | {o['agree']}/{o['compared']} |"
                  for label, metric, o in off]
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def _git(*argv: str) -> str:
    done = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def code_state() -> dict:
    """The repository's commit, the last commit of the position-bias estimators, where the
    package that runs comes from (``PYTHONPATH=<export of a commit>`` runs that commit while the
    work tree changes) and, when it is this work tree's, its uncommitted changes."""
    import recsys_assets

    package = Path(recsys_assets.__file__).resolve().parent
    in_tree = package == REPO / "recsys_assets"
    return {"head": _git("rev-parse", "--short", "HEAD"),
            "position_bias": _git("log", "-1", "--format=%h", "--", "recsys_assets/ranker/position_bias.py"),
            "package": str(package),
            "dirty": _git("status", "--porcelain", "--", "recsys_assets", "sql").splitlines() if in_tree else []}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--requests-per-day", type=int, default=20_000)
    parser.add_argument("--setting", action="append",
                        help=f"simulator preset (repeatable): all, {', '.join(PRESETS)}")
    parser.add_argument("--set", action="append", help="PipelineConfig field, e.g. ranker_position_handling=ipw")
    parser.add_argument("--sim", action="append", help="SimulatorConfig field, e.g. position_bias=1.2")
    parser.add_argument("--cache", help="keep each seed's logs and warehouse here and re-use them")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = resolve_settings(args.setting, sim_overrides(args.sim))
    pipeline_overrides = _pairs(args.set)
    bench = load_settings().home / "bench"  # before the seeds point RECSYS_HOME at their own homes
    export_settings(start_date="2026-01-05", end_date="2026-03-01")
    selection()  # import every asset module now: the whole run uses the code as it is at its start
    started = code_state()
    print(json.dumps({"code": started, "settings": dict(settings)}), flush=True)
    results, summaries, states = [], {}, {}
    for label, sim in settings:
        states[label] = code_state()
        runs = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            r = run_seed(seed, label, sim, args, pipeline_overrides)
            runs.append(r)
            print(json.dumps(r), flush=True)
        results += runs
        summaries[label] = summarize(runs)
    print()
    print(markdown(summaries))
    moved = [label for label, s in states.items() if s["position_bias"] != started["position_bias"]]
    if moved:
        print(f"\nposition_bias.py was committed to during the run (settings started after it: {', '.join(moved)}); "
              f"every setting ran the code loaded at the start ({started['head']})")
    bench.mkdir(parents=True, exist_ok=True)
    (bench / "ranker_seeds.json").write_text(json.dumps(
        {"args": vars(args), "code": started, "code_at_setting_start": states, "settings": dict(settings),
         "runs": results, "summary": summaries}, indent=2, default=str))


if __name__ == "__main__":
    main()
