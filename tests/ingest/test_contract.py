"""Given logs that break the input contract, the run fails naming file, column and rule,
or the bad row lands in quarantine with its reason. Nothing is dropped silently."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from logbuilder import T0, at, minimal_logs, write_csv
from pipeline import failure_text, materialize, sql

from recsys_assets.ingest.reader import ContractError, inspect_logs

DAY = "2026-01-05"


# ---------------------------------------------------------------- file-level faults


def _problems(root) -> list[str]:
    con = duckdb.connect()
    try:
        return [str(p) for p in inspect_logs(con, root).problems]
    finally:
        con.close()


def _missing_position(root):
    minimal_logs(root, impressions=[{"request_id": "r1", "item_id": "i1"}])
    return "impressions", "position", "required column is missing"


def _ts_as_boolean(root):
    minimal_logs(root, requests=[{"request_id": "r1", "ts": True}])
    return "requests", "ts", "cannot hold a timestamp"


def _position_as_double(root):
    minimal_logs(root, impressions=[{"request_id": "r1", "item_id": "i1", "position": 1.5}])
    return "impressions", "position", "cannot hold a int"


def _garbage_file(root):
    minimal_logs(root)
    (root / "events" / "broken.parquet").write_bytes(b"this is not parquet")
    return "events", "broken.parquet", "unreadable"


def _no_events_table(root):
    minimal_logs(root)
    for f in (root / "events").iterdir():
        f.unlink()
    return "events", "events", "required table has no .parquet or .csv files"


def _csv_missing_required(root):
    minimal_logs(root)
    write_csv(root, "events", "event_id,ts,item_id\ne9,2026-01-05 10:00:00,i1\n")
    return "events", "type", "required column is missing"


@pytest.mark.parametrize(
    "build", [_missing_position, _ts_as_boolean, _position_as_double, _garbage_file, _no_events_table, _csv_missing_required]
)
def test_file_level_faults_name_file_column_and_rule(tmp_path, build):
    table, where, rule = build(tmp_path)
    problems = _problems(tmp_path)
    assert problems, "the contract check found nothing"
    hit = [p for p in problems if where in p and rule in p and table in p]
    assert hit, f"no problem mentions {table}/{where}/{rule}: {problems}"


def test_a_broken_file_fails_the_run_with_every_problem_listed(home):
    logs = home / "logs"
    minimal_logs(logs, impressions=[{"request_id": "r1", "item_id": "i1"}], requests=[{"request_id": "r1", "ts": True}])
    (result,) = materialize(["raw_logs"], raise_on_error=False)
    assert not result.success
    message = failure_text(result)
    assert "column 'position': required column is missing" in message
    assert "column 'ts': type BOOLEAN cannot hold a timestamp" in message
    assert "impressions/part-0.parquet" in message and "requests/part-0.parquet" in message


def test_unknown_columns_are_a_warning_not_an_error(tmp_path):
    minimal_logs(tmp_path, requests=[{"request_id": "r1", "ts": T0, "campaign": "x"}])
    con = duckdb.connect()
    inv = inspect_logs(con, tmp_path)
    assert inv.problems == []
    assert any("campaign" in str(w) for w in inv.warnings)


def test_contract_error_lists_all_problems():
    from recsys_assets.ingest.reader import Problem

    err = ContractError([Problem("events", "/x/e.parquet", "ts", "required column is missing"),
                         Problem("items", "/x/i.parquet", None, "unreadable: boom")])
    assert "2 input contract problem(s)" in str(err)
    assert "/x/e.parquet: column 'ts': required column is missing" in str(err)
    assert "/x/i.parquet: file: unreadable: boom" in str(err)


# ---------------------------------------------------------------- row-level faults

# One logs directory holding one bad row of each kind next to good rows. Each expectation
# is (table, reason, a value that identifies the raw row in its JSON).
ROW_FAULTS = [
    ("impressions", "invalid_value:position", '"item_id":"i_pos0"'),
    ("impressions", "invalid_value:visible_ms", '"item_id":"i_negvis"'),
    ("impressions", "invalid_value:propensity", '"item_id":"i_prop"'),
    ("impressions", "missing_required:item_id", '"position":7'),
    ("impressions", "unknown_request", '"request_id":"r_ghost"'),
    ("impressions", "position_conflict", '"item_id":"i_samepos"'),
    ("impressions", "item_repeated_in_slate", '"position":9'),
    ("events", "invalid_value:type", '"type":"clik"'),
    ("events", "missing_required:event_id", '"item_id":"i_noid"'),
    ("events", "conflicting_duplicate:event_id", '"item_id":"i_conflict"'),
    ("events", "event_precedes_request", '"event_id":"e_early"'),
    ("events", "ts_in_future", '"event_id":"e_2099"'),
    ("requests", "missing_required:ts", '"request_id":"r_nots"'),
    ("requests", "invalid_value:traffic", '"request_id":"r_robot"'),
    ("requests", "unparseable:is_exploration", '"request_id":"r_csv"'),
    ("requests", "unparseable:ts", '"request_id":"r_badts"'),
    ("items", "invalid_value:status", '"item_id":"i_weird"'),
    ("items", "conflicting_item_version", '"item_id":"i1"'),
    ("outages", "invalid_value:end_ts", '"surface":"search"'),
]


@pytest.fixture(scope="module")
def dirty_run(module_home):
    home = module_home
    logs = home / "logs"
    minimal_logs(
        logs,
        requests=[
            {"request_id": "r1", "ts": T0, "user_id": "u1"},
            {"request_id": "r_nots", "ts": None, "user_id": "u1"},
            {"request_id": "r_robot", "ts": at(5), "user_id": "u1", "traffic": "robot"},
        ],
        impressions=[
            {"request_id": "r1", "item_id": "i1", "position": 1},
            {"request_id": "r1", "item_id": "i2", "position": 2},
            {"request_id": "r1", "item_id": "i_samepos", "position": 2, "event_id": "imp-samepos"},
            {"request_id": "r1", "item_id": "i1", "position": 9},
            {"request_id": "r1", "item_id": "i_pos0", "position": 0},
            {"request_id": "r1", "item_id": "i_negvis", "position": 3, "visible_ms": -5},
            {"request_id": "r1", "item_id": "i_prop", "position": 4, "propensity": 1.7},
            {"request_id": "r1", "item_id": None, "position": 7},
            {"request_id": "r_ghost", "item_id": "i1", "position": 1, "ts": T0},
        ],
        events=[
            {"event_id": "e1", "ts": at(1), "type": "click", "item_id": "i1", "user_id": "u1", "request_id": "r1"},
            {"event_id": "e2", "ts": at(2), "type": "clik", "item_id": "i1", "user_id": "u1", "request_id": "r1"},
            {"event_id": None, "ts": at(2), "type": "click", "item_id": "i_noid", "user_id": "u1", "request_id": "r1"},
            {"event_id": "e1", "ts": at(3), "type": "click", "item_id": "i_conflict", "user_id": "u1", "request_id": "r1"},
            {"event_id": "e_early", "ts": at(-30), "type": "click", "item_id": "i2", "user_id": "u1", "request_id": "r1"},
            {"event_id": "e_2099", "ts": dt.datetime(2099, 1, 1), "type": "click", "item_id": "i1", "user_id": "u1"},
        ],
        items=[
            {"item_id": "i1", "valid_from": at(days=-30), "status": "active", "in_stock": True},
            {"item_id": "i1", "valid_from": at(days=-30), "status": "active", "in_stock": False},
            {"item_id": "i2", "valid_from": at(days=-30)},
            {"item_id": "i_weird", "valid_from": at(days=-30), "status": "sold"},
        ],
        outages=[{"start_ts": at(60), "end_ts": at(30), "surface": "search"}],
    )
    write_csv(logs, "requests", "request_id,ts,user_id,is_exploration\nr_csv,2026-01-05 11:00:00,u2,maybe\n"
              "r_badts,yesterday-ish,u2,false\nr_csvok,2026-01-05T11:30:00Z,u2,true\n", name="extra.csv")
    materialize(["raw_logs", "outages", "users", "items"])
    materialize(["requests", "impressions", "events", "candidates"], [DAY])
    return home


@pytest.mark.parametrize("table,reason,marker", ROW_FAULTS, ids=[f"{t}:{r}" for t, r, _ in ROW_FAULTS])
def test_bad_rows_are_quarantined_with_their_reason(dirty_run, table, reason, marker):
    rows = sql("SELECT raw FROM quarantine WHERE source_table = ? AND reason = ?", [table, reason])
    assert rows, f"no {table} row quarantined as {reason}"
    assert any(marker in r[0] for r in rows), f"{reason}: raw rows {rows} lack {marker}"


def test_good_rows_survive_next_to_bad_ones(dirty_run):
    assert sql("SELECT request_id FROM requests ORDER BY 1") == [("r1",), ("r_csvok",)]
    assert sql("SELECT item_id, position FROM impressions ORDER BY position") == [("i1", 1), ("i2", 2)]
    assert sql("SELECT event_id, item_id FROM events") == [("e1", "i1")]
    # the tie rule keeps the most restrictive of two conflicting versions of i1
    assert sql("SELECT in_stock FROM items WHERE item_id = 'i1'") == [(False,)]
    # a CSV timestamp with an offset is read as UTC
    assert sql("SELECT ts FROM requests WHERE request_id = 'r_csvok'") == [(dt.datetime(2026, 1, 5, 11, 30),)]


def test_row_accounting_adds_up_per_table(dirty_run):
    raw = dict(sql("SELECT source_table, sum(rows) FROM raw_logs GROUP BY 1"))
    accounted = dict(sql("SELECT source_table, sum(rows) FROM row_accounting GROUP BY 1"))
    for table in ("requests", "impressions", "events"):
        assert accounted[table] == raw[table], table
    assert raw["requests"] == 6 and raw["impressions"] == 9 and raw["events"] == 6
