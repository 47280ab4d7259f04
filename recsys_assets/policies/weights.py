"""CTR weight policies: typed model of the YAML files in ``policies/weights/``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recsys_assets.policies.base import Policy, vocabulary

NEGATIVE_TYPES = ("explicit_hide", "skip_above", "below_last_click", "exposed_no_click", "never_visible")
NO_MAX_POSITION = 1_000_000


class PositionFactor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_position: int | None = Field(default=None, ge=1)
    factor: float = Field(ge=0)


class BelowLastClick(BaseModel):
    model_config = ConfigDict(extra="forbid")
    free_positions: int = Field(default=0, ge=0)
    decay: float = Field(default=1.0, gt=0, le=1)


class RepeatExposure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_prior: int = Field(default=1, ge=1)
    factor: float = Field(default=1.0, ge=0)


class WeightPolicy(Policy):
    positive_weight: float = Field(default=1.0, gt=0)
    negative_types: Annotated[dict[str, float], vocabulary(NEGATIVE_TYPES, "negative type(s)")]
    never_visible: Literal["zero_weight", "exclude"] = "zero_weight"
    min_visible_ms: int = Field(default=1, ge=0)
    visibility_unknown_factor: float = Field(default=1.0, ge=0)
    position_factors: list[PositionFactor] = Field(min_length=1)
    below_last_click: BelowLastClick = BelowLastClick()
    repeat_exposure: RepeatExposure = RepeatExposure()

    @field_validator("negative_types")
    @classmethod
    def _types(cls, value: dict[str, float]) -> dict[str, float]:
        missing = sorted(set(NEGATIVE_TYPES) - set(value))
        if missing:
            raise ValueError(f"missing weight for negative type(s) {missing}")
        if any(w < 0 for w in value.values()):
            raise ValueError("negative type weights must be >= 0")
        return value

    @model_validator(mode="after")
    def _buckets(self) -> WeightPolicy:
        maxes = [b.max_position if b.max_position is not None else NO_MAX_POSITION for b in self.position_factors]
        if maxes != sorted(maxes) or len(set(maxes)) != len(maxes):
            raise ValueError("position_factors must be in increasing max_position order")
        if maxes[-1] != NO_MAX_POSITION:
            raise ValueError("the last position_factors bucket must have max_position: null (covers every position)")
        return self

    def sql_params(self) -> dict[str, object]:
        """Bound parameters of the label SQL."""
        w = self.negative_types
        return {
            "w_positive": self.positive_weight,
            "w_explicit_hide": w["explicit_hide"],
            "w_skip_above": w["skip_above"],
            "w_below_last_click": w["below_last_click"],
            "w_exposed_no_click": w["exposed_no_click"],
            "w_never_visible": w["never_visible"],
            "exclude_never_visible": self.never_visible == "exclude",
            "min_visible_ms": self.min_visible_ms,
            "visibility_unknown_factor": self.visibility_unknown_factor,
            "pf_max": [b.max_position if b.max_position is not None else NO_MAX_POSITION for b in self.position_factors],
            "pf_factor": [b.factor for b in self.position_factors],
            "below_free": self.below_last_click.free_positions,
            "below_decay": self.below_last_click.decay,
            "repeat_min": self.repeat_exposure.min_prior,
            "repeat_factor": self.repeat_exposure.factor,
            "weight_policy": self.version,
        }

