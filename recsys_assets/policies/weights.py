"""CTR weight policies: typed model of the YAML files in ``policies/weights/``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PolicyModel = TypeVar("PolicyModel", bound=BaseModel)

NEGATIVE_TYPES = ("explicit_hide", "skip_above", "below_last_click", "exposed_no_click", "never_visible")
NO_MAX_POSITION = 1_000_000


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the rule."""


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


class WeightPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    positive_weight: float = Field(default=1.0, gt=0)
    negative_types: dict[str, float]
    never_visible: Literal["zero_weight", "exclude"] = "zero_weight"
    min_visible_ms: int = Field(default=1, ge=0)
    visibility_unknown_factor: float = Field(default=1.0, ge=0)
    position_factors: list[PositionFactor] = Field(min_length=1)
    below_last_click: BelowLastClick = BelowLastClick()
    repeat_exposure: RepeatExposure = RepeatExposure()
    content_hash: str = Field(default="", exclude=True)

    @field_validator("negative_types")
    @classmethod
    def _types(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(NEGATIVE_TYPES))
        if unknown:
            raise ValueError(f"unknown negative type(s) {unknown}; known: {list(NEGATIVE_TYPES)}")
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

    @property
    def version(self) -> str:
        return f"{self.name}@{self.content_hash}"

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


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def parse_policy_file(path: Path, model: type[PolicyModel]) -> PolicyModel:
    """A YAML policy file as a typed model with its content hash; a PolicyError names the
    file and the rule otherwise. Shared by weight, sampler and comparison policies."""
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping at the top level")
    try:
        policy = model.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{path}: {_explain(exc)}") from exc
    return policy.model_copy(update={"content_hash": content_hash(text)})


def parse_weight_policy(path: Path) -> WeightPolicy:
    return parse_policy_file(path, WeightPolicy)


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
