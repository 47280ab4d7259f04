"""Tests of the log simulator: contract, determinism, dirt, ground truth and behaviour."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_assets.simulator import SimulationSummary, SimulatorConfig, simulate
from recsys_assets.simulator.arrays import consecutive_id_matrix, id_matrix
from recsys_assets.simulator.retrieval import inclusion_probabilities

SMALL = SimulatorConfig(
    seed=11,
    start=date(2026, 3, 2),
    days=3,
    requests_per_day=3_000,
    items=1_500,
    users=3_000,
    unlabeled_bot_users=1,
    duplicate_rate=0.02,
    late_rate=0.03,
    malformed_rate=0.001,
)
DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"]
DAILY = ["requests", "impressions", "events", "candidates", "truth/attractiveness", "truth/requests"]

TS = pa.timestamp("us")
S, I32, F64, B = pa.string(), pa.int32(), pa.float64(), pa.bool_()
CONTRACT = {
    "requests": {
        "request_id": S, "ts": TS, "user_id": S, "session_id": S, "surface": S, "query": S,
        "device": S, "region": S, "policy": S, "is_exploration": B, "traffic": S,
    },
    "impressions": {
        "request_id": S, "item_id": S, "position": I32, "ts": TS, "visible_ms": I32,
        "propensity": F64, "source": S, "event_id": S,
    },
    "events": {
        "event_id": S, "ts": TS, "type": S, "item_id": S, "user_id": S, "request_id": S,
        "value": F64, "recorded_at": TS,
    },
    "items": {
        "item_id": S, "valid_from": TS, "category": S, "subcategory": S, "brand": S, "price": F64,
        "in_stock": B, "status": S, "regions": S, "age_restricted": B, "dedup_group": S, "recorded_at": TS,
    },
    "candidates": {"request_id": S, "item_id": S, "source": S, "retrieval_rank": I32, "retrieval_score": F64},
    "outages": {"start_ts": TS, "end_ts": TS, "surface": S, "event_types": S},
    "users": {"user_id": S, "segment": S, "region": S, "created_at": TS, "age_verified": B},
    "truth/attractiveness": {
        "request_id": S, "item_id": S, "attractiveness": F64, "shown": B, "position": I32, "examination": F64,
    },
}  # fmt: skip

CLEAN_IMPRESSIONS = """
    select * from impressions
    where position >= 1 and item_id is not null
      and coalesce(visible_ms, 0) >= 0 and coalesce(propensity, 0) <= 1
"""
CLEAN_EVENTS = """
    select event_id, type, request_id, item_id, user_id, min(ts) ts, any_value(value) value
    from events where event_id is not null and type <> 'clik' and year(ts) < 2099
    group by all
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary, list[tuple[str, float]]]:
    out = tmp_path_factory.mktemp("simulated")
    calls: list[tuple[str, float]] = []
    summary = simulate(SMALL, out, lambda stage, fraction: calls.append((stage, fraction)))
    return out, summary, calls


@pytest.fixture(scope="module")
def out(run: tuple[Path, SimulationSummary, list[tuple[str, float]]]) -> Path:
    return run[0]


@pytest.fixture(scope="module")
def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "truth" / "manifest.json").read_text())


def connect(out: Path) -> duckdb.DuckDBPyConnection:
    """Views over a simulated folder, plus de-duplicated views without malformed rows."""
    con = duckdb.connect()
    for table in ["requests", "impressions", "events", "candidates", "items", "users", "outages"]:
        con.execute(f"create view {table} as select * from read_parquet('{out}/{table}/*.parquet')")
    con.execute(f"create view truth as select * from read_parquet('{out}/truth/attractiveness/*.parquet')")
    con.execute(f"create view truth_items as select * from read_parquet('{out}/truth/items.parquet')")
    con.execute(f"create view truth_users as select * from read_parquet('{out}/truth/users.parquet')")
    con.execute(f"create view truth_requests as select * from read_parquet('{out}/truth/requests/*.parquet')")
    con.execute(f"create view clean_impressions as {CLEAN_IMPRESSIONS}")
    con.execute(f"create view clean_events as {CLEAN_EVENTS}")
    con.execute("create view unique_requests as select distinct * from requests where ts is not null")
    return con


@pytest.fixture(scope="module")
def db(out: Path) -> duckdb.DuckDBPyConnection:
    return connect(out)


def scalar(db: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return db.execute(sql).fetchone()[0]


def digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# --- determinism and output layout -------------------------------------------------------------


def test_same_seed_gives_byte_identical_output(tmp_path: Path) -> None:
    config = replace(SMALL, days=2, requests_per_day=1_000)
    simulate(config, tmp_path / "a")
    simulate(config, tmp_path / "b")
    first, second = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert len(first) == 2 * len(DAILY) + 7  # + items, users, outages, 3 truth tables, manifest
    assert first == second


def test_different_seed_gives_different_output(tmp_path: Path) -> None:
    config = replace(SMALL, days=1, requests_per_day=1_000)
    simulate(config, tmp_path / "a")
    simulate(replace(config, seed=12), tmp_path / "b")
    left = pq.read_table(tmp_path / "a" / "impressions").to_pandas()
    right = pq.read_table(tmp_path / "b" / "impressions").to_pandas()
    assert not left.equals(right)
    assert left["item_id"].head(200).tolist() != right["item_id"].head(200).tolist()


def test_layout_one_file_per_day_and_manifest_last(out: Path, run: tuple) -> None:
    for table in DAILY:
        assert sorted(p.name for p in (out / table).iterdir()) == [f"part-{d}.parquet" for d in DAYS]
    for table in ["items", "users", "outages"]:
        assert len(list((out / table).glob("*.parquet"))) == 1
    for name in ["examination", "items", "users"]:
        assert (out / "truth" / f"{name}.parquet").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    stages = [stage for stage, _ in run[2]]
    assert stages[0] == "world" and stages[-1] == "done" and len(stages) >= 4 * SMALL.days
    fractions = [fraction for _, fraction in run[2]]
    assert fractions == sorted(fractions) and 0.0 <= fractions[0] and fractions[-1] == 1.0


def test_summary_counts_rows_written(out: Path, run: tuple, manifest: dict[str, Any]) -> None:
    summary: SimulationSummary = run[1]
    assert summary.output == out
    for table in ["requests", "impressions", "events", "candidates", "items", "users", "outages"]:
        assert summary.rows[table] == sum(
            pq.read_metadata(p).num_rows for p in (out / table).glob("*.parquet")
        )
    assert summary.rows == manifest["rows"]
    assert summary.seconds > 0
    assert summary.impressions_per_second == pytest.approx(summary.rows["impressions"] / summary.seconds)


def test_rerun_replaces_output_and_crash_leaves_it_untouched(tmp_path: Path) -> None:
    config = replace(SMALL, days=1, requests_per_day=500)
    simulate(config, tmp_path)
    simulate(replace(config, seed=5), tmp_path)
    assert json.loads((tmp_path / "truth" / "manifest.json").read_text())["config"]["seed"] == 5
    before = digest(tmp_path)

    def explode(stage: str, fraction: float) -> None:
        if stage == "serving":
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        simulate(replace(config, seed=6), tmp_path, explode)
    assert digest(tmp_path) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# --- contract ----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_contract_columns_and_arrow_types(out: Path, table: str) -> None:
    for path in (out / table).glob("*.parquet"):
        schema = pq.read_schema(path)
        assert dict(zip(schema.names, schema.types)) == CONTRACT[table], path


def test_required_columns_are_null_only_in_malformed_rows(
    db: duckdb.DuckDBPyConnection, manifest: dict
) -> None:
    malformed = manifest["dirt"]["malformed"]
    assert scalar(db, "select count(*) from requests where ts is null") == malformed["requests"]["null_ts"]
    assert scalar(db, "select count(*) from requests where request_id is null") == 0
    assert (
        scalar(db, "select count(*) from impressions where item_id is null")
        == malformed["impressions"]["null_item_id"]
    )
    assert scalar(db, "select count(*) from impressions where request_id is null or event_id is null") == 0
    assert (
        scalar(db, "select count(*) from events where event_id is null")
        == malformed["events"]["null_event_id"]
    )
    assert scalar(db, "select count(*) from events where ts is null or type is null or item_id is null") == 0
    assert scalar(db, "select count(*) from items where item_id is null or valid_from is null") == 0
    assert scalar(db, "select count(*) from candidates where request_id is null or item_id is null") == 0


def test_categorical_values_are_in_the_contract(db: duckdb.DuckDBPyConnection) -> None:
    def values(sql: str) -> set:
        return {row[0] for row in db.execute(sql).fetchall()}

    assert values("select distinct surface from requests") == {"search", "home"}
    assert values("select distinct device from requests") == {"mobile", "desktop", "tablet"}
    assert values("select distinct region from requests") == {"NA", "EU", "APAC", "LATAM"}
    assert values("select distinct traffic from requests") == {"user", "bot", "internal", "test"}
    assert values("select distinct policy || is_exploration::varchar from requests") == {
        "ranker_v3false",
        "explore_v1true",
    }
    types = values("select distinct type from events")
    assert {"click", "add_to_cart", "purchase", "hide", "report", "clik"} <= types
    assert types <= {"click", "add_to_cart", "purchase", "hide", "report", "return", "clik"}
    assert values("select distinct status from items") == {"active", "deleted", "banned"}
    assert values("select distinct segment from users") == {"new", "casual", "power"}
    assert scalar(db, "select count(*) from requests where surface = 'home' and query is not null") == 0
    assert scalar(db, "select count(*) from requests where surface = 'search' and query is null") == 0
    assert scalar(db, "select bool_and(regexp_matches(request_id, '^r[0-9]{9}$')) from requests")
    assert scalar(db, "select bool_and(regexp_matches(item_id, '^i[0-9]{5}$')) from candidates")
    assert scalar(db, "select bool_and(regexp_matches(user_id, '^u[0-9]{6}$')) from users")
    assert scalar(db, "select bool_and(regexp_matches(event_id, '^e[0-9]{12}$')) from impressions")
    assert scalar(db, "select bool_and(regexp_matches(session_id, '^s[0-9]+$')) from requests")


# --- dirt --------------------------------------------------------------------------------------


def test_duplicates_match_manifest(db: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    duplicates = manifest["dirt"]["duplicates"]
    events = scalar(db, "select count(*) - count(distinct event_id) from events where event_id is not null")
    impressions = scalar(db, "select count(*) - count(distinct event_id) from impressions")
    requests = scalar(db, "select count(*) - count(distinct request_id) from requests")
    assert (events, impressions, requests) == (
        duplicates["events"],
        duplicates["impressions"],
        duplicates["requests"],
    )
    clean = scalar(db, "select count(distinct event_id) from clean_impressions")
    logged = scalar(db, "select count(distinct event_id) from events")
    unique_requests = scalar(db, "select count(distinct request_id) from requests")
    assert impressions / clean == pytest.approx(0.5 * SMALL.duplicate_rate, rel=0.5)
    assert events / logged == pytest.approx(SMALL.duplicate_rate, rel=0.5)
    assert requests / unique_requests == pytest.approx(0.2 * SMALL.duplicate_rate, rel=0.5)
    # duplicated requests are identical rows; duplicated events keep their id with ts shifted by <= 5 s
    assert scalar(db, "select count(*) from (select distinct * from requests)") == scalar(
        db, "select count(distinct request_id) from requests"
    )
    spread = db.execute(
        """select max(span), min(span) from (
             select max(ts) - min(ts) span from events where event_id is not null and year(ts) < 2099
             group by event_id having count(*) > 1)"""
    ).fetchone()
    assert spread[0] <= np.timedelta64(5, "s") and spread[1] >= np.timedelta64(0, "s")


def test_malformed_rows_of_every_kind(db: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    malformed = manifest["dirt"]["malformed"]
    observed = {
        ("impressions", "position_zero"): "select count(*) from impressions where position = 0",
        ("impressions", "position_negative"): "select count(*) from impressions where position = -3",
        ("impressions", "null_item_id"): "select count(*) from impressions where item_id is null",
        ("impressions", "negative_visible_ms"): "select count(*) from impressions where visible_ms < 0",
        ("impressions", "bad_propensity"): "select count(*) from impressions where propensity = 1.7",
        ("events", "type_typo"): "select count(*) from events where type = 'clik'",
        ("events", "ts_2099"): "select count(*) from events where year(ts) = 2099",
        ("events", "null_event_id"): "select count(*) from events where event_id is null",
        ("requests", "null_ts"): "select count(*) from requests where ts is null",
    }
    for (table, kind), sql in observed.items():
        count = scalar(db, sql)
        assert count == malformed[table][kind] >= SMALL.days, (table, kind)
    rows = scalar(db, "select count(*) from impressions")
    assert sum(malformed["impressions"].values()) / rows < 5 * SMALL.malformed_rate


def test_late_events_are_filed_by_recorded_day(
    out: Path, db: duckdb.DuckDBPyConnection, manifest: dict
) -> None:
    late = manifest["dirt"]["late_events"]
    observed = scalar(
        db,
        """select count(distinct event_id) from events
           where recorded_at - ts >= interval 6 hour
             and event_id is not null and type <> 'clik' and year(ts) < 2099""",
    )
    assert observed == late["total"] > 0
    logged = scalar(db, "select count(distinct event_id) from events")
    assert 0.5 * SMALL.late_rate < late["total"] / logged < 1.5 * SMALL.late_rate
    for index, day in enumerate(DAYS):
        table = pq.read_table(out / "events" / f"part-{day}.parquet").to_pandas()
        recorded_day = table["recorded_at"].dt.strftime("%Y-%m-%d")
        if index < len(DAYS) - 1:
            assert (recorded_day == day).all()
        else:
            assert (recorded_day >= day).all()
            assert (recorded_day > day).sum() >= late["filed_in_last_day"] > 0


def test_tracking_outage(db: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    outage = manifest["dirt"]["outage"]
    start, end, surface, types = db.execute("select * from outages").fetchone()
    assert (
        (start.isoformat(), end.isoformat())
        == (outage["start"], outage["end"])
        == (
            "2026-03-03T10:00:00",
            "2026-03-03T13:00:00",
        )
    )
    assert surface is None and types == "click,add_to_cart"
    assert outage["suppressed"]["click"] > 0 and outage["suppressed"]["add_to_cart"] > 0
    inside = """select count(*) from events where type = '{type}'
                and ts between timestamp '2026-03-03 10:01:00' and timestamp '2026-03-03 12:59:00'"""
    assert scalar(db, inside.format(type="click")) == 0
    assert scalar(db, inside.format(type="add_to_cart")) == 0
    assert scalar(db, inside.format(type="hide")) > 0


def test_clock_skew_makes_a_few_clicks_precede_their_request(
    db: duckdb.DuckDBPyConnection, manifest: dict
) -> None:
    early = db.execute(
        """select count(*), min(lead_s) from (
             select e.event_id, min(epoch(e.ts) - epoch(r.ts)) lead_s
             from events e join unique_requests r using (request_id)
             where e.type = 'click' and e.event_id is not null group by e.event_id)
           where lead_s < 0"""
    ).fetchone()
    assert early[0] == manifest["dirt"]["clock_skew"]["clicks_before_request"] > 0
    clicks = scalar(db, "select count(distinct event_id) from events where type = 'click'")
    assert early[0] / clicks < 0.05
    assert early[1] > -10 * SMALL.clock_skew_seconds


def ineligible_shown(db: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Shown items that were not eligible when requested, by first failing reason, from the logs alone."""
    return dict(
        db.execute(
            """
            with shown as (
                select distinct i.request_id, i.item_id, r.ts, r.region, r.user_id
                from clean_impressions i join unique_requests r using (request_id)),
            state as (
                select s.*, v.status, v.in_stock, v.regions, v.age_restricted
                from shown s asof join items v on s.item_id = v.item_id and s.ts >= v.valid_from),
            judged as (
                select case
                    when status = 'deleted' then 'deleted'
                    when status = 'banned' then 'banned'
                    when not in_stock then 'out_of_stock'
                    when not list_contains(coalesce(string_split(regions, ','), [state.region]), state.region)
                        then 'region'
                    when age_restricted and not coalesce(u.age_verified, false) then 'age'
                  end reason
                from state left join users u using (user_id))
            select reason, count(*) from judged where reason is not null group by reason
            """
        ).fetchall()
    )


def test_ineligible_items_shown_match_manifest(db: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    expected = manifest["dirt"]["ineligible_shown"]
    assert ineligible_shown(db) == {reason: count for reason, count in expected.items() if count}
    assert set(expected) == {"deleted", "banned", "out_of_stock", "region", "age"}
    assert sum(expected.values()) > 0
    leaked = manifest["dirt"]["ineligible_candidates_leaked"]
    assert all(leaked[reason] >= count for reason, count in expected.items())


def test_traffic_mix_bots_and_anonymous_users(db: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    dirt = manifest["dirt"]
    counts = dict(db.execute("select traffic, count(*) from unique_requests group by 1").fetchall())
    assert counts == dirt["traffic"]
    ordinary = SMALL.requests_per_day * SMALL.days
    assert counts["bot"] / ordinary == pytest.approx(SMALL.bot_share, rel=0.3)
    assert counts["internal"] / ordinary == pytest.approx(SMALL.internal_share, rel=0.4)
    assert counts["test"] > 0
    (bot,) = dirt["unlabeled_bots"]["user_ids"]
    per_day = db.execute(
        f"select min(n), bool_and(t) from (select ts::date, count(*) n, bool_and(traffic = 'user') t "
        f"from unique_requests where user_id = '{bot}' group by 1)"
    ).fetchone()
    assert per_day[0] >= 600 and per_day[1]
    anonymous = scalar(
        db,
        f"select avg((user_id is null)::int) from unique_requests where traffic = 'user' and user_id is distinct from '{bot}'",
    )
    assert anonymous == pytest.approx(SMALL.anonymous_share, abs=0.02)
    assert (
        scalar(db, "select count(*) from unique_requests where traffic = 'internal' and user_id is null") == 0
    )


def test_bots_click_uniformly_over_positions(db: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    (bot,) = manifest["dirt"]["unlabeled_bots"]["user_ids"]
    ctr = """
        with clicks as (select distinct request_id, item_id from events where type = 'click')
        select i.position <= 5, avg((c.item_id is not null)::int)
        from clean_impressions i join unique_requests r using (request_id)
        left join clicks c using (request_id, item_id)
        where {who} and r.ts < timestamp '2026-03-03 10:00:00' group by 1 order by 1
    """
    (deep_bot, top_bot), (deep_human, top_human) = (
        [row[1] for row in db.execute(ctr.format(who=who)).fetchall()]
        for who in (
            f"(r.traffic = 'bot' or r.user_id = '{bot}')",
            f"r.traffic = 'user' and r.user_id is distinct from '{bot}'",
        )
    )
    assert top_bot / deep_bot == pytest.approx(1.0, abs=0.15)
    assert top_human / deep_human > 5


def test_item_lifecycle_dirt(db: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    dirt = manifest["dirt"]
    versions = dirt["item_versions"]
    corrections = db.execute(
        "select count(*), min(recorded_at - valid_from), max(recorded_at - valid_from) "
        "from items where recorded_at > valid_from"
    ).fetchone()
    assert corrections[0] == versions["back_dated_corrections"] > 0
    assert np.timedelta64(1, "h") <= corrections[1] and corrections[2] <= np.timedelta64(48, "h")
    statuses = dict(db.execute("select status, count(*) from items group by 1").fetchall())
    assert statuses["deleted"] == versions["deleted"] > 0 and statuses["banned"] == versions["banned"] > 0
    assert scalar(db, "select count(*) from items where not in_stock and status = 'active'") > 0
    banned_brands = {
        row[0] for row in db.execute("select distinct brand from items where status = 'banned'").fetchall()
    }
    assert banned_brands <= set(dirt["banned_brands"])
    assert scalar(db, "select count(*) from (select item_id from items group by 1 having count(*) > 1)") > 0
    start = np.datetime64("2026-03-02")
    created = db.execute("select min(valid_from) v from items group by item_id").fetchnumpy()["v"]
    assert 0.85 < (created < start).mean() < 0.95
    groups = db.execute(
        "select count(distinct item_id), count(distinct category) from items where dedup_group is not null group by dedup_group"
    ).fetchall()
    assert len(groups) == dirt["catalog"]["dedup_groups"] and all(2 <= n <= 4 and c == 1 for n, c in groups)
    restricted = db.execute(
        "select avg((regions is not null)::int), avg(age_restricted::int) from (select distinct item_id, regions, age_restricted from items)"
    ).fetchone()
    assert restricted[0] == pytest.approx(0.15, abs=0.04) and restricted[1] == pytest.approx(0.03, abs=0.02)


# --- ground truth vs logs ----------------------------------------------------------------------


def test_every_shown_impression_has_a_truth_row(db: duckdb.DuckDBPyConnection) -> None:
    mismatched = scalar(
        db,
        """select count(*) from (select distinct request_id, item_id, position from clean_impressions) i
           left join truth t using (request_id, item_id)
           where t.shown is distinct from true or t.position is distinct from i.position""",
    )
    assert mismatched == 0
    shown = scalar(db, "select count(*) from truth where shown")
    assert shown == scalar(db, "select count(distinct event_id) from clean_impressions")
    assert scalar(db, "select count(*) from truth where shown <> (position is not null)") == 0
    assert scalar(db, "select count(*) from truth where shown <> (examination is not null)") == 0


def test_truth_covers_every_candidate_of_every_request(db: duckdb.DuckDBPyConnection) -> None:
    per_request = db.execute(
        "select min(n), max(n), count(*) from (select request_id, count(*) n from truth group by 1)"
    ).fetchone()
    requests = scalar(db, "select count(*) from unique_requests")
    assert per_request == (SMALL.candidates_per_request, SMALL.candidates_per_request, requests)
    shown = scalar(db, "select avg(shown::int) from truth")
    assert shown == pytest.approx(SMALL.slate_size / SMALL.candidates_per_request, abs=0.01)
    assert (
        scalar(
            db,
            "select count(*) from truth t full join candidates c using (request_id, item_id) "
            "where t.request_id is null or c.request_id is null",
        )
        == 0
    )


def test_candidates_are_distinct_ranked_and_cover_the_slate(db: duckdb.DuckDBPyConnection) -> None:
    shape = db.execute(
        """select min(n), max(n), min(items), bool_and(ranks) from (
             select request_id, count(*) n, count(distinct item_id) items,
                    list_sort(list(retrieval_rank)) = range(1, 61) ranks
             from candidates group by 1)"""
    ).fetchone()
    assert shape == (60, 60, 60, True)
    assert (
        scalar(
            db,
            "select count(*) from clean_impressions i anti join candidates c using (request_id, item_id)",
        )
        == 0
    )
    sources = dict(db.execute("select source, count(*) from candidates group by 1").fetchall())
    assert set(sources) == {"query", "affinity", "popular"}
    assert scalar(
        db,
        """select bool_and(ordered) from (select request_id,
             list(retrieval_score order by retrieval_rank) = list_reverse(list_sort(list(retrieval_score))) ordered
           from candidates group by 1)""",
    )


def test_examination_truth(out: Path, db: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    table = pq.read_table(out / "truth" / "examination.parquet").to_pandas()
    assert table.columns.tolist() == [
        "position", "examination", "examination_mobile", "examination_desktop", "examination_tablet",
    ]  # fmt: skip
    assert table["position"].tolist() == list(range(1, SMALL.slate_size + 1))
    assert (table.iloc[0, 1:] == 1.0).all()
    assert (np.diff(table["examination"]) <= 0).all()
    (bot,) = manifest["dirt"]["unlabeled_bots"]["user_ids"]
    empirical = db.execute(
        f"""select sum(t.examination) / (select count(*) from unique_requests
                   where traffic = 'user' and user_id is distinct from '{bot}')
            from truth t join unique_requests r using (request_id)
            where t.shown and r.traffic = 'user' and r.user_id is distinct from '{bot}'
            group by t.position order by t.position"""
    ).fetchall()
    np.testing.assert_allclose([row[0] for row in empirical], table["examination"], rtol=1e-3)


def test_attractiveness_is_calibrated_and_clicks_follow_it(
    db: duckdb.DuckDBPyConnection, manifest: dict
) -> None:
    (bot,) = manifest["dirt"]["unlabeled_bots"]["user_ids"]
    human = f"r.traffic = 'user' and r.user_id is distinct from '{bot}'"
    mean = scalar(
        db,
        f"select avg(attractiveness) from truth t join unique_requests r using (request_id) where t.shown and {human}",
    )
    assert mean == pytest.approx(0.2, abs=0.02)
    assert scalar(db, "select min(attractiveness) > 0 and max(attractiveness) < 1 from truth")
    by_attractiveness = db.execute(
        f"""with clicks as (select distinct request_id, item_id from events where type = 'click')
            select t.attractiveness > 0.3, sum((c.item_id is not null)::int) / sum(t.examination)
            from truth t join unique_requests r using (request_id) left join clicks c using (request_id, item_id)
            where t.shown and {human} and r.ts < timestamp '2026-03-03 10:00:00' group by 1 order by 1"""
    ).fetchall()
    assert by_attractiveness[1][1] > 2 * by_attractiveness[0][1]


# --- full-catalog relevance truth --------------------------------------------------------------


def test_truth_requests_hold_each_request_once_with_its_utility_inputs(
    db: duckdb.DuckDBPyConnection, manifest: dict
) -> None:
    assert scalar(db, "select count(*) = count(distinct request_id) from truth_requests")
    orphans = """select count(*) from (select distinct request_id from candidates) c
                 full join truth_requests t using (request_id) where c.request_id is null or t.request_id is null"""
    assert scalar(db, orphans) == 0
    assert scalar(db, "select count(*) from truth_requests") == manifest["rows"]["truth/requests"]
    mismatched = """select count(*) from truth_requests t join unique_requests r using (request_id)
                    where t.user_id is distinct from r.user_id
                       or (r.surface = 'search' and not starts_with(regexp_replace(r.query, '^(best|cheap) ', ''),
                                                                    t.intent || ' '))"""
    assert scalar(db, mismatched) == 0
    categories = manifest["model"]["relevance"]["categories"]
    assert categories == sorted(categories) and len(categories) == SMALL.categories
    # an anonymous request carries its own preference vector, a known user's is in truth/users
    assert scalar(db, "select count(*) from truth_requests where (user_id is null) <> (preference is not null)") == 0
    assert scalar(db, "select min(len(preference)), max(len(preference)) from truth_requests") == SMALL.categories
    assert scalar(db, "select count(*) from truth_requests where user_id is null") > 100
    sensitivity = """select count(*) from truth_requests t join truth_users u using (user_id)
                     where t.price_sensitivity <> u.price_sensitivity"""
    assert scalar(db, sensitivity) == 0
    assert scalar(db, "select avg(price_premium) from truth_items") == pytest.approx(0.0, abs=0.05)


def test_expected_relevance_matches_the_candidates_truth_up_to_the_utility_noise(out: Path) -> None:
    from recsys_assets.ranker.truth import load_relevance

    relevance = load_relevance(out)
    assert relevance is not None and relevance.weights["noise_sd"] == 0.3
    truth = pq.read_table(out / "truth" / "attractiveness", columns=["request_id", "item_id", "attractiveness"])
    requests = truth["request_id"].to_numpy(zero_copy_only=False)
    items = truth["item_id"].to_numpy(zero_copy_only=False)
    attractiveness = truth["attractiveness"].to_numpy()
    logged = np.log(attractiveness / (1 - attractiveness))
    expected = relevance.logits_of(requests, items)
    residual = logged - expected  # the utility noise N(0, 0.3)
    assert np.corrcoef(logged, expected)[0, 1] > 0.95
    assert residual.mean() == pytest.approx(0.0, abs=0.005)
    assert residual.std() == pytest.approx(0.3, abs=0.005)
    # the full-catalog matrix agrees with the pairs, column by column in item_ids order
    some = np.unique(requests)[:50]
    matrix = relevance.attractiveness(some)
    assert matrix.shape == (50, len(relevance.item_ids)) and len(relevance.item_ids) == SMALL.items
    rows = np.isin(requests, some)
    column = {item: k for k, item in enumerate(relevance.item_ids)}
    np.testing.assert_allclose(
        matrix[np.searchsorted(some, requests[rows]), [column[i] for i in items[rows]]],
        relevance.attractiveness_of(requests[rows], items[rows]),
        rtol=1e-12,
    )
    assert 0.0 < matrix.min() and matrix.max() < 1.0


def test_sql_relevance_views_agree_with_numpy(out: Path) -> None:
    from recsys_assets.ranker.truth import load_relevance, register_relevance

    con = duckdb.connect()
    assert register_relevance(con, out)
    pairs = con.execute(
        """select request_id, item_id,
                   1 / (1 + exp(-(w.intercept + w.quality * i.quality + w.preference * r.preference[i.preference_index]
                       + case when i.category = r.intent then w.intent else 0 end
                       - w.price * r.price_sensitivity * greatest(i.price_premium, 0)))) as attractiveness
            from (select request_id from truth_requests using sample 200 rows (reservoir, 3)) q
            join truth_requests r using (request_id)
            cross join truth_items i cross join truth_relevance_weights w
            where hash(request_id, item_id) % 20 = 0"""
    ).fetchnumpy()
    assert len(pairs["attractiveness"]) > 10_000
    relevance = load_relevance(out)
    assert relevance is not None
    np.testing.assert_allclose(
        pairs["attractiveness"], relevance.attractiveness_of(pairs["request_id"], pairs["item_id"]), rtol=1e-9
    )
    user = con.execute("select user_id, preference from truth_requests where user_id is not null limit 1").fetchone()
    long = con.execute(
        "select list(preference order by category) from truth_user_preference where user_id = ?", [user[0]]
    ).fetchone()[0]
    assert long == user[1]


# --- exploration and behaviour -----------------------------------------------------------------


def test_exploration_requests_have_uniform_propensity_and_random_order(db: duckdb.DuckDBPyConnection) -> None:
    propensity = db.execute(
        """select r.is_exploration, min(i.propensity * n), max(i.propensity * n), count(i.propensity), count(*)
           from clean_impressions i join unique_requests r using (request_id)
           join (select request_id, count(distinct position) n from clean_impressions group by 1) s using (request_id)
           group by 1 order by 1"""
    ).fetchall()
    (_, _, _, ranked_with_propensity, _), (_, low, high, explored, total) = propensity
    assert ranked_with_propensity == 0
    assert explored == total > 0
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)
    full = scalar(db, f"select count(*) from clean_impressions where propensity = 1.0 / {SMALL.slate_size}")
    assert full > 0.9 * explored
    assert scalar(
        db,
        "select bool_and(list_sort(p) = range(1, len(p) + 1)) from (select list(distinct position) p "
        "from clean_impressions group by request_id)",
    )
    # The logging ranker puts popular items first; exploration shows them in random order.
    correlation = dict(
        db.execute(
            """select r.is_exploration, corr(i.position, ln(ti.popularity_prior))
               from clean_impressions i join unique_requests r using (request_id)
               join truth_items ti using (item_id) group by 1"""
        ).fetchall()
    )
    assert correlation[False] < -0.2
    assert abs(correlation[True]) < 0.05


def test_downstream_events_follow_their_cause(db: duckdb.DuckDBPyConnection, manifest: dict) -> None:
    # clicks carry the client clock (a few seconds of skew), hence the tolerance
    follows = """
        select count(*), count(cause.event_id), bool_and(cause.ts is null or cause.ts < effect.ts + interval 30 second)
        from clean_events effect
        left join (select request_id, item_id, min(ts) ts, any_value(event_id) event_id from clean_events
                   where type = '{cause}' group by all) cause using (request_id, item_id)
        where effect.type = '{effect}' and effect.request_id is not null
    """
    for cause, effect in [("click", "add_to_cart"), ("add_to_cart", "purchase"), ("click", "purchase")]:
        total, matched, ordered = db.execute(follows.format(cause=cause, effect=effect)).fetchone()
        assert total > 0 and ordered, (cause, effect)
        # an effect without its logged cause: the cause was lost in the tracking outage
        assert total - matched <= manifest["dirt"]["outage"]["suppressed"][cause], (cause, effect)
    # purchases whose click is missing were clicked during the outage
    orphans = scalar(
        db,
        """select count(*) from clean_events p join unique_requests r using (request_id)
           where p.type = 'purchase' and r.ts > timestamp '2026-03-03 13:00:00'
             and not exists (select 1 from clean_events c where c.type = 'click'
                             and c.request_id = p.request_id and c.item_id = p.item_id)""",
    )
    assert orphans == 0
    values = db.execute(
        "select type, count(value), count(*), min(value) from clean_events group by 1"
    ).fetchall()
    for kind, with_value, count, smallest in values:
        if kind in ("purchase", "return"):
            assert with_value == count and smallest > 0
        else:
            assert with_value == 0
    attributed = scalar(
        db, "select avg((request_id is not null)::int) from clean_events where type = 'purchase'"
    )
    assert attributed == pytest.approx(0.8, abs=0.08)
    assert (
        scalar(
            db,
            "select count(*) from clean_events where request_id is null and type not in ('purchase', 'return')",
        )
        == 0
    )
    (bot,) = manifest["dirt"]["unlabeled_bots"]["user_ids"]
    purchases, human_clicks = db.execute(
        f"""select count(*) filter (e.type = 'purchase'), count(*) filter (e.type = 'click')
            from clean_events e join unique_requests r using (request_id)
            where r.traffic <> 'bot' and r.user_id is distinct from '{bot}'"""
    ).fetchone()
    # about 10% of clicks lead to a purchase; slow purchases after the 3-day window are not logged yet
    assert 0.05 < purchases / human_clicks < 0.12


def test_returns_follow_their_purchase(tmp_path: Path) -> None:
    config = replace(SMALL, days=24, requests_per_day=300, items=600, users=600, unlabeled_bot_users=0)
    simulate(config, tmp_path)
    db = connect(tmp_path)
    unmatched = scalar(
        db,
        """select count(*) from clean_events r where r.type = 'return' and r.user_id is not null
             and not exists (select 1 from clean_events p
               where p.type = 'purchase' and p.user_id = r.user_id and p.item_id = r.item_id
                 and p.request_id is not distinct from r.request_id and p.value = r.value
                 and p.ts + interval 1 day <= r.ts and r.ts <= p.ts + interval 20 day)""",
    )
    returns, purchases = db.execute(
        "select count(*) filter (type = 'return'), count(*) filter (type = 'purchase') from clean_events"
    ).fetchone()
    assert returns > 0 and unmatched == 0
    # 8% of purchases are returned 1-20 days later; about 55% of those returns fall inside 24 days
    assert 0.02 < returns / purchases < 0.08


def test_delays_are_non_negative(db: duckdb.DuckDBPyConnection) -> None:
    assert (
        scalar(
            db,
            "select count(*) from clean_impressions i join unique_requests r using (request_id) where i.ts < r.ts",
        )
        == 0
    )
    assert scalar(
        db,
        "select max(i.ts - r.ts) < interval 1 second from clean_impressions i join unique_requests r using (request_id)",
    )
    assert (
        scalar(
            db,
            "select count(*) from events where recorded_at < ts and type not in ('click', 'clik', 'hide') and year(ts) < 2099",
        )
        == 0
    )
    assert (
        scalar(
            db,
            "select count(*) from clean_events e join unique_requests r using (request_id) "
            "where e.type not in ('click', 'hide') and e.ts < r.ts",
        )
        == 0
    )
    assert scalar(db, "select count(*) from clean_impressions where visible_ms < 0") == 0
    visibility = db.execute(
        "select avg((visible_ms is null)::int), avg((visible_ms = 0)::int), median(visible_ms) filter (visible_ms > 0) "
        "from clean_impressions"
    ).fetchone()
    assert visibility[0] == pytest.approx(SMALL.visibility_unknown_rate, abs=0.03)
    assert visibility[1] > 0.2 and 1_000 < visibility[2] < 4_000


def test_events_carry_the_user_of_their_request(db: duckdb.DuckDBPyConnection) -> None:
    mismatched = scalar(
        db,
        "select count(*) from events e join unique_requests r using (request_id) "
        "where e.user_id is distinct from r.user_id",
    )
    assert mismatched == 0
    assert (
        scalar(
            db,
            "select count(*) from events e anti join unique_requests r using (request_id) where e.request_id is not null",
        )
        == 0
    )


def test_sessions_group_requests_of_one_user(db: duckdb.DuckDBPyConnection) -> None:
    sessions = db.execute(
        """select count(*), max(users), max(span) from (
             select session_id, count(distinct coalesce(user_id, request_id)) users, max(ts) - min(ts) span
             from unique_requests group by 1)"""
    ).fetchone()
    assert sessions[0] < scalar(db, "select count(*) from unique_requests")
    assert sessions[1] == 1 and sessions[2] < np.timedelta64(1, "D")


# --- configuration and building blocks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("days", 0, "days"),
        ("bot_share", -0.1, "bot_share"),
        ("late_rate", 1.5, "late_rate"),
        ("slate_size", 61, "candidates_per_request"),
        ("items", 100, "items"),
        ("outage_hours", 20.0, "outage_hours"),
        ("requests_per_day", 2.5, "requests_per_day"),
        ("seed", -1, "seed"),
        ("unlabeled_bot_users", 10_000, "unlabeled_bot_users"),
    ],
)
def test_invalid_config_raises(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(SMALL, **{field: value})


def test_disabled_dirt_produces_clean_logs(tmp_path: Path) -> None:
    config = replace(
        SMALL, days=1, requests_per_day=800, duplicate_rate=0.0, late_rate=0.0, malformed_rate=0.0,
        outage_hours=0.0, clock_skew_seconds=0.0, eligibility_leak_rate=0.0,
    )  # fmt: skip
    simulate(config, tmp_path)
    dirt = json.loads((tmp_path / "truth" / "manifest.json").read_text())["dirt"]
    assert ineligible_shown(connect(tmp_path)) == {}
    assert not any(dirt["ineligible_shown"].values())
    assert dirt["duplicates"] == {"requests": 0, "impressions": 0, "events": 0}
    assert all(count == 0 for kinds in dirt["malformed"].values() for count in kinds.values())
    assert dirt["late_events"]["total"] == 0 and dirt["clock_skew"]["clicks_before_request"] == 0
    assert dirt["outage"]["start"] is None and pq.read_table(tmp_path / "outages").num_rows == 0
    impressions = pq.read_table(tmp_path / "impressions").to_pandas()
    assert impressions["event_id"].is_unique and (impressions["position"] >= 1).all()


@settings(max_examples=50, deadline=None)
@given(first=st.integers(0, 10**11), count=st.integers(0, 25_000))
def test_consecutive_ids_match_the_generic_builder(first: int, count: int) -> None:
    expected = id_matrix("e", np.arange(first, first + count), 12)
    assert np.array_equal(consecutive_id_matrix("e", first, count, 12), expected)
    if count:
        assert bytes(expected[0]).decode() == f"e{first:012d}"


@settings(max_examples=100, deadline=None)
@given(
    weights=st.lists(st.floats(0.01, 100.0), min_size=1, max_size=60),
    share=st.floats(0.0, 1.0),
)
def test_inclusion_probabilities_are_capped_and_sum_to_k(weights: list[float], share: float) -> None:
    k = round(share * len(weights))
    pi = inclusion_probabilities(np.array(weights), k)
    assert pi.sum() == pytest.approx(k, abs=1e-6)
    assert (pi < 1.0).all() and (pi >= 0).all()
    order = np.argsort(weights, kind="stable")
    assert (np.diff(pi[order]) >= -1e-12).all()
