"""Exact bookkeeping of injected dirt and other facts, for the manifest."""

from __future__ import annotations

from typing import Any


class Ledger:
    """Nested counters addressed by key paths, e.g. ``add("duplicates", "events", count=3)``."""

    def __init__(self) -> None:
        self._root: dict[str, Any] = {}

    def _parent(self, path: tuple[str, ...]) -> dict[str, Any]:
        node = self._root
        for key in path[:-1]:
            node = node.setdefault(key, {})
        return node

    def add(self, *path: str, count: int) -> None:
        """Increase the counter at ``path`` (creating it at zero)."""
        parent = self._parent(path)
        parent[path[-1]] = parent.get(path[-1], 0) + int(count)

    def set(self, *path: str, value: Any) -> None:
        """Store a fact (any JSON value) at ``path``."""
        self._parent(path)[path[-1]] = value

    def as_dict(self) -> dict[str, Any]:
        return self._root
