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


def test_a_history_table_keeps_its_rows_when_its_ddl_only_adds_columns():
    """The registry is not rebuilt from the logs: an upgrade that adds a column (model_kind
    came that way) keeps its rows, the new column at its default; a change of a column's type
    recreates it empty like any other table."""
    con = connect()
    ensure_schema(con)
    con.execute("ALTER TABLE model_registry DROP COLUMN model_kind")  # the table as an older version wrote it
    con.execute("INSERT INTO model_registry (model_id, registered_at, model_path, training_partitions, eval_partitions, "
                "rows, positives, data_fingerprint, metrics) VALUES ('m1', TIMESTAMP '2026-01-05 10:00', '/m1', "
                "'2026-01-01', '2026-01-04', 10, 2, 'f', '{}')")
    con.execute("UPDATE _schema_versions SET ddl_hash = 'older' WHERE table_name = 'model_registry'")
    assert ensure_schema(con) == ["model_registry"]
    assert con.execute("SELECT model_id, model_path, rows, model_kind FROM model_registry").fetchall() == [
        ("m1", "/m1", 10, "ctr_ranker")]
    assert [c[0] for c in con.execute("DESCRIBE model_registry").fetchall()][-1] == "model_kind"

    con.execute("ALTER TABLE model_registry ALTER COLUMN rows TYPE VARCHAR")  # a changed type: not kept
    con.execute("UPDATE _schema_versions SET ddl_hash = 'older' WHERE table_name = 'model_registry'")
    assert ensure_schema(con) == ["model_registry"]
    assert con.execute("SELECT count(*) FROM model_registry").fetchone()[0] == 0
    assert "_previous_model_registry" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
