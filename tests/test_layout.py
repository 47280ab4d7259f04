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
