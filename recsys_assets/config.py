"""Pipeline tunables as a Dagster resource (label windows, cleaning rules, policies).

Defaults come from the environment (see README, "Configuration"), so partition mappings
and code versions, which Dagster reads when it loads the definitions, agree with what the
assets compute. Tests build the resource directly with other values.
"""

from __future__ import annotations

import os

import dagster as dg


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


class PipelineConfig(dg.ConfigurableResource):
    """Knobs shared by the clean, label, negative and model layers."""

    skew_tolerance_seconds: int = 120
    bot_max_requests_per_day: int = 500
    attribution_days: int = 30
    click_window_minutes: int = 30
    conversion_window_days: int = 7
    return_window_days: int = 30
    history_days: int = 28
    popularity_days: int = 7
    weight_policy: str = "ctr-default"
    ranking_sampler: str = "ranking-default"
    retrieval_sampler: str = "retrieval-default"
    eval_days: int = 2
    ranker_position_handling: str = "examination"
    ranker_use_weights: bool = False
    ranker_threads: int = 0
    ranker_learning_rate: float = 0.1
    ranker_num_leaves: int = 7
    ranker_max_rounds: int = 1500
    ranker_refit: bool = False  # after early stopping, fit again on the training days + the validation day
    # comma list of features the ranker leaves out (every model of the evaluation and comparison too);
    # brand, a categorical of hundreds of values, overfits click labels (measured in README)
    ranker_exclude_features: str = "brand"
    compare_arms: str = ""  # comma list of comparison arm names; empty = every arm in the folders
    compare_head_share: float = 0.8  # the head takes this share of clicks; the rest of the catalog is the tail
    compare_max_train_requests: int = 30_000  # per comparison, sampled with a fixed seed; 0 = every request

    @classmethod
    def from_env(cls) -> PipelineConfig:
        return cls(
            skew_tolerance_seconds=int(_env("RECSYS_SKEW_TOLERANCE_SECONDS", "120")),
            bot_max_requests_per_day=int(_env("RECSYS_BOT_MAX_REQUESTS_PER_DAY", "500")),
            attribution_days=int(_env("RECSYS_ATTRIBUTION_DAYS", "30")),
            click_window_minutes=int(_env("RECSYS_CLICK_WINDOW_MINUTES", "30")),
            conversion_window_days=int(_env("RECSYS_CONVERSION_WINDOW_DAYS", "7")),
            return_window_days=int(_env("RECSYS_RETURN_WINDOW_DAYS", "30")),
            history_days=int(_env("RECSYS_HISTORY_DAYS", "28")),
            popularity_days=int(_env("RECSYS_POPULARITY_DAYS", "7")),
            weight_policy=_env("RECSYS_WEIGHT_POLICY", "ctr-default"),
            ranking_sampler=_env("RECSYS_RANKING_SAMPLER", "ranking-default"),
            retrieval_sampler=_env("RECSYS_RETRIEVAL_SAMPLER", "retrieval-default"),
            eval_days=int(_env("RECSYS_EVAL_DAYS", "2")),
            ranker_position_handling=_env("RECSYS_RANKER_POSITION_HANDLING", "examination"),
            ranker_use_weights=_env("RECSYS_RANKER_USE_WEIGHTS", "false").lower() in ("1", "true", "yes"),
            ranker_threads=int(_env("RECSYS_RANKER_THREADS", "0")),
            ranker_learning_rate=float(_env("RECSYS_RANKER_LEARNING_RATE", "0.1")),
            ranker_num_leaves=int(_env("RECSYS_RANKER_NUM_LEAVES", "7")),
            ranker_max_rounds=int(_env("RECSYS_RANKER_MAX_ROUNDS", "1500")),
            ranker_refit=_env("RECSYS_RANKER_REFIT", "false").lower() in ("1", "true", "yes"),
            ranker_exclude_features=_env("RECSYS_RANKER_EXCLUDE_FEATURES", "brand"),
            compare_arms=_env("RECSYS_COMPARE_ARMS", ""),
            compare_head_share=float(_env("RECSYS_COMPARE_HEAD_SHARE", "0.8")),
            compare_max_train_requests=int(_env("RECSYS_COMPARE_MAX_TRAIN_REQUESTS", "30000")),
        )
