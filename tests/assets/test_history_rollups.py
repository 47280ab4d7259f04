"""Incremental history: a day's history rows and rollups are written once, and a late event
changes only its own partition's rollups and the features of requests after it became
available. Rebuilding those partitions (what the partition mappings schedule) gives the
tables a rebuild from scratch gives."""

from __future__ import annotations

import datetime as dt
import shutil

import dagster as dg
import pytest
from direct import build_through_labels, connect
from logbuilder import write_table

from recsys_assets.assets import snapshots
from recsys_assets.assets.direct import DAILY_BUILDERS, TABLE_BUILDERS, Inputs
from recsys_assets.config import PipelineConfig
from recsys_assets.simulator import SimulatorConfig, simulate

START = dt.date(2026, 1, 5)
DAYS = [START + dt.timedelta(days=i) for i in range(4)]
CONTEXT = "SELECT * FROM impression_context ORDER BY request_id, item_id"
ROLLUPS = "SELECT * FROM history_rollups"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    simulate(SimulatorConfig(days=4, requests_per_day=200, items=150, users=120, seed=5), out)
    return out


def _set(con, query: str) -> set[tuple]:
    return set(con.execute(query).fetchall())


def test_the_snapshot_reads_the_window_of_rows_and_rollups_and_each_day_its_own_logs():
    reach = snapshots.history_reach(PipelineConfig())
    assert reach == 29  # max(history_days 28, popularity_days 7) + 1
    mapping = snapshots.impression_context.get_partition_mapping(snapshots.history_rollups.key)
    assert (mapping.start_offset, mapping.end_offset) == (-reach, 0)
    # a day's rows come from that day's events and impressions only (identity mappings)
    assert snapshots.history_rows.get_partition_mapping(dg.AssetKey("events")) is None
    assert snapshots.history_rollups.get_partition_mapping(snapshots.history_rows.key) is None


def test_a_late_event_changes_its_partitions_rollups_and_the_later_features_only(sim, tmp_path):
    logs = tmp_path / "logs"
    shutil.copytree(sim, logs, ignore=shutil.ignore_patterns("truth"))
    pipeline = PipelineConfig()
    con = connect()
    build_through_labels(con, logs, DAYS, pipeline)
    rollups_before, context_before = _set(con, ROLLUPS), _set(con, CONTEXT)

    # a click on an item shown on day 0, logged there, but recorded at noon of day 2
    request_id, item_id, user_id, request_ts = con.execute(
        "SELECT request_id, item_id, user_id, request_ts FROM impression_context "
        "WHERE day = ? AND user_id IS NOT NULL AND query IS NOT NULL ORDER BY request_id, item_id LIMIT 1",
        [DAYS[0]]).fetchone()
    recorded = dt.datetime.combine(DAYS[2], dt.time(12))
    late = {"event_id": "late-click", "ts": request_ts + dt.timedelta(minutes=1), "type": "click",
            "item_id": item_id, "user_id": user_id, "request_id": request_id, "recorded_at": recorded}
    write_table(logs, "events", [late], name="zz-late.parquet")

    # what the partition mappings schedule: events of day 0 -> its history rows and rollups ->
    # the snapshots of the days after (here all of them)
    inputs = Inputs(con, logs, tuple(DAYS), pipeline)
    TABLE_BUILDERS["raw_logs"](inputs)
    for asset in ("events", "history_rows", "history_rollups"):
        DAILY_BUILDERS[asset](inputs, DAYS[0].isoformat())
    for day in DAYS:
        DAILY_BUILDERS["impression_context"](inputs, day.isoformat())

    # the rollups changed in day 0's partition, for day 2 (when the click became available),
    # for the click's user, item and query only: one row more or different per family
    changed = _set(con, ROLLUPS) ^ rollups_before
    assert changed
    columns = [d[0] for d in con.execute(ROLLUPS + " LIMIT 0").description]
    rows = [dict(zip(columns, r)) for r in changed]
    assert {(r["day"], r["avail_day"]) for r in rows} == {(DAYS[0], DAYS[2])}
    assert {r["user_id"] for r in rows} <= {user_id, None} and {r["item_id"] for r in rows} <= {item_id, None}
    assert {"user", "item", "query", "query_item"} <= {r["family"] for r in rows}
    # and day 0's history rows gained the click, available on day 2 (user x item reads the rows)
    assert con.execute("SELECT day, avail_day, avail FROM history_rows WHERE kind = 'click' AND user_id = ? "
                       "AND item_id = ? AND avail = ?", [user_id, item_id, recorded]).fetchall() == [
        (DAYS[0], DAYS[2], recorded)]

    # features changed only on day 2 and later, only for requests after noon of day 2, and
    # the click is counted: the item's clicks grew by one after it became available
    context_after = _set(con, CONTEXT)
    diff = context_after ^ context_before
    assert diff
    columns = [d[0] for d in con.execute(CONTEXT + " LIMIT 0").description]
    moved = [dict(zip(columns, r)) for r in diff]
    assert all(r["day"] >= DAYS[2] and r["request_ts"] > recorded for r in moved)
    i_clicks = "SELECT sum(i_clicks) FROM impression_context WHERE day = ? AND item_id = ? AND request_ts > ?"
    before = connect()
    build_through_labels(before, sim, DAYS, pipeline)
    grown = con.execute(i_clicks, [DAYS[2], item_id, recorded]).fetchone()[0]
    assert grown > before.execute(i_clicks, [DAYS[2], item_id, recorded]).fetchone()[0]

    # and the incremental rebuild equals a rebuild from scratch with the late event in the logs
    scratch = connect()
    build_through_labels(scratch, logs, DAYS, pipeline)
    assert _set(scratch, CONTEXT) == context_after
    assert _set(scratch, ROLLUPS) == _set(con, ROLLUPS)


def test_history_rows_hold_every_user_impression_and_click_else_the_check_fails(home):
    """The completeness check passes with one row per user impression and click, and fails,
    naming the day and the counts, when an impression's request is gone when its history rows
    are built (here deleted from the warehouse; in a run, requests of a day around not built)."""
    import duckdb
    from logbuilder import at, minimal_logs
    from pipeline import materialize

    from recsys_assets.checks.snapshot_checks import HISTORY_ROWS_COMPLETE
    from recsys_assets.config import load_settings

    day = "2026-01-05"
    requests = [{"request_id": f"r{k}", "ts": at(k), "user_id": "u1", "query": "Shoes"} for k in range(3)]
    impressions = [{"request_id": f"r{k}", "item_id": f"i{j}", "position": j + 1} for k in range(3) for j in range(2)]
    events = [{"event_id": "e1", "ts": at(0) + dt.timedelta(seconds=5), "type": "click", "item_id": "i0",
               "user_id": "u1", "request_id": "r0"}]
    minimal_logs(home / "logs", requests=requests, impressions=impressions, events=events)
    materialize(["raw_logs", "outages", "users", "items", "item_state"])
    materialize(["requests", "impressions", "events"], [day])

    def check():
        (result,) = materialize(["history_rows"], [day], raise_on_error=False)
        (evaluation,) = [e.asset_check_evaluation_data for e in result.all_events
                         if e.event_type_value == "ASSET_CHECK_EVALUATION"
                         and e.asset_check_evaluation_data.check_name == HISTORY_ROWS_COMPLETE]
        return evaluation

    ok = check()
    assert ok.passed
    assert {k: ok.metadata[k].value for k in ("expected_exposures", "exposures", "expected_events", "events")} == {
        "expected_exposures": 6, "exposures": 6, "expected_events": 1, "events": 1}

    con = duckdb.connect(str(load_settings().warehouse))
    con.execute("DELETE FROM requests WHERE request_id = 'r2'")
    con.close()
    failed = check()
    assert not failed.passed
    assert failed.description.startswith(f"history_rows {day}: 4 exposures of 6 user impressions, 1 events of 1 "
                                         "clicks and purchases")
