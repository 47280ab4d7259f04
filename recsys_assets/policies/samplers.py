"""Sampler policies: typed model of the YAML files in ``policies/samplers/``; the version
(``name@<content hash>``) is stored on every negative row and every model."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys_assets.policies.base import Policy, vocabulary
from recsys_assets.policies.weights import NEGATIVE_TYPES

RETRIEVAL_SOURCES = ("uniform", "popularity", "same_category", "exposed_no_click", "hard")
FILTERS = ("eligible_at_request_time", "visible_to_user", "not_known_positive", "not_same_dedup_group",
           "not_policy_blocked")


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ratio: float = Field(ge=0, le=1)
    weight: float = Field(ge=0)


class DriftSpec(BaseModel):
    """Thresholds of the drift check (``checks/sampler_checks.py``, ``sql/checks/sampler_drift.sql``).

    A metric alarms only when its PSI (or a share difference) is both above the threshold
    and larger than sampling noise would make it at ``confidence``, for the effective
    sample sizes n of the day and of the baseline (negatives of one request or of one item
    move together, so n is at most the number of requests or items, see the SQL). Below
    ``min_n`` on either side the distribution is not judged: the check passes with
    "not enough data (n = ... < min_n)". The default 100 is five draws per key of the
    widest mix (20 categories), the usual condition for the chi-square approximation
    behind the noise bound.
    """

    model_config = ConfigDict(extra="forbid")
    baseline_days: int = Field(default=7, ge=1)
    psi_warn: float = Field(default=0.1, gt=0)
    psi_error: float = Field(default=0.25, gt=0)
    share_tolerance: float = Field(default=0.1, gt=0, le=1)
    min_n: int = Field(default=100, ge=1)
    confidence: float = Field(default=0.999, ge=0.5, lt=1)

    @model_validator(mode="after")
    def _order(self) -> DriftSpec:
        if self.psi_error < self.psi_warn:
            raise ValueError("drift.psi_error must be >= drift.psi_warn")
        return self


class RetrievalTraining(BaseModel):
    """How the retrieval model uses a pool's hard negatives (``training`` in a retrieval policy).

    ``hard_curriculum_epochs``: the share of the pool's ``hard`` negatives in the loss rises
    from ``1 / E`` in the first epoch to all of them from epoch ``E`` (0 = all from the
    start). ``max_cosine``: from the second epoch, a ``hard``, ``same_category`` or
    ``exposed_no_click`` negative whose item vector is closer to its positive's than this
    cosine, in the model being trained, is left out of the loss as a likely false negative
    (unset = no filter)."""

    model_config = ConfigDict(extra="forbid")
    hard_curriculum_epochs: int = Field(default=0, ge=0, le=50)
    max_cosine: float | None = Field(default=None, gt=-1, lt=1)


class SamplerPolicy(Policy):
    kind: Literal["ranking", "retrieval"]
    seed: int = 0
    filters: Annotated[list[str], vocabulary(FILTERS, "filter(s)")] = Field(default_factory=list)
    drift: DriftSpec = DriftSpec()
    # ranking
    negative_types: Annotated[list[str], vocabulary(NEGATIVE_TYPES, "negative type(s)")] = Field(
        default_factory=lambda: list(NEGATIVE_TYPES))
    requests: Literal["with_click", "all"] = "with_click"
    max_negatives_per_positive: int | None = Field(default=None, ge=1)
    # retrieval
    negatives_per_positive: int = Field(default=0, ge=0, le=1000)
    alpha: float = Field(default=0.75, ge=0, le=2)
    mix: Annotated[dict[str, SourceSpec], vocabulary(RETRIEVAL_SOURCES, "source(s)")] = Field(default_factory=dict)
    hard_top_k: int = Field(default=10, ge=1)
    oversample: int = Field(default=4, ge=1, le=50)
    training: RetrievalTraining = RetrievalTraining()

    @model_validator(mode="after")
    def _kind_rules(self) -> SamplerPolicy:
        if self.kind == "retrieval":
            if not self.mix:
                raise ValueError("a retrieval policy needs a mix of sources")
            total = sum(s.ratio for s in self.mix.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"mix ratios must sum to 1, got {total:.4f}")
            if self.negatives_per_positive < 1:
                raise ValueError("negatives_per_positive must be >= 1 for a retrieval policy")
        elif self.mix:
            raise ValueError("a ranking policy takes its negatives from ctr_labels; 'mix' is for retrieval policies")
        elif self.training != RetrievalTraining():
            raise ValueError("'training' is for retrieval policies (how the retrieval model uses the pool)")
        return self

    def source_counts(self) -> dict[str, int]:
        """Negatives per positive from each source, summing exactly to negatives_per_positive
        (largest remainder, ties by source order)."""
        k = self.negatives_per_positive
        exact = {s: spec.ratio * k for s, spec in self.mix.items()}
        counts = {s: int(v) for s, v in exact.items()}
        order = sorted(exact, key=lambda s: (-(exact[s] - counts[s]), RETRIEVAL_SOURCES.index(s)))
        for s in order[: k - sum(counts.values())]:
            counts[s] += 1
        return counts

    def ranking_params(self) -> dict[str, object]:
        return {
            "sampler_version": self.version,
            "negative_types": list(self.negative_types),
            "all_requests": self.requests == "all",
            "max_per_positive": self.max_negatives_per_positive or 0,
            "seed": self.seed,
            "f_eligible": "eligible_at_request_time" in self.filters,
            "f_known_positive": "not_known_positive" in self.filters,
        }

    def retrieval_params(self) -> dict[str, object]:
        counts = self.source_counts()
        sources = [s for s in RETRIEVAL_SOURCES if counts.get(s, 0) > 0]
        return {
            "sampler_version": self.version,
            "seed": self.seed,
            "alpha": self.alpha,
            "hard_top_k": self.hard_top_k,
            "oversample": self.oversample,
            "src_names": sources,
            "src_counts": [counts[s] for s in sources],
            "src_weights": [self.mix[s].weight for s in sources],
            "f_eligible": "eligible_at_request_time" in self.filters,
            "f_visible": "visible_to_user" in self.filters,
            "f_known_positive": "not_known_positive" in self.filters,
            "f_dedup": "not_same_dedup_group" in self.filters,
            "f_blocked": "not_policy_blocked" in self.filters,
        }

