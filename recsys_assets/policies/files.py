"""Where policy files live: the packaged defaults and the user's folder (RECSYS_POLICY_DIR).

Both hold ``weights/*.yaml``, ``samplers/*.yaml`` and ``comparison/*.yaml``. A user file with the same policy
name as a packaged one replaces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from recsys_assets.config import load_settings
from recsys_assets.policies.arms import ComparisonArm
from recsys_assets.policies.base import Policy, PolicyError
from recsys_assets.policies.samplers import SamplerPolicy
from recsys_assets.policies.weights import WeightPolicy

P = TypeVar("P", bound=Policy)

#: the packaged policies (this folder's subfolders)
PACKAGED_POLICY_DIR = Path(__file__).resolve().parent


def policy_dirs(kind: str) -> list[Path]:
    dirs = [PACKAGED_POLICY_DIR / kind]
    user = load_settings().pipeline.policy_path
    if user is not None:
        dirs.append(user / kind)
    return [d for d in dirs if d.is_dir()]


def policy_files(kind: str) -> list[Path]:
    return [p for d in policy_dirs(kind) for p in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml"))]


def _by_name(kind: str, model: type[P]) -> dict[str, P]:
    """Every policy of a folder by name: packaged first, then the user's (same name replaces)."""
    return {p.name: p for p in (model.from_file(path) for path in policy_files(kind))}


def weight_policies() -> dict[str, WeightPolicy]:
    return _by_name("weights", WeightPolicy)


def weight_policy(name: str) -> WeightPolicy:
    policies = weight_policies()
    if name not in policies:
        raise PolicyError(f"no weight policy named {name!r}; available: {sorted(policies)}")
    return policies[name]


def sampler_policies() -> dict[str, SamplerPolicy]:
    return _by_name("samplers", SamplerPolicy)


def sampler_policy(name: str, kind: str | None = None) -> SamplerPolicy:
    policies = sampler_policies()
    if name not in policies:
        raise PolicyError(f"no sampler policy named {name!r}; available: {sorted(policies)}")
    policy = policies[name]
    if kind is not None and policy.kind != kind:
        raise PolicyError(f"sampler policy {name!r} is a {policy.kind} policy, not {kind}")
    return policy


def comparison_arms() -> dict[str, ComparisonArm]:
    """The arms of the sampler comparison: packaged ones, then the user's (same name replaces)."""
    return _by_name("comparison", ComparisonArm)
