"""The SQL's DuckDB-only constructs are counted file by file and may not grow: a statement that
adds one (an ASOF join, a macro, rowid, hash() ...) fails here naming the file, the construct and
why another engine cannot run it; a port that removes some must lower the recorded baseline."""

from __future__ import annotations

import pytest

from recsys_assets.warehouse.portability import differences, inventory, load_baseline, scan_statement


def test_no_sql_file_uses_more_duckdb_only_constructs_than_recorded():
    assert differences(inventory(), load_baseline()) == []


@pytest.mark.parametrize(("statement", "construct"), [
    ("SELECT * FROM a ASOF LEFT JOIN b ON a.k = b.k AND b.t <= a.t", "asof_join"),
    ("SELECT rowid FROM impressions", "rowid"),
    ("CREATE OR REPLACE TEMP MACRO twice(x) AS x * 2", "macro"),
    ("SELECT hash(request_id) FROM requests", "hash_function"),
    ("SELECT sum(x) OVER (ORDER BY t RANGE BETWEEN to_days($window) PRECEDING AND CURRENT ROW) FROM e",
     "parameter_frame_bound"),
    ("SELECT row_number() OVER () FROM e", "unordered_row_number"),
    ("DELETE FROM impressions WHERE day = $day", "delete"),
    ("SELECT CAST(x AS UBIGINT) FROM e", "wide_integer"),
    ("SELECT arg_min(category, valid_from) FROM item_state", "arg_min_max"),
    ("SELECT csv_contains(regions, region) FROM items", "macro_call"),
])
def test_each_construct_is_found(statement, construct):
    assert scan_statement(statement)[construct] >= 1


def test_portable_sql_is_not_flagged():
    statement = ("SELECT l.request_id, count(*) FILTER (WHERE l.label = 1) AS clicks, "
                 "row_number() OVER (PARTITION BY l.day ORDER BY l.request_id) AS n "
                 "FROM ctr_labels l LEFT JOIN users u ON u.user_id = l.user_id WHERE l.day BETWEEN $a AND $b "
                 "GROUP BY l.request_id, l.day")
    assert scan_statement(statement) == {}


def test_a_construct_added_to_a_file_is_reported_with_the_file_and_the_reason():
    current = inventory()
    grown = {**current, "clean/events/build": {**current["clean/events/build"], "asof_join": 1}}
    (line,) = differences(grown, current)
    assert line.startswith("sql/clean/events/build.sql: asof_join used 1 times, 0 allowed (no ASOF join on Spark")
    (lower,) = differences(current, grown)
    assert "down to 0 from 1: lower the baseline" in lower
