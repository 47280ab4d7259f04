"""Given small hand-made logs, these labels: each exclusion, censoring reason, negative type
and weight rule shown on the smallest log that exhibits it."""

from __future__ import annotations

import datetime as dt

import pytest
from direct import build_through_labels, connect, rows
from logbuilder import T0, at, write_table

from recsys_assets.config import PipelineConfig

DAYS = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(9)]
OLD = at(days=-30)


def build(tmp_path, *, requests, impressions, events=(), items=None, users=None, outages=None, candidates=None,
          pipeline=None, days=2):
    root = tmp_path / "logs"
    write_table(root, "requests", requests)
    write_table(root, "impressions", impressions)
    write_table(root, "events", list(events) or [{"event_id": "x", "ts": at(days=40), "type": "click", "item_id": "i1"}])
    write_table(root, "items", items or [{"item_id": f"i{k}", "valid_from": OLD, "category": "c"} for k in range(1, 21)])
    for table, data in (("users", users), ("outages", outages), ("candidates", candidates)):
        if data:
            write_table(root, table, data)
    con = connect()
    build_through_labels(con, root, DAYS[:days], pipeline)
    return con


def slate(request_id="r1", n=5, **extra):
    return [{"request_id": request_id, "item_id": f"i{p}", "position": p, "visible_ms": 1000, **extra} for p in range(1, n + 1)]


def click(item, minutes=1.0, request_id="r1", user="u1", event_id=None, kind="click", **extra):
    return {"event_id": event_id or f"{kind}-{request_id}-{item}-{minutes}", "ts": at(minutes), "type": kind,
            "item_id": item, "user_id": user, "request_id": request_id, **extra}


def ctr(con):
    return {r["item_id"]: r for r in rows(con, "SELECT * FROM ctr_labels ORDER BY position")}


def exclusions(con, task="ctr"):
    return dict(con.execute("SELECT reason, sum(rows) FROM label_exclusions WHERE task = ? GROUP BY 1", [task]).fetchall())


REQ = [{"request_id": "r1", "ts": T0, "user_id": "u1", "region": "EU"}]


def test_negative_types_follow_the_click(tmp_path):
    imps = slate()
    imps[4]["visible_ms"] = 0
    con = build(tmp_path, requests=REQ, impressions=imps, events=[click("i3"), click("i1", kind="hide")])
    labels = ctr(con)
    assert labels["i3"]["label"] == 1 and labels["i3"]["negative_type"] is None
    assert labels["i1"]["negative_type"] == "explicit_hide"
    assert labels["i2"]["negative_type"] == "skip_above"
    assert labels["i4"]["negative_type"] == "below_last_click"
    assert labels["i5"]["negative_type"] == "never_visible" and labels["i5"]["weight"] == 0.0


def test_request_without_click_gives_exposed_no_click(tmp_path):
    con = build(tmp_path, requests=REQ, impressions=slate(n=2))
    assert {r["negative_type"] for r in ctr(con).values()} == {"exposed_no_click"}


def test_click_window_edges(tmp_path):
    events = [click("i1", minutes=30), click("i2", minutes=30.0001), click("i3", minutes=0)]
    con = build(tmp_path, requests=REQ, impressions=slate(n=3), events=events)
    labels = ctr(con)
    assert labels["i1"]["label"] == 1, "a click exactly at the window end counts"
    assert labels["i2"]["label"] == 0, "a click after the window does not"
    assert labels["i3"]["label"] == 1, "a click at the request time counts"


def test_unattributed_click_is_credited_to_the_latest_exposure(tmp_path):
    requests = [{"request_id": "r1", "ts": T0, "user_id": "u1"}, {"request_id": "r2", "ts": at(10), "user_id": "u1"}]
    imps = [{"request_id": "r1", "item_id": "i1", "position": 1}, {"request_id": "r2", "item_id": "i1", "position": 2}]
    con = build(tmp_path, requests=requests, impressions=imps, events=[click("i1", minutes=12, request_id=None)])
    got = {r["request_id"]: r["label"] for r in rows(con, "SELECT request_id, label FROM ctr_labels")}
    assert got == {"r1": 0, "r2": 1}


def test_clock_skewed_click_is_kept_and_moved_to_the_request_time(tmp_path):
    con = build(tmp_path, requests=REQ, impressions=slate(n=1), events=[click("i1", minutes=-0.05)])
    assert ctr(con)["i1"]["label"] == 1
    assert ctr(con)["i1"]["click_ts"] == T0


@pytest.mark.parametrize("traffic", ["bot", "internal", "test"])
def test_non_user_traffic_is_excluded_and_counted(tmp_path, traffic):
    requests = REQ + [{"request_id": "r2", "ts": at(5), "user_id": "u9", "traffic": traffic}]
    con = build(tmp_path, requests=requests, impressions=slate() + slate("r2", n=3), events=[click("i1", request_id="r2")])
    assert {r["request_id"] for r in rows(con, "SELECT request_id FROM ctr_labels")} == {"r1"}
    assert exclusions(con)[f"traffic_{traffic}"] == 3


def test_detected_bot_is_excluded(tmp_path):
    requests = REQ + [{"request_id": f"b{k}", "ts": at(k / 10), "user_id": "crawler"} for k in range(12)]
    con = build(tmp_path, requests=requests, impressions=slate() + slate("b3", n=2),
                pipeline=PipelineConfig(bot_max_requests_per_day=10))
    assert con.execute("SELECT DISTINCT traffic, traffic_source FROM requests WHERE user_id = 'crawler'").fetchall() == [
        ("bot", "detected")]
    assert exclusions(con)["traffic_bot"] == 2


def test_tracking_outage_excludes_impressions_whose_click_window_overlaps_it(tmp_path):
    requests = REQ + [{"request_id": "r2", "ts": at(120), "user_id": "u1"}]
    outages = [{"start_ts": at(20), "end_ts": at(60), "event_types": "click,add_to_cart"}]
    con = build(tmp_path, requests=requests, impressions=slate(n=2) + slate("r2", n=2), outages=outages)
    assert {r["request_id"] for r in rows(con, "SELECT request_id FROM ctr_labels")} == {"r2"}
    assert exclusions(con)["tracking_outage"] == 2
    assert con.execute("SELECT in_outage FROM requests WHERE request_id = 'r1'").fetchall() == [(False,)]


@pytest.mark.parametrize(
    "version, user, reason",
    [
        ({"in_stock": False}, {}, "item_out_of_stock"),
        ({"status": "deleted"}, {}, "item_deleted"),
        ({"status": "banned"}, {}, "item_banned"),
        ({"regions": "NA, APAC"}, {}, "item_ineligible_region"),
        ({"age_restricted": True}, {"age_verified": False}, "item_ineligible_age"),
    ],
)
def test_ineligible_items_are_excluded_never_negatives(tmp_path, version, user, reason):
    items = [{"item_id": "i1", "valid_from": OLD, "category": "c"},
             {"item_id": "i1", "valid_from": at(-1), "category": "c", **version},
             {"item_id": "i2", "valid_from": OLD, "category": "c"}]
    users = [{"user_id": "u1", "region": "EU", **user}]
    con = build(tmp_path, requests=REQ, impressions=slate(n=2), items=items, users=users)
    assert set(ctr(con)) == {"i2"}
    assert exclusions(con)[reason] == 1


def test_unknown_item_and_not_yet_known_version(tmp_path):
    # i1's ban is valid from before the request but was recorded after it: not known at T.
    items = [{"item_id": "i1", "valid_from": OLD, "category": "c"},
             {"item_id": "i1", "valid_from": at(-5), "recorded_at": at(5), "status": "banned"}]
    imps = [{"request_id": "r1", "item_id": "i1", "position": 1}, {"request_id": "r1", "item_id": "ghost", "position": 2}]
    con = build(tmp_path, requests=REQ, impressions=imps, items=items)
    assert set(ctr(con)) == {"i1"}
    assert exclusions(con)["item_unknown"] == 1


def test_generated_but_not_shown_candidates_are_counted_not_labelled(tmp_path):
    cands = [{"request_id": "r1", "item_id": f"i{k}", "retrieval_rank": k} for k in range(1, 5)]
    con = build(tmp_path, requests=REQ, impressions=slate(n=2), candidates=cands)
    assert set(ctr(con)) == {"i1", "i2"}
    assert exclusions(con)["not_shown"] == 2


def test_never_visible_can_be_excluded_by_policy(tmp_path, monkeypatch):
    policies = tmp_path / "policies" / "weights"
    policies.mkdir(parents=True)
    text = (tmp_path.parent / "x").name  # noqa: F841 - keep pytest's tmp naming out of the policy
    from recsys_assets.policies.files import PACKAGED_POLICY_DIR

    src = (PACKAGED_POLICY_DIR / "weights" / "ctr-default.yaml").read_text()
    (policies / "strict.yaml").write_text(src.replace("name: ctr-default", "name: strict")
                                          .replace("never_visible: zero_weight", "never_visible: exclude"))
    monkeypatch.setenv("RECSYS_POLICY_DIR", str(tmp_path / "policies"))
    imps = slate(n=2)
    imps[1]["visible_ms"] = 0
    con = build(tmp_path, requests=REQ, impressions=imps, pipeline=PipelineConfig(weight_policy="strict"))
    assert set(ctr(con)) == {"i1"}
    assert exclusions(con)["never_visible"] == 1


def test_weights_follow_the_policy(tmp_path):
    # default policy: skip_above 1.0, below_last_click 0.5 with 3 free positions then x0.85,
    # exposed_no_click 0.3; position factors 1.0 (<=3), 0.8 (<=10), 0.6 (<=20), 0.4.
    imps = slate(n=12)
    imps[10]["visible_ms"] = None
    con = build(tmp_path, requests=REQ, impressions=imps, events=[click("i2")])
    w = {k: r["weight"] for k, r in ctr(con).items()}
    assert w["i2"] == 1.0
    assert w["i1"] == pytest.approx(1.0)  # skip_above at position 1
    assert w["i5"] == pytest.approx(0.5 * 0.8)  # 3 below the click: still free
    assert w["i6"] == pytest.approx(0.5 * 0.8 * 0.85)
    assert w["i11"] == pytest.approx(0.5 * 0.6 * 0.85**6)  # visibility unknown factor is 1.0 by default
    assert w["i12"] == pytest.approx(0.5 * 0.6 * 0.85**7)


def test_repeated_exposure_strengthens_a_no_click(tmp_path):
    requests = [{"request_id": f"r{k}", "ts": at(60 * k), "user_id": "u1"} for k in range(1, 4)]
    imps = [{"request_id": f"r{k}", "item_id": "i1", "position": 1} for k in range(1, 4)]
    con = build(tmp_path, requests=requests, impressions=imps)
    got = {r["request_id"]: (r["prior_exposures"], r["weight"]) for r in rows(con, "SELECT * FROM ctr_labels")}
    assert got == {"r1": (0, 0.3), "r2": (1, 0.3), "r3": (2, pytest.approx(0.45))}


# ------------------------------------------------------------------ conversion, hide, return


def test_conversion_positive_negative_and_open_window(tmp_path):
    requests = REQ + [{"request_id": "r2", "ts": at(days=8), "user_id": "u1"}]
    events = [click("i1"), click("i2"), click("i1", minutes=60 * 24 * 2, kind="purchase", request_id=None),
              click("i3", request_id="r2", minutes=60 * 24 * 8 + 1)]
    con = build(tmp_path, requests=requests, impressions=slate(n=2) + slate("r2", n=3), events=events, days=9)
    got = {(r["request_id"], r["item_id"]): (r["label"], r["negative_type"], r["censor_reason"])
           for r in rows(con, "SELECT * FROM conversion_labels")}
    assert got[("r1", "i1")] == (1, None, None)
    assert got[("r1", "i2")] == (0, "clicked_no_conversion", None)
    # the events table ends on day 9 (2026-01-13): a click on day 8 has an open 7-day window
    assert got[("r2", "i3")] == (None, None, "window_open")


def test_conversion_censored_when_the_item_went_out_of_stock(tmp_path):
    items = [{"item_id": "i1", "valid_from": OLD, "category": "c"},
             {"item_id": "i1", "valid_from": at(60 * 24), "in_stock": False}]
    later = [{"request_id": "rz", "ts": at(days=8), "user_id": "u2"}]
    con = build(tmp_path, requests=REQ + later, impressions=slate(n=1) + slate("rz", n=1),
                events=[click("i1"), click("i1", request_id="rz", user="u2", minutes=60 * 24 * 8)], items=items, days=9)
    got = rows(con, "SELECT censor_reason, label FROM conversion_labels WHERE request_id = 'r1'")
    assert got == [{"censor_reason": "item_unavailable", "label": None}]


def test_conversion_censored_by_a_purchase_tracking_outage(tmp_path):
    outages = [{"start_ts": at(60 * 24 * 3), "end_ts": at(60 * 24 * 3 + 60), "event_types": "purchase"}]
    later = [{"request_id": "rz", "ts": at(days=8), "user_id": "u2"}]
    con = build(tmp_path, requests=REQ + later, impressions=slate(n=1) + slate("rz", n=1),
                events=[click("i1"), click("i1", request_id="rz", user="u2", minutes=60 * 24 * 8)], outages=outages, days=9)
    assert rows(con, "SELECT censor_reason FROM conversion_labels WHERE request_id = 'r1'") == [
        {"censor_reason": "tracking_outage"}]
    assert exclusions(con, "conversion")["censored_tracking_outage"] == 1


def test_hide_labels_and_reports(tmp_path):
    imps = slate(n=3)
    imps[2]["visible_ms"] = 0
    outages = [{"start_ts": at(days=3), "end_ts": at(days=3, minutes=5), "event_types": "hide"}]
    events = [click("i1", kind="hide"), click("i2", kind="report")]
    con = build(tmp_path, requests=REQ, impressions=imps, events=events, outages=outages, days=9)
    got = {r["item_id"]: (r["label"], r["reported"]) for r in rows(con, "SELECT * FROM hide_labels")}
    assert got == {"i1": (1, False), "i2": (0, True)}  # the never-visible i3 is not in the hide base
    assert exclusions(con, "hide")["never_visible"] == 1


def test_return_labels(tmp_path):
    events = [click("i1"), click("i1", kind="purchase", minutes=10), click("i1", kind="return", minutes=60 * 24 * 3),
              click("i2"), click("i2", kind="purchase", minutes=10)]
    con = build(tmp_path, requests=REQ, impressions=slate(n=2), events=events, days=9)
    got = {r["item_id"]: (r["label"], r["censor_reason"]) for r in rows(con, "SELECT * FROM return_labels")}
    assert got == {"i1": (1, None), "i2": (None, "window_open")}  # 30-day window, logs end after 9 days


def test_multitask_view_masks_each_task(tmp_path):
    from recsys_assets.warehouse.sql import run_sql

    events = [click("i1"), click("i1", kind="purchase", minutes=10)]
    con = build(tmp_path, requests=REQ, impressions=slate(n=2), events=events)
    run_sql(con, "labels/multitask_labels/build")
    got = {r["item_id"]: r for r in rows(con, "SELECT * FROM multitask_labels")}
    assert got["i1"]["ctr_label"] == 1 and got["i1"]["conversion_label"] == 1 and got["i1"]["conversion_mask"]
    assert got["i2"]["ctr_label"] == 0 and not got["i2"]["conversion_mask"] and got["i2"]["hide_mask"]
    assert got["i1"]["return_mask"] is False  # the return window is still open
