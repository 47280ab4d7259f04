"""README is the front door: short, and its selection examples do what it says."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg

from recsys_assets.definitions import build_definitions

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_is_at_most_250_lines_and_links_the_figures():
    assert len(README.splitlines()) <= 250
    assert "benchmarks/RESULTS.md" in README
    assert (Path(__file__).resolve().parents[1] / "benchmarks" / "RESULTS.md").is_file()


def test_selection_examples_select_what_readme_says():
    graph = build_definitions().resolve_asset_graph()
    examples = re.findall(r"`'([^']+)'` (is it and everything upstream|two\s+layers)", README)
    assert len(examples) == 2, examples
    upstream = {k.to_user_string() for k in dg.AssetSelection.from_string(examples[0][0]).resolve(graph)}
    assert {"ctr_labels", "impression_context", "events", "raw_logs", "item_state"} <= upstream
    layers = {graph.get(k).group_name for k in dg.AssetSelection.from_string(examples[1][0]).resolve(graph)}
    assert layers == {"clean", "snapshots"}
