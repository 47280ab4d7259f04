"""Comparison arms: typed model of the YAML files in ``policies/comparison/``.

An arm is one way of turning the logs into ranker training data, trained and evaluated
side by side with the others by the ``sampler_comparison`` asset:

- ``negatives``: which shown non-clicks become negatives: a list of ranking sampler
  policies, each by name (a file in ``policies/samplers/``) or inline (the fields of a
  ranking sampler policy); the arm's negatives are their union;
- ``weights``: ``equal`` (every row weighs 1) or ``labels`` (the weights ``ctr_labels``
  carries, from the weight policy: visibility, position, repeated exposure);
- ``position_handling``: as in ``RankerConfig`` (``none``, ``examination``, ``ipw``,
  ``lambdarank_position``, ``lambdarank``).

The packaged arms live in ``recsys_assets/policies/comparison/``; a user adds arms by
dropping YAML files into ``$RECSYS_POLICY_DIR/comparison/`` (same name replaces).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from recsys_assets.policies.base import Policy, PolicyError
from recsys_assets.policies.samplers import SamplerPolicy

POSITION_HANDLING = ("none", "examination", "ipw", "lambdarank_position", "lambdarank")


class ComparisonArm(Policy):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    negatives: list[str | dict[str, Any]] = Field(min_length=1)
    weights: Literal["equal", "labels"] = "equal"
    position_handling: Literal["none", "examination", "ipw", "lambdarank_position", "lambdarank"] = "none"

    @field_validator("negatives")
    @classmethod
    def _inline_policies_are_valid(cls, value: list[str | dict[str, Any]]) -> list[str | dict[str, Any]]:
        for i, item in enumerate(value):
            if isinstance(item, dict):
                if "kind" in item and item["kind"] != "ranking":
                    raise ValueError(f"negatives[{i}]: an arm draws ranking negatives, not {item['kind']}")
                SamplerPolicy.model_validate({"name": f"inline-{i}", "kind": "ranking"} | item)
        return value

    def samplers(self, by_name: dict[str, SamplerPolicy]) -> list[SamplerPolicy]:
        """The arm's ranking sampler policies; ``by_name`` are the policy files."""
        out = []
        for i, item in enumerate(self.negatives):
            if isinstance(item, str):
                policy = by_name.get(item)
                if policy is None:
                    raise PolicyError(f"comparison arm {self.name!r}: no sampler policy named {item!r}; "
                                      f"available: {sorted(by_name)}")
                if policy.kind != "ranking":
                    raise PolicyError(f"comparison arm {self.name!r}: sampler policy {item!r} is a {policy.kind} policy")
                out.append(policy)
            else:
                out.append(SamplerPolicy.model_validate({"name": f"{self.name}#{i}", "kind": "ranking"} | item))
        return out

