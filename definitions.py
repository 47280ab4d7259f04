"""Entry point for `dagster dev -f definitions.py` and tools that expect a file at the repo root.

`dg dev` / `dg check defs` use `recsys_assets.definitions` through `[tool.dg]` in pyproject.toml.
"""

from recsys_assets.definitions import defs

__all__ = ["defs"]
