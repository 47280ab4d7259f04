"""Table DDL: missing tables are created, a table whose DDL changed is recreated (empty, its
asset's code version changes with it), and every other table keeps its rows."""

from __future__ import annotations

from recsys_assets.assets.direct import connect
from recsys_assets.warehouse.tables import all_tables, ensure_schema, missing_tables


def test_missing_tables_are_created_and_a_changed_ddl_recreates_only_its_table():
    con = connect()
    assert ensure_schema(con) == [] and missing_tables(con, all_tables()) == []
    con.execute("INSERT INTO outages VALUES (TIMESTAMP '2026-01-05 10:00', TIMESTAMP '2026-01-05 11:00', NULL, NULL)")
    con.execute("INSERT INTO users VALUES ('u1', NULL, NULL, NULL, false)")
    con.execute("UPDATE _schema_versions SET ddl_hash = 'stale' WHERE table_name = 'outages'")
    assert ensure_schema(con) == ["outages"]
    assert con.execute("SELECT count(*) FROM outages").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM users").fetchone()[0] == 1
    assert ensure_schema(con) == []  # recorded again: nothing more to do
