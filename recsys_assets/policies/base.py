"""What every policy file shares: a typed YAML model with a name, a content hash and a version.

A policy is a product decision, so it is declared, versioned and measured: its version is
``name@<hash of the file's content>``, stored on every row and model it shapes. A file that
cannot be used raises ``PolicyError`` naming the file and the rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Self, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

T = TypeVar("T")


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the rule."""


class Policy(BaseModel):
    """Base of the weight, sampler and comparison-arm policies."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    content_hash: str = Field(default="", exclude=True)

    @property
    def version(self) -> str:
        return f"{self.name}@{self.content_hash}"

    @classmethod
    def from_file(cls, path: Path) -> Self:
        """The YAML file as a policy with its content hash; a PolicyError names the file and
        the rule otherwise."""
        text = path.read_text()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise PolicyError(f"{path}: expected a mapping at the top level")
        try:
            policy = cls.model_validate(data)
        except ValidationError as exc:
            raise PolicyError(f"{path}: {_explain(exc)}") from exc
        return policy.model_copy(update={"content_hash": content_hash(text)})


def vocabulary(names: Iterable[str], what: str) -> AfterValidator:
    """A field validator: the field's names (list items or mapping keys) must be in ``names``."""
    names = list(names)

    def check(value: T) -> T:
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"unknown {what} {unknown}; known: {names}")
        return value

    return AfterValidator(check)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
