"""The SQL tree is the asset map: one folder per asset, `sql/<group>/<asset>/`, named as the
asset and its table; the only other folders are the side tables some assets write beside
their own (README, "What it builds"), and every SQL file the code names exists."""

from __future__ import annotations

import re
from pathlib import Path

from recsys_assets.definitions import defs
from recsys_assets.warehouse.sql import SQL_DIR
from recsys_assets.warehouse.tables import all_tables

ROOT = Path(__file__).resolve().parents[1]
#: tables written beside another asset's table, in the same transaction, and by whom
SIDE_TABLES = {
    "quarantine": "clean", "row_accounting": "clean", "label_exclusions": "labels", "sampler_draws": "negatives",
}


def _assets() -> dict[str, str]:
    graph = defs.resolve_asset_graph()
    return {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}


def test_every_asset_has_its_sql_folder_in_its_group_and_nothing_else_does():
    folders = {p.name: p.parent.name for p in SQL_DIR.glob("*/*") if p.is_dir()}
    assert folders == _assets() | SIDE_TABLES


def test_every_table_is_an_asset_or_a_documented_side_table():
    assets = _assets()
    assert set(all_tables()) - set(assets) == set(SIDE_TABLES)
    readme = (ROOT / "README.md").read_text()
    assert all(f"*`{table}`*" in readme for table in SIDE_TABLES)


def test_every_sql_name_in_the_code_is_a_file():
    named = set()
    for path in (ROOT / "recsys_assets").rglob("*.py"):
        named |= set(re.findall(r"[\"']((?:sources|clean|snapshots|labels|negatives|metrics|model|reports|checks)"
                                r"/[a-z_]+(?:/[a-z_]+)?)[\"']", path.read_text()))
    assert len(named) > 40
    assert not [name for name in named if not (SQL_DIR / f"{name}.sql").is_file()]


def test_the_direct_builders_cover_the_graph_and_take_its_order():
    """`assets/direct.py` (validate, benchmarks, fast tests) has a builder for every asset a
    Dagster run is not needed for, of the right kind, and runs them in the graph's order."""
    from recsys_assets.assets.direct import (
        DAGSTER_ONLY,
        DAILY_BUILDERS,
        TABLE_BUILDERS,
        build_groups,
        connect,
        graph_order,
    )

    kinds = {name: partitioned for name, _, partitioned in graph_order()}
    assert set(kinds) == set(DAILY_BUILDERS) | set(TABLE_BUILDERS) | DAGSTER_ONLY
    assert all(kinds[name] for name in DAILY_BUILDERS) and not any(kinds[name] for name in TABLE_BUILDERS)
    called: list[str] = []
    build_groups(connect(), None, [], None, {group for _, group, _ in graph_order()},
                 timer=lambda name, _build: called.append(name))  # records the order, builds nothing
    assert set(called) == set(kinds) - DAGSTER_ONLY
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if key.to_user_string() in called:
            parents = {p.to_user_string() for p in graph.get(key).parent_keys} & set(called)
            assert all(called.index(p) < called.index(key.to_user_string()) for p in parents), key
