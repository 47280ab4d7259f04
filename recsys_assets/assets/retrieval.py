"""Retrieval layer: the two-tower model trained on the retrieval pools, its evaluation over
the full eligible catalog, and the retrieval sampler policies compared as arms.

The ranker's temporal split: the last ``eval_days`` days are held out, the day before them
validates (early stopping on its full-catalog Recall@100), the days before that train.
Item attributes are taken as of the start of the first held-out day. Nothing is fitted on
a held-out day; the evaluation reads the held-out days' clicks and nothing else from them.
"""

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys_assets.config import PipelineConfig, load_settings
from recsys_assets.policies.files import sampler_policies, sampler_policy
from recsys_assets.policies.samplers import SamplerPolicy
from recsys_assets.ranker.truth import Relevance, load_relevance
from recsys_assets.retrieval import model as model_files
from recsys_assets.retrieval.data import TrainingData, index_of
from recsys_assets.retrieval.evaluation import (
    IPS_RECALL,
    KS,
    VARIANTS,
    HeldOut,
    Scorer,
    bootstrap,
    exposure_weights,
    per_request,
    rank_clicks,
    slice_recall,
    validation_recall,
)
from recsys_assets.retrieval.model import TwoTower
from recsys_assets.retrieval.training import Fit, Progress, RetrievalConfig, train
from recsys_assets.warehouse.resource import WAREHOUSE_POOL, WarehouseResource
from recsys_assets.warehouse.sql import arrow_query, query_dicts, run_sql, second_session
from recsys_assets.warehouse.tables import ensure_schema, replace_rows, sql_code_version

from .clean import candidates, events, users
from .labels import ctr_labels
from .model import TemporalSplit, temporal_split
from .negatives import negative_params, retrieval_negatives
from .snapshots import impression_context, item_state

_PIPELINE = load_settings().pipeline
PRIMARY = "recall@100"
VALIDATION_CLICKS = 5000  # a seeded sample of the validation day's clicks judges the epochs (Recall@100 +- 0.006)
TRUTH_PRIMARY = "truth_recall@100"  # the comparison's judge when the logs have full-catalog truth


def retrieval_config(pipeline: PipelineConfig, policy: SamplerPolicy, **overrides: Any) -> RetrievalConfig:
    """The training configuration: the pipeline's settings and the policy's ``training``."""
    values = {"dim": pipeline.retrieval_dim, "epochs": pipeline.retrieval_epochs,
              "in_batch": pipeline.retrieval_in_batch,
              "hard_curriculum_epochs": policy.training.hard_curriculum_epochs,
              "max_cosine": policy.training.max_cosine}
    return RetrievalConfig(**(values | overrides))


def catalog_time(split: TemporalSplit) -> dt.datetime:
    """When item attributes are read: the start of the first held-out day."""
    return dt.datetime.combine(split.eval[0], dt.time())


@dataclasses.dataclass
class Prepared:
    """A split's training data (with its pools) and its validation day (clicks only)."""

    train: TrainingData
    valid: TrainingData

    @classmethod
    def load(cls, con, split: TemporalSplit, pools: bool = True) -> "Prepared":
        """The training days with retrieval_negatives' pools (or none: ``pools=False``)."""
        as_of = catalog_time(split)
        train_data = TrainingData.load(con, split.train[0], split.train[-1], as_of, pools=pools)
        valid = TrainingData.load(con, split.valid, split.valid, as_of, pools=False)
        days = f"{split.train[0]}..{split.train[-1]}"
        if train_data.positives.num_rows == 0:
            raise ValueError(f"no clicks to train the retrieval model on in the training days {days}: check their "
                             "events (a tracking outage?) and ctr_labels")
        if valid.positives.num_rows == 0:
            raise ValueError(f"no clicks on the validation day {split.valid}: early stopping of the retrieval model "
                             "would have nothing to judge by; check that day's events, or hold out other days "
                             "(RECSYS_EVAL_DAYS)")
        if valid.positives.num_rows > VALIDATION_CLICKS:  # early stopping compares epochs on the same clicks
            keep = np.sort(np.random.default_rng(0).choice(valid.positives.num_rows, VALIDATION_CLICKS, replace=False))
            valid.positives = valid.positives.take(pa.array(keep))
        return cls(train_data, valid)


def fit(prepared: Prepared, config: RetrievalConfig, log: Progress | None, label: str) -> tuple[TwoTower, Fit, np.ndarray]:
    """A model trained on the prepared days, and its catalog encoding."""
    context_vocab, item_vocab = prepared.train.vocabularies(config.min_count)
    model = TwoTower.initial(context_vocab, item_vocab, config.dim, config.seed)
    # warm start: the item biases begin as log click counts, so the untrained model is the popularity
    # baseline and training (judged from epoch 0) can only move away from it by doing better on validation
    ids = item_vocab["item_id"]
    clicks = np.bincount(ids.encode(prepared.train.positives.column("item_id")), minlength=len(ids)).astype(float)
    sharing = np.bincount(ids.encode(prepared.train.catalog.column("item_id")), minlength=len(ids))  # 1, and the rare ids
    per_item = np.log1p(clicks / np.maximum(sharing, 1))
    model.bias["item_id"][:] = per_item - per_item.mean()
    fields = model.encode_items(prepared.train.catalog)
    valid_examples, valid_allowed = prepared.valid.examples(model), prepared.valid.allowed()
    examples = prepared.train.examples(model)
    if config.loss == "sampled" and not config.in_batch and examples.negatives.size == 0:
        raise ValueError(f"{label}: the training days have no retrieval negatives; materialize retrieval_negatives "
                         "for them first")
    result = train(model, examples, fields, prepared.train.allowed(), config,
                   validate=lambda m: validation_recall(m, fields, valid_examples, valid_allowed),
                   progress=log, label=label, click_share=prepared.train.click_share())
    return model, result, fields


# ------------------------------------------------------------------ model


def build_retrieval_model(con, pipeline: PipelineConfig, run_id: str | None = None,
                          log: Progress | None = None) -> dict[str, Any]:
    ensure_schema(con)
    settings = load_settings()
    policy = sampler_policy(pipeline.retrieval_sampler, "retrieval")
    split = temporal_split(con, pipeline)
    t0 = time.perf_counter()
    prepared = Prepared.load(con, split)
    load_seconds = time.perf_counter() - t0
    config = retrieval_config(pipeline, policy)
    if log:
        log(f"retrieval model: {prepared.train.positives.num_rows} clicks with {prepared.train.negatives.num_rows} "
            f"negatives of {split.train[0]}..{split.train[-1]}, validating on {split.valid}")
    model, result, fields = fit(prepared, config, log, "retrieval model")
    lineage = query_dicts(con, "model/retrieval_model/lineage", {"first_day": split.train[0], "last_day": split.train[-1]})[0]
    fingerprint = hashlib.sha256(f"{lineage['negatives_fingerprint']}:{lineage['positives_fingerprint']}:{config}"
                                 .encode()).hexdigest()[:16]
    trained_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    model_id = f"retrieval-{trained_at:%Y%m%dT%H%M%S}-{fingerprint[:8]}"
    info = {"model_id": model_id, "trained_at": trained_at.isoformat(), "sampler_version": lineage["sampler_versions"],
            "sampler_policy_hash": policy.content_hash, "data_fingerprint": fingerprint, "dagster_run_id": run_id,
            "catalog_as_of": catalog_time(split).isoformat(), "history": result.history, **split.describe()}
    path = model_files.save(settings.models_dir / model_id, model, info)
    reloaded = model_files.load(path)  # what evaluation and serving will score with
    probe = prepared.valid.positives.slice(0, 512)  # encoded by each model's own vocabularies
    if not np.array_equal(reloaded.scores(reloaded.encode_context(probe), reloaded.encode_items(prepared.train.catalog)),
                          model.scores(model.encode_context(probe), fields)):
        raise RuntimeError(f"{path}: the saved retrieval model does not reproduce the trained model's scores")
    row = {"model_id": model_id, "trained_at": trained_at, "model_path": str(path), "loss": config.loss,
           "logq": config.logq, "train_first_day": split.train[0], "train_last_day": split.train[-1],
           "valid_day": split.valid, "positives": prepared.train.positives.num_rows,
           "negatives": prepared.train.negatives.num_rows, "best_epoch": result.best_epoch,
           "sampler_version": lineage["sampler_versions"], "data_fingerprint": fingerprint,
           "config": json.dumps(info | {"config": dataclasses.asdict(config)}, default=str)}
    replace_rows(con, "retrieval_model", pa.Table.from_pylist([row]))  # a new model_id: appended
    best = next(h for h in result.history if h["epoch"] == result.best_epoch)
    meta: dict[str, Any] = {
        "model_id": model_id, "model_path": dg.MetadataValue.path(str(path)),
        "sampler_version": lineage["sampler_versions"] or "", "data_fingerprint": fingerprint,
        "positives": row["positives"], "negatives": row["negatives"],
        "negatives_per_positive": round(row["negatives"] / max(row["positives"], 1), 3),
        "catalog_items": prepared.train.catalog.num_rows, "best_epoch": result.best_epoch,
        "epochs_run": len(result.history) - 1, "valid_recall@100": round(best["valid_recall@100"], 5),
        "seconds/load": round(load_seconds, 2), "seconds/train": round(result.seconds, 2),
        "curriculum_dropped": result.curriculum_dropped, "distance_filtered": result.filtered,
        "loss": "sampled softmax, logQ corrected by the pool's mixture probability"
        + (" + in-batch negatives" if config.in_batch else ""),
        **split.describe(),
        "history": dg.MetadataValue.md("\n".join(
            ["| epoch | loss | validation Recall@100 |", "|---:|---:|---:|"]
            + [f"| {h['epoch']} | {'' if h['loss'] is None else format(h['loss'], '.4f')} | {h['valid_recall@100']:.4f} |"
               for h in result.history])),
    }
    return meta


@dg.asset(
    group_name="model", pool=WAREHOUSE_POOL, kinds={"numpy", "duckdb"},
    code_version=sql_code_version("model/retrieval_model/positives", "model/retrieval_model/negatives",
                                  "model/retrieval_model/catalog", "model/retrieval_model/day_catalog",
                                  "model/retrieval_model/lineage", tables=["retrieval_model"])
    + "-" + sampler_policy(_PIPELINE.retrieval_sampler, "retrieval").content_hash,
    deps=[retrieval_negatives, ctr_labels, impression_context, item_state],
    description="Two-tower retrieval model (NumPy) trained with a sampled softmax over each click's negatives from "
    "retrieval_negatives, logits corrected by the pool's mixture probability (logQ), and (RECSYS_RETRIEVAL_IN_BATCH) "
    "the batch's other clicks, corrected by click share; saved as arrays + JSON.",
)
def retrieval_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_retrieval_model(con, pipeline, context.run.run_id, log=context.log.info)
    return dg.MaterializeResult(metadata=meta, data_version=dg.DataVersion(meta["data_fingerprint"]))


# ------------------------------------------------------------------ evaluation


@dataclasses.dataclass
class HeldOutSet:
    """The held-out days as the evaluation needs them, loaded once for every variant and arm."""

    held: HeldOut
    catalog: pa.Table
    popularity: np.ndarray     # training clicks per catalog item
    head: np.ndarray           # per held-out click: its item is in the head
    exposure_weight: np.ndarray  # per held-out click: inverse exposure propensity of its item (ips_recall@100)
    relevance: Relevance | None = None  # the simulator's truth, when the logs have it

    def truth(self) -> Callable[[slice], np.ndarray] | None:
        """The true attractiveness of every catalog item for a block of held-out requests."""
        if self.relevance is None:
            return None
        relevance = self.relevance
        columns = index_of(self.catalog.column("item_id"), pa.array(relevance.item_ids))
        known = columns >= 0
        request_ids = self.held.request_ids.to_numpy(zero_copy_only=False).astype(str)

        def truth(rows: slice) -> np.ndarray:
            out = np.full((rows.stop - rows.start, len(columns)), -np.inf)
            out[:, known] = relevance.attractiveness(request_ids[rows])[:, columns[known]]
            return out
        return truth

    @classmethod
    def load(cls, con, split: TemporalSplit, catalog: pa.Table, head_share: float,
             logs_dir: Path | None = None) -> "HeldOutSet":
        start = dt.datetime.combine(split.eval[0], dt.time())
        end = dt.datetime.combine(split.eval[-1] + dt.timedelta(days=1), dt.time())
        clicks = arrow_query(con, "model/retrieval_evaluation/requests", {"first_day": split.eval[0], "last_day": split.eval[-1]})
        if clicks.num_rows == 0:
            raise ValueError(f"no clicks on the held-out days {split.eval[0]}..{split.eval[-1]}: nothing to evaluate "
                             "the retrieval model on")
        eligible = arrow_query(con, "model/retrieval_evaluation/eligible", {"start": start, "end": end})
        item_ids = catalog.column("item_id").combine_chunks()
        held = HeldOut.from_tables(clicks, eligible, item_ids)
        counts = arrow_query(con, "model/retrieval_evaluation/item_clicks",
                             {"first_day": split.train[0], "last_day": split.train[-1]})
        popularity, exposures = np.zeros(catalog.num_rows), np.zeros(catalog.num_rows)
        idx = index_of(counts.column("item_id"), item_ids)
        popularity[idx[idx >= 0]] = counts.column("clicks").to_numpy()[idx >= 0]
        exposures[idx[idx >= 0]] = counts.column("exposures").to_numpy()[idx >= 0]
        requests = int(counts.column("requests")[0].as_py()) if counts.num_rows else 0
        order = np.sort(popularity)[::-1]
        cut = order[np.searchsorted(np.cumsum(order), head_share * order.sum())] if order.sum() else np.inf
        head_items = popularity >= cut
        head = np.where(held.positive_item >= 0, head_items[np.maximum(held.positive_item, 0)], False)
        return cls(held, catalog, popularity, head, exposure_weights(exposures, requests, held.positive_item),
                   load_relevance(logs_dir) if logs_dir is not None else None)


def model_scorer(model: TwoTower, fields: np.ndarray, ev: HeldOutSet) -> Scorer:
    """Scores of every catalog item for a block of held-out requests, by a model (in float32:
    ranking a catalog is bound by memory traffic, and half the bytes take half the time)."""
    ctx = model.encode_context(ev.held.context)
    vec, bias = (a.astype(np.float32) for a in model.item_vectors(fields))
    return lambda rows: model.user_vectors(ctx[rows]).astype(np.float32) @ vec.T + bias


def popularity_scorer(ev: HeldOutSet) -> Scorer:
    """The popularity baseline: log training clicks, the same for every request."""
    score = np.log1p(ev.popularity)
    return lambda rows: np.broadcast_to(score, (rows.stop - rows.start, len(score)))


def evaluate(scorers: dict[str, Scorer], ev: HeldOutSet) -> tuple[dict[str, dict[str, np.ndarray]],
                                                                    dict[str, dict[str, float]]]:
    """Per-request metrics of every scorer over the held-out set (one pass), and their head/tail recall."""
    ranked = rank_clicks(scorers, ev.held, ev.catalog.num_rows, ev.popularity, truth=ev.truth())
    return ({name: per_request(r, ev.held, ev.exposure_weight) for name, r in ranked.items()},
            {name: _slices(r, ev) for name, r in ranked.items()})


def _slices(ranked, ev: HeldOutSet) -> dict[str, float]:
    return {"head": slice_recall(ranked, ev.head), "tail": slice_recall(ranked, ~ev.head)}


PAIRS = (("model", "popularity"), ("model", "full_softmax"), ("model", "no_logq"))


def evaluation_rows(per_variant: dict[str, dict[str, np.ndarray]], slices: dict[str, dict[str, float]],
                    seed: int) -> list[dict[str, Any]]:
    """Rows (variant, metric, slice, value, low, high): means over requests with 95% bootstrap
    intervals, head/tail Recall@100, and the model's paired differences with the popularity
    baseline (what promotion is judged by), the full softmax and the uncorrected pool
    (variant ``model-<other>``)."""
    rows = []
    flat = {f"{v}|{m}": x for v, metrics in per_variant.items() for m, x in metrics.items()}
    for a, b in PAIRS:
        if a in per_variant and b in per_variant:
            for m in per_variant[a]:
                if m in per_variant[b]:
                    flat[f"{a}-{b}|{m}"] = per_variant[a][m] - per_variant[b][m]
    intervals = bootstrap(flat, seed)
    for key, values in flat.items():
        variant, metric = key.split("|")
        lo, hi = intervals[key]
        rows.append({"variant": variant, "metric": metric, "slice": "all", "value": float(np.nanmean(values)),
                     "low": lo, "high": hi})
    for v, s in slices.items():
        for name, value in s.items():
            rows.append({"variant": v, "metric": PRIMARY, "slice": name, "value": value, "low": None, "high": None})
    return rows


def latest_retrieval_model(con) -> dict[str, Any]:
    rows = query_dicts(con, "model/retrieval_model/latest")
    if not rows:
        raise ValueError("no trained retrieval model: materialize retrieval_model first")
    return rows[0]


def build_retrieval_evaluation(con, pipeline: PipelineConfig, seed: int = 0, log: Progress | None = None) -> dict[str, Any]:
    ensure_schema(con)
    latest = latest_retrieval_model(con)
    loaded = model_files.load(Path(latest["model_path"]))
    split = temporal_split(con, pipeline)
    policy = sampler_policy(pipeline.retrieval_sampler, "retrieval")
    prepared = Prepared.load(con, split)
    ev = HeldOutSet.load(con, split, prepared.train.catalog, pipeline.compare_head_share, load_settings().logs_dir)
    scorers = {"model": model_scorer(loaded, loaded.encode_items(prepared.train.catalog), ev)}
    base = retrieval_config(pipeline, policy)
    controls = {"no_logq": dataclasses.replace(base, logq=False)}
    skipped = ""
    if prepared.train.catalog.num_rows <= pipeline.retrieval_full_softmax_max_items:
        controls["full_softmax"] = dataclasses.replace(base, loss="full", in_batch=False)
    else:
        skipped = (f"full softmax not trained: {prepared.train.catalog.num_rows} items > "
                   f"RECSYS_RETRIEVAL_FULL_SOFTMAX_MAX_ITEMS ({pipeline.retrieval_full_softmax_max_items})")
    seconds = {}
    for name, config in controls.items():
        t0 = time.perf_counter()
        control, _, control_fields = fit(prepared, config, log, name)
        scorers[name] = model_scorer(control, control_fields, ev)
        seconds[f"train_{name}"] = time.perf_counter() - t0
    scorers["popularity"] = popularity_scorer(ev)
    t0 = time.perf_counter()
    per_variant, slices = evaluate(scorers, ev)
    seconds["evaluate"] = time.perf_counter() - t0
    rows = evaluation_rows(per_variant, slices, seed)
    table = pa.Table.from_pylist([{"model_id": latest["model_id"], **r} for r in rows], schema=pa.schema([
        ("model_id", pa.string()), ("variant", pa.string()), ("metric", pa.string()), ("slice", pa.string()),
        ("value", pa.float64()), ("low", pa.float64()), ("high", pa.float64())]))
    replace_rows(con, "retrieval_evaluation", table, delete="DELETE FROM retrieval_evaluation WHERE model_id = ?",
                 params=[latest["model_id"]])
    get = {(r["variant"], r["metric"], r["slice"]): r for r in rows}
    meta: dict[str, Any] = {"model_id": latest["model_id"], "requests": ev.held.requests,
                            "clicks": len(ev.held.positive_item), "catalog_items": ev.catalog.num_rows,
                            **split.describe()}
    for (variant, metric, sl), r in get.items():
        if sl == "all" and "-" not in variant:
            meta[f"{variant}/{metric}"] = round(r["value"], 5)
    for metric in (PRIMARY, TRUTH_PRIMARY, "truth_ndcg@100"):  # how close the sampled losses come to the target
        full = get.get(("full_softmax", metric, "all"))
        if full and full["value"] > 0:
            for variant in ("model", "no_logq"):
                meta[f"{variant}_share_of_full_softmax_{metric}"] = round(get[(variant, metric, "all")]["value"]
                                                                          / full["value"], 4)
    if skipped:
        meta["full_softmax"] = skipped
    meta |= {f"seconds/{k}": round(v, 1) for k, v in seconds.items()}
    meta["evaluation"] = dg.MetadataValue.md(evaluation_table(rows))
    return meta


def evaluation_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: every variant's metrics with 95% intervals, head and tail recall."""
    get = {(r["variant"], r["metric"], r["slice"]): r for r in rows}
    metrics = [f"recall@{k}" for k in KS] + ["ndcg@100", "top100_popularity"] \
        + sorted({m for (_, m, _) in get if m.startswith(("ips_", "truth_"))})
    present = {v for (v, _, _) in get}
    variants = [v for v in VARIANTS if v in present] + sorted(present - set(VARIANTS))
    lines = ["| variant | " + " | ".join(metrics) + " | recall@100 head | recall@100 tail |",
             "|---|" + "---:|" * (len(metrics) + 2)]
    for v in variants:
        cells = []
        for m in metrics:
            r = get.get((v, m, "all"))
            cells.append("" if r is None else f"{r['value']:.4f} ({r['low']:.4f} to {r['high']:.4f})"
                         if r.get("low") is not None else f"{r['value']:.4f}")
        for sl in ("head", "tail"):
            r = get.get((v, PRIMARY, sl))
            cells.append("" if r is None or not np.isfinite(r["value"]) else f"{r['value']:.4f}")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dg.asset(
    group_name="model", pool=WAREHOUSE_POOL, kinds={"numpy", "duckdb"},
    code_version=sql_code_version("model/retrieval_evaluation/requests", "model/retrieval_evaluation/eligible",
                                  "model/retrieval_evaluation/item_clicks", tables=["retrieval_evaluation"]),
    deps=[retrieval_model],
    description="The latest retrieval model on the held-out days over the full eligible catalog as of each request: "
    "Recall@50/100/200, NDCG@100, head and tail recall, popularity of what it retrieves, with 95% bootstrap "
    "intervals; next to the same pool without logQ correction, a full softmax over the catalog and a popularity "
    "baseline.",
)
def retrieval_evaluation(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_retrieval_evaluation(con, pipeline, log=context.log.info)
    return dg.MaterializeResult(metadata=meta)


# ------------------------------------------------------------------ comparison


def retrieval_arms(pipeline: PipelineConfig) -> list[SamplerPolicy]:
    """The retrieval sampler policies compared: every one (packaged and the user's) or those
    ``RECSYS_RETRIEVAL_COMPARE_ARMS`` names."""
    policies = {name: p for name, p in sampler_policies().items() if p.kind == "retrieval"}
    wanted = [a.strip() for a in pipeline.retrieval_compare_arms.split(",") if a.strip()]
    unknown = sorted(set(wanted) - set(policies))
    if unknown:
        raise ValueError(f"RECSYS_RETRIEVAL_COMPARE_ARMS names unknown retrieval polic{'ies' if len(unknown) > 1 else 'y'} "
                         f"{unknown}; available: {sorted(policies)}")
    chosen = [policies[n] for n in wanted] if wanted else list(policies.values())
    if len(chosen) < 2:
        raise ValueError(f"a retrieval comparison needs at least two arms, got {[p.name for p in chosen]}")
    return chosen


def sample_requests(positives: pa.Table, max_requests: int, seed: int) -> pa.Table:
    """The clicks of at most ``max_requests`` requests, drawn with a fixed seed (0 = all): every
    arm trains on the same clicks (their pools' other rows are left out with them)."""
    requests = pc.unique(positives.column("request_id"))
    if max_requests <= 0 or len(requests) <= max_requests:
        return positives
    keep = np.random.default_rng(seed).choice(len(requests), size=max_requests, replace=False)
    return positives.filter(pc.is_in(positives.column("request_id"), value_set=requests.take(pa.array(np.sort(keep)))))


def arm_pools(con, pipeline: PipelineConfig, policy: SamplerPolicy, days: list[dt.date]) -> pa.Table:
    """The arm's negatives on the days, drawn by the SQL the retrieval_negatives asset runs."""
    parts = []
    for day in days:
        params = negative_params(day.isoformat(), pipeline) | policy.retrieval_params()
        run_sql(con, "negatives/ranking_negatives/known_positives", params)
        run_sql(con, "negatives/retrieval_negatives/draws", params)
        parts.append(arrow_query(con, "model/retrieval_comparison/negatives"))
    return pa.concat_tables(parts)


def build_retrieval_comparison(con, pipeline: PipelineConfig, seed: int = 0, log: Progress | None = None) -> dict[str, Any]:
    ensure_schema(con)
    arms = retrieval_arms(pipeline)
    split = temporal_split(con, pipeline)
    base = Prepared.load(con, split, pools=False)  # each arm draws its own pools
    base.train.positives = sample_requests(base.train.positives, pipeline.compare_max_train_requests, seed)
    ev = HeldOutSet.load(con, split, base.train.catalog, pipeline.compare_head_share, load_settings().logs_dir)
    scorers, info, skipped = {}, {}, {}
    # the arms' pools are drawn by SQL on a second connection while the previous arm trains
    with second_session(con) as draw_con:
        drawer = ThreadPoolExecutor(max_workers=1)
        drawn = [drawer.submit(arm_pools, draw_con, pipeline, policy, split.train) for policy in arms]
        try:
            for i, (policy, pending) in enumerate(zip(arms, drawn, strict=True), 1):
                t0 = time.perf_counter()
                pools = pending.result()
                prepared = Prepared(dataclasses.replace(base.train, negatives=pools), base.valid)
                if log:
                    log(f"retrieval arm {i}/{len(arms)} {policy.name}: {pools.num_rows} negatives")
                config = retrieval_config(pipeline, policy)
                if pools.num_rows == 0:  # e.g. exposed-only on one-item slates: nothing of the pool to compare
                    skipped[policy.name] = (f"its sources ({', '.join(policy.retrieval_params()['src_names'])}) drew no negative "
                                            "on the training days of these logs")
                    continue
                model, result, fields = fit(prepared, config, log, policy.name)
                scorers[policy.name] = model_scorer(model, fields, ev)
                info[policy.name] = {"version": policy.version, "description": policy.description,
                                     "negatives": pools.num_rows, "best_epoch": result.best_epoch,
                                     "seconds": time.perf_counter() - t0}
        finally:
            drawer.shutdown(wait=True, cancel_futures=True)  # before the second connection closes
    if len(scorers) < 2:
        reason = (f"not compared: {len(scorers)} of {len(arms)} retrieval policies have a pool on these logs; "
                  + "; ".join(f"`{n}`: {why}" for n, why in skipped.items()))
        if log:
            log(reason)
        return {"arms": len(scorers), **split.describe(), "recommendation": dg.MetadataValue.md(reason)}
    t0 = time.perf_counter()
    per_arm, slices = evaluate(scorers, ev)  # every arm in one pass over the held-out requests
    evaluate_seconds = time.perf_counter() - t0
    names = list(per_arm)
    primary = TRUTH_PRIMARY if ev.relevance is not None else IPS_RECALL
    means = {n: float(per_arm[n][primary].mean()) for n in names}
    ranked = sorted(names, key=lambda n: -means[n])
    best = ranked[0]
    flat = {f"{n}|{m}": v for n in names for m, v in per_arm[n].items()}
    flat |= {f"{n}-{best}|{primary}": per_arm[n][primary] - per_arm[best][primary] for n in names if n != best}
    intervals = bootstrap(flat, seed)
    tied = [n for n in ranked[1:] if intervals[f"{n}-{best}|{primary}"][1] >= 0]
    recommendation = (f"`{best}` retrieves best ({primary} {means[best]:.4f}"
                      + (", against the simulator's truth" if primary == TRUTH_PRIMARY
                         else ", against held-out clicks weighted by the inverse of their items' exposure")
                      + ")"
                      + (f"; not significantly better than {', '.join(f'`{n}`' for n in tied)} (95% paired interval "
                         "of the difference includes 0)" if tied else "; significantly better than every other arm")
                      + "".join(f"; `{n}` not compared: {why}" for n, why in skipped.items()))
    compared_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    comparison_id = f"rcmp-{compared_at:%Y%m%dT%H%M%S}-" + hashlib.sha256(
        ("|".join(info[n]["version"] for n in ranked) + str(split.describe())).encode()).hexdigest()[:8]
    rows = []
    for rank, n in enumerate(ranked, 1):
        for metric, values in per_arm[n].items():
            lo, hi = intervals[f"{n}|{metric}"]
            rows.append({"comparison_id": comparison_id, "compared_at": compared_at, "arm": n,
                         "arm_version": info[n]["version"], "rank": rank, "metric": metric, "slice": "all",
                         "value": float(np.nanmean(values)), "low": lo, "high": hi, "recommendation": recommendation})
        for sl, value in slices[n].items():
            rows.append({"comparison_id": comparison_id, "compared_at": compared_at, "arm": n,
                         "arm_version": info[n]["version"], "rank": rank, "metric": PRIMARY, "slice": sl,
                         "value": value, "low": None, "high": None, "recommendation": recommendation})
        if n != best:
            lo, hi = intervals[f"{n}-{best}|{primary}"]
            rows.append({"comparison_id": comparison_id, "compared_at": compared_at, "arm": n,
                         "arm_version": info[n]["version"], "rank": rank, "metric": f"{primary} minus best",
                         "slice": "all", "value": float(np.mean(flat[f"{n}-{best}|{primary}"])), "low": lo, "high": hi,
                         "recommendation": recommendation})
    replace_rows(con, "retrieval_comparison", pa.Table.from_pylist(rows))  # a new comparison_id: appended
    header = (f"| rank | arm | {primary} (95% CI) | minus best (95% CI) | recall@100 | ndcg@100 | recall@100 head "
              "| recall@100 tail | top100 popularity | negatives | seconds (waiting for the pool, training) |")
    lines = [header, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rank, n in enumerate(ranked, 1):
        lo, hi = intervals[f"{n}|{primary}"]
        diff = "" if n == best else "{:+.4f} ({:+.4f} to {:+.4f})".format(
            float(np.mean(flat[f"{n}-{best}|{primary}"])), *intervals[f"{n}-{best}|{primary}"])
        lines.append(f"| {rank} | {n} | {means[n]:.4f} ({lo:.4f} to {hi:.4f}) | {diff} | "
                     f"{per_arm[n]['recall@100'].mean():.4f} | {per_arm[n]['ndcg@100'].mean():.4f} | {slices[n]['head']:.4f} | {slices[n]['tail']:.4f} | "
                     f"{np.nanmean(per_arm[n]['top100_popularity']):.1f} | {info[n]['negatives']} | "
                     f"{info[n]['seconds']:.1f} |")
    meta: dict[str, Any] = {"comparison_id": comparison_id, "primary_metric": primary, "best_arm": best,
                            "arms": len(ranked), **split.describe()}
    for n in ranked:
        meta[f"{n}/{primary}"] = round(means[n], 5)
        meta[f"{n}/seconds"] = round(info[n]["seconds"], 1)
    meta["seconds/evaluate"] = round(evaluate_seconds, 1)
    meta["comparison"] = dg.MetadataValue.md("\n".join(lines))
    meta["recommendation"] = dg.MetadataValue.md(recommendation)
    return meta


def _comparison_code_version() -> str:
    pipeline = load_settings().pipeline
    policies = "".join(sorted(p.version for p in sampler_policies().values() if p.kind == "retrieval"))
    return sql_code_version("negatives/retrieval_negatives/draws", "model/retrieval_comparison/negatives",
                            "model/retrieval_model/positives", tables=["retrieval_comparison"]) + "-" + \
        hashlib.sha256((policies + pipeline.retrieval_compare_arms).encode()).hexdigest()[:8]


@dg.asset(
    group_name="model", pool=WAREHOUSE_POOL, kinds={"numpy", "duckdb"},
    code_version=_comparison_code_version(),
    deps=[ctr_labels, impression_context, item_state, users, candidates, events],
    description="The retrieval model trained on the pools of every retrieval sampler policy (packaged and the user's) "
    "on the same clicks (at most RECSYS_COMPARE_MAX_TRAIN_REQUESTS requests), evaluated over the full catalog on the same held-out days: ranked by truth_recall@100 where "
    "the logs have the truth, else by ips_recall@100 (clicks weighted by inverse exposure), with 95% paired "
    "bootstrap intervals and a recommendation.",
)
def retrieval_comparison(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         pipeline: PipelineConfig) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        meta = build_retrieval_comparison(con, pipeline, log=context.log.info)
    return dg.MaterializeResult(metadata=meta)
