"""The session helpers every connection goes through."""

from recsys_assets.assets.direct import connect
from recsys_assets.warehouse.sql import release_memory


def _cached_mb(con) -> float:
    return con.execute("SELECT sum(memory_usage_bytes) / 2^20 FROM duckdb_memory()").fetchone()[0]


def test_release_memory_drops_duckdbs_cached_blocks_and_restores_the_limit_exactly(tmp_path):
    con = connect(str(tmp_path / "w.duckdb"), memory_limit="700MB", spill=tmp_path / "spill")
    shown = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    # a temporary table's blocks stand for what a large query leaves in DuckDB's buffer pool
    con.execute("CREATE TEMP TABLE t AS SELECT range AS k, range * 2 AS v FROM range(20000000)")
    before = _cached_mb(con)
    assert before > 100
    release_memory(con)
    assert _cached_mb(con) < before / 4
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == shown
    assert con.execute("SELECT getvariable('recsys_memory_limit')").fetchone()[0] == "700MB"
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 20000000  # the data is still there


def test_release_memory_is_a_no_op_without_a_recorded_limit(tmp_path):
    con = connect(spill=tmp_path / "spill")
    shown = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    release_memory(con)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == shown
