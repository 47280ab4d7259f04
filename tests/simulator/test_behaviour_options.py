"""Tests of the simulator's logging policies, logger, exploration designs and click models."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from recsys_assets.ingest.validation import validate_logs
from recsys_assets.simulator import SimulatorConfig, simulate
from recsys_assets.simulator.config import per_position
from recsys_assets.simulator.serving import (
    Assessment,
    exploration_slates,
    plackett_luce_order,
    plackett_luce_propensity,
    policy_labels,
)

TINY = SimulatorConfig(
    seed=5, start=date(2026, 2, 2), days=2, requests_per_day=600, items=800, users=1_000,
    slate_size=10, candidates_per_request=20,
)  # fmt: skip
CLEAN = replace(
    TINY, duplicate_rate=0.0, late_rate=0.0, malformed_rate=0.0, outage_hours=0.0, clock_skew_seconds=0.0,
    eligibility_leak_rate=0.0, visibility_unknown_rate=0.0, bot_share=0.0, internal_share=0.0,
    test_share=0.0, unlabeled_bot_users=0,
)  # fmt: skip
"""No dirt and people only: every click is a clean event of a person."""

GOLDEN_DEFAULT = "358f904b229ef0db1d314a99f2f19d4104396eef92b67409a55418a3d1942623"
"""Digest of the tables of a tiny default simulation, computed at a3113e7 (before the options)."""

OPTIONS: dict[str, dict[str, Any]] = {
    "two_policies": {"logging_policies": 2, "logging_qualities": "0.1,0.9"},
    "versions": {"logging_policies": 3, "ranker_versions_change_every_days": 1, "logging_noises": "0.3"},
    "plackett_luce": {"logger": "plackett_luce", "logger_temperature": 0.5},
    "topk_shuffle": {"exploration_design": "topk_shuffle", "exploration_top_k": 4, "exploration_share": 0.3},
    "adjacent_swap": {"exploration_design": "adjacent_swap", "exploration_share": 0.3},
    "cascade": {"click_model": "cascade"},
    "dcm": {"click_model": "dcm", "dcm_continuation": "0.7,0.5"},
    "trust_bias": {"click_model": "trust_bias", "trust_eps_minus": "0.4,0.2,0.1"},
}


ADDED_SINCE_GOLDEN = {"truth/items.parquet": {"price_premium"}}
"""Columns added to the output since the golden digest (new files are skipped too): additions
leave what was there unchanged."""
ADDED_FOLDERS_SINCE_GOLDEN = ("truth/requests",)


def table_digest(root: Path) -> str:
    """SHA-256 of the contents of every Parquet file (path, column names and values), but the
    files and columns added since the golden digest."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.parquet")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(ADDED_FOLDERS_SINCE_GOLDEN):
            continue
        table = pq.read_table(path)
        digest.update(str(path.relative_to(root)).encode())
        for name in table.column_names:
            if name in ADDED_SINCE_GOLDEN.get(relative, ()):
                continue
            digest.update(name.encode())
            digest.update(repr(table.column(name).to_pylist()).encode())
    return digest.hexdigest()


def views(out: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    bots = json.loads((out / "truth" / "manifest.json").read_text())["dirt"]["unlabeled_bots"]["user_ids"]
    con.execute(f"create view events as select * from read_parquet('{out}/events/*.parquet')")
    con.execute(
        f"""create view requests as select distinct request_id, ts, user_id, query, policy, is_exploration,
                   traffic = 'user' and coalesce(user_id, '') not in (select unnest({bots!r}::varchar[])) person
            from read_parquet('{out}/requests/*.parquet') where ts is not null and traffic is not null"""
    )
    con.execute(
        f"""create view impressions as select distinct request_id, item_id, position, propensity, visible_ms
            from read_parquet('{out}/impressions/*.parquet')
            where position >= 1 and item_id is not null and coalesce(propensity, 0) <= 1"""
    )
    con.execute(f"create view truth as select * from read_parquet('{out}/truth/attractiveness/*.parquet')")
    con.execute(f"create view examination as select * from read_parquet('{out}/truth/examination.parquet')")
    # people's impressions, without the last two hours (whose clicks may fall after the window)
    con.execute(
        """create view shown as
           select i.request_id, i.item_id, i.position, i.propensity, i.visible_ms, r.policy, r.is_exploration,
                  exists (select 1 from events e where e.type = 'click' and e.request_id = i.request_id
                          and e.item_id = i.item_id) clicked
           from impressions i join requests r using (request_id)
           where r.person and r.ts < (select max(ts) from requests) - interval 2 hour"""
    )
    return con


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    outs = {}
    for name, options in OPTIONS.items():
        out = tmp_path_factory.mktemp(name)
        simulate(replace(TINY, **options), out)
        outs[name] = out
    return outs


def force_attractiveness(monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    """Every candidate gets attractiveness ``value`` (click probability ``value`` without click noise)."""
    monkeypatch.setattr(
        Assessment, "attractiveness", lambda self, intercept: np.full(self.utility.shape, value)
    )


def click_rate_by_position(out: Path) -> np.ndarray:
    return np.array(
        views(out)
        .execute("select avg(clicked::int) from shown group by position order by position")
        .fetchall()
    )[:, 0]


def truth_curve(out: Path) -> np.ndarray:
    return pq.read_table(out / "truth" / "examination.parquet").column("examination").to_numpy()


# --- the default is unchanged ----------------------------------------------------------------


def test_default_output_is_unchanged(tmp_path: Path) -> None:
    config = SimulatorConfig(
        days=2, requests_per_day=400, items=800, users=1000, slate_size=10, candidates_per_request=20
    )
    simulate(config, tmp_path)
    assert table_digest(tmp_path) == GOLDEN_DEFAULT
    assert policy_labels(config) == ("ranker_v3", "explore_v1")


# --- every option gives logs in the contract -------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_options_give_valid_logs(simulated: dict[str, Path], name: str) -> None:
    report = validate_logs(simulated[name])
    assert report.problems == []
    manifest = json.loads((simulated[name] / "truth" / "manifest.json").read_text())
    for key, value in OPTIONS[name].items():
        assert manifest["config"][key] == value
    curve = truth_curve(simulated[name])
    assert curve[0] == pytest.approx(1.0) and np.all((curve >= 0) & (curve <= 1))


def test_invalid_options_fail_with_one_line_messages() -> None:
    cases = {
        "logger": "greedy", "exploration_design": "pairs", "click_model": "ubm", "logging_policies": 0,
        "logging_qualities": "0.2,x", "logging_noises": "-1", "ranker_versions_change_every_days": -2,
        "logger_temperature": 0.0, "exploration_top_k": 1, "dcm_continuation": "1.5", "trust_eps_plus": "",
        "ranker_item_noise": -0.1,
    }  # fmt: skip
    for field, value in cases.items():
        with pytest.raises(ValueError, match=f"^SimulatorConfig.{field} ") as failure:
            replace(TINY, **{field: value})
        assert "\n" not in str(failure.value)
    with pytest.raises(ValueError, match="one per logging policy"):
        replace(TINY, logging_policies=3, logging_qualities="0.1,0.2")


def test_set_overrides_reach_the_new_fields() -> None:
    from recsys_assets.assets.sources import simulator_config

    config = simulator_config({"click_model": "dcm", "logging_policies": "2", "logger_temperature": "0.5",
                               "trust_eps_minus": "0.3,0.1"})  # fmt: skip
    assert (config.click_model, config.logging_policies, config.logger_temperature) == ("dcm", 2, 0.5)
    assert per_position(config.trust_eps_minus, 4) == (0.3, 0.1, 0.1, 0.1)


# --- logging policies ------------------------------------------------------------------------


def test_policies_are_ab_buckets_with_their_own_rankers(simulated: dict[str, Path]) -> None:
    con = views(simulated["two_policies"])
    counts = dict(
        con.execute("select policy, count(*) from requests where not is_exploration group by 1").fetchall()
    )
    assert set(counts) == {"ranker_v3_a", "ranker_v3_b"}
    assert counts["ranker_v3_a"] == pytest.approx(counts["ranker_v3_b"], rel=0.15)
    assert set(con.execute("select distinct policy from requests where is_exploration").fetchall()) == {
        ("explore_v1",)
    }
    # ranker b weighs attractiveness at 0.9, ranker a at 0.1: b puts attractive items higher
    corr = dict(con.execute(
        """select r.policy, corr(t.position, t.attractiveness) from truth t join requests r using (request_id)
           where t.shown and not r.is_exploration group by 1"""
    ).fetchall())  # fmt: skip
    assert corr["ranker_v3_b"] < corr["ranker_v3_a"] - 0.1


def test_ranker_versions_change_over_days(simulated: dict[str, Path]) -> None:
    con = views(simulated["versions"])
    by_day = con.execute(
        "select ts::date, list(distinct policy order by policy) from requests where not is_exploration group by 1 order by 1"
    ).fetchall()
    assert [policies for _, policies in by_day] == [
        ["ranker_v3_a", "ranker_v3_b", "ranker_v3_c"], ["ranker_v4_a", "ranker_v4_b", "ranker_v4_c"],
    ]  # fmt: skip
    manifest = json.loads((simulated["versions"] / "truth" / "manifest.json").read_text())
    assert sorted(manifest["model"]["logging_policies"]) == sorted(by_day[0][1] + by_day[1][1])
    # the same query-item pair lands at different positions under different rankers
    spread = con.execute(
        """select avg((n > 1)::int) from (select r.query, i.item_id, count(distinct i.position) n
           from impressions i join requests r using (request_id) where not r.is_exploration group by 1, 2)"""
    ).fetchone()[0]
    assert spread > 0.2


# --- logged propensities ---------------------------------------------------------------------


def test_plackett_luce_propensities_are_exact() -> None:
    rng = np.random.default_rng(3)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 40_000))
    order = plackett_luce_order(logits, rng)
    slate = order[:, :3].astype(np.int16)
    propensity = plackett_luce_propensity(logits, slate, np.full(len(slate), 3, np.int32))
    assert np.all((propensity > 0) & (propensity <= 1))
    first = np.bincount(slate[:, 0], minlength=4) / len(slate)
    np.testing.assert_allclose(first, [0.5, 0.3, 0.15, 0.05], atol=0.01)
    np.testing.assert_allclose(propensity[:, 0], np.array([0.5, 0.3, 0.15, 0.05])[slate[:, 0]])
    # position 2 given item 0 at position 1: 0.3 / 0.5, 0.15 / 0.5, 0.05 / 0.5
    after_top = slate[:, 0] == 0
    second = np.bincount(slate[after_top, 1], minlength=4)[1:] / after_top.sum()
    np.testing.assert_allclose(second, [0.6, 0.3, 0.1], atol=0.015)
    np.testing.assert_allclose(propensity[after_top, 1], np.array([0, 0.6, 0.3, 0.1])[slate[after_top, 1]])


def test_plackett_luce_logs_carry_propensities(simulated: dict[str, Path]) -> None:
    con = views(simulated["plackett_luce"])
    low, high, missing = con.execute(
        "select min(propensity), max(propensity), count(*) - count(propensity) from shown"
    ).fetchone()
    assert 0 < low and high <= 1 and missing == 0
    # position 1: better than a uniform pick among the 20 candidates, far from deterministic
    top = con.execute(
        "select avg(propensity) from shown where not is_exploration and position = 1"
    ).fetchone()[0]
    assert 1 / TINY.candidates_per_request < top < 0.9


def test_topk_shuffle_randomizes_the_top_k_only(simulated: dict[str, Path]) -> None:
    con = views(simulated["topk_shuffle"])
    values = con.execute(
        "select position <= 4, min(propensity), max(propensity) from shown where is_exploration group by 1 order by 1"
    ).fetchall()
    assert values == [(False, 1.0, 1.0), (True, 0.25, 0.25)]
    slate = np.array([[0, 1, 2, 3, 4, 5, 6, 7]] * 2_000, np.int16)
    config = replace(TINY, exploration_design="topk_shuffle", exploration_top_k=4)
    shuffled, propensity = exploration_slates(
        config, slate, np.full(2_000, 8, np.int32), np.random.default_rng(1)
    )
    assert (shuffled[:, 4:] == slate[:, 4:]).all() and (
        np.sort(shuffled[:, :4], axis=1) == slate[:, :4]
    ).all()
    np.testing.assert_allclose(np.bincount(shuffled[:, 0]) / 2_000, 0.25, atol=0.04)
    assert (propensity[:, :4] == 0.25).all() and (propensity[:, 4:] == 1.0).all()


def test_adjacent_swap_moves_exactly_one_adjacent_pair() -> None:
    n, m = 8, 7_000
    slate = np.array([list(range(n))] * m, np.int16)
    config = replace(TINY, exploration_design="adjacent_swap")
    swapped, propensity = exploration_slates(config, slate, np.full(m, n, np.int32), np.random.default_rng(2))
    moved = swapped != slate
    assert (moved.sum(axis=1) == 2).all()
    left = np.argmax(moved, axis=1)
    assert (moved[np.arange(m), left + 1]).all()
    assert (swapped[np.arange(m), left] == left + 1).all()
    np.testing.assert_allclose(np.bincount(left, minlength=n - 1) / m, 1 / (n - 1), atol=0.015)
    # swapped items: 1 / (n - 1); untouched ends 1 - 1 / (n - 1); untouched middle 1 - 2 / (n - 1)
    np.testing.assert_allclose(propensity[moved], 1 / (n - 1))
    ends = np.zeros((m, n), bool)
    ends[:, [0, -1]] = True
    np.testing.assert_allclose(propensity[~moved & ends], 1 - 1 / (n - 1))
    np.testing.assert_allclose(propensity[~moved & ~ends], 1 - 2 / (n - 1))
    # the propensity is the frequency of the item at that position
    frequency_stays = 1 - moved[:, 3].mean()
    assert frequency_stays == pytest.approx(1 - 2 / (n - 1), abs=0.015)


def test_adjacent_swap_logs(simulated: dict[str, Path]) -> None:
    con = views(simulated["adjacent_swap"])
    per_request = con.execute(
        """select n, list(position order by position) filter (where abs(propensity - 1.0 / (n - 1)) < 1e-9),
                  bool_and(propensity > 0 and propensity <= 1)
           from (select *, count(*) over (partition by request_id) n from shown where is_exploration)
           group by request_id, n"""
    ).fetchall()
    assert len(per_request) > 100
    for n, swapped, valid in per_request:
        assert valid
        if n > 3:
            assert len(swapped) == 2 and swapped[1] == swapped[0] + 1
    assert con.execute("select count(propensity) from shown where not is_exploration").fetchone()[0] == 0


# --- click models and their examination truth ------------------------------------------------


def test_pbm_truth_matches_click_through_when_everything_is_attractive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    force_attractiveness(monkeypatch, 1.0)
    simulate(replace(CLEAN, click_noise=0.0, requests_per_day=1_500), tmp_path)
    np.testing.assert_allclose(click_rate_by_position(tmp_path), truth_curve(tmp_path), atol=0.03)


@pytest.mark.parametrize("attractiveness", [1.0, 0.0])
def test_trust_bias_clicks_are_examination_times_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attractiveness: float
) -> None:
    force_attractiveness(monkeypatch, attractiveness)
    config = replace(
        CLEAN, click_noise=0.0, requests_per_day=1_500, click_model="trust_bias",
        trust_eps_plus="0.95,0.9,0.85", trust_eps_minus="0.5,0.3,0.2,0.1",
    )  # fmt: skip
    simulate(config, tmp_path)
    field = config.trust_eps_plus if attractiveness else config.trust_eps_minus
    trust = np.array(per_position(field, config.slate_size))
    curve = truth_curve(tmp_path)
    assert (curve <= np.arange(1, 11) ** -config.position_bias + 1e-12).all()
    np.testing.assert_allclose(click_rate_by_position(tmp_path), curve * trust, atol=0.03)
    manifest = json.loads((tmp_path / "truth" / "manifest.json").read_text())
    assert manifest["model"]["trust_eps_minus"][:5] == [0.5, 0.3, 0.2, 0.1, 0.1]


def test_cascade_never_clicks_below_the_first_click(tmp_path: Path) -> None:
    simulate(replace(CLEAN, click_model="cascade", requests_per_day=1_000), tmp_path)
    con = views(tmp_path)
    clicks = con.execute(
        "select max(n), sum(n) from (select request_id, sum(clicked::int) n from shown group by 1)"
    ).fetchone()
    assert clicks[0] == 1 and clicks[1] > 100
    # examination: 1 at the top, then the chance nobody clicked above (and the item is in view)
    check_examination_truth(tmp_path)


def test_dcm_clicks_go_on_with_the_continuation_probability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    force_attractiveness(monkeypatch, 1.0)
    config = replace(
        CLEAN, click_noise=0.0, requests_per_day=2_000, click_model="dcm", dcm_continuation="0.8,0.5,0.3"
    )
    simulate(config, tmp_path)
    con = views(tmp_path)
    # every examined item is clicked, so clicks are positions 1..c; going on past k happens with lambda_k
    rows = con.execute(
        """select sum(clicked::int), count(*) filter (where visible_ms > 0),
                  list(position order by position) filter (where clicked)
           from shown group by request_id"""
    ).fetchall()
    assert all(
        positions is None or positions == list(range(1, len(positions) + 1)) for _, _, positions in rows
    )
    clicks = np.array([r[0] for r in rows])
    visible = np.array([r[1] for r in rows])
    for k, expected in [(1, 0.8), (2, 0.5), (3, 0.3)]:
        at_risk = (clicks >= k) & (visible > k)
        assert (clicks[at_risk] > k).mean() == pytest.approx(expected, abs=0.05)
    curve = truth_curve(tmp_path)
    assert curve[0] == 1.0 and curve[1] == pytest.approx(0.8 * visible_share(visible, 2), abs=0.04)
    check_examination_truth(tmp_path)


def visible_share(visible: np.ndarray, k: int) -> float:
    return float((visible >= k).sum() / (visible >= 1).sum())


def check_examination_truth(out: Path) -> None:
    """The truth curve (empirical, from the latent draws) agrees with the exact per-impression
    examination probabilities of truth/attractiveness, averaged per position."""
    con = views(out)
    exact = np.array(con.execute(
        """select avg(t.examination) from truth t join requests r using (request_id)
           where t.shown and r.person group by t.position order by t.position"""
    ).fetchall())[:, 0]  # fmt: skip
    np.testing.assert_allclose(truth_curve(out), exact, atol=0.03)


def test_dcm_and_cascade_truth_files(simulated: dict[str, Path]) -> None:
    for name in ("cascade", "dcm"):
        curve = truth_curve(simulated[name])
        assert (np.diff(curve) <= 1e-9).all()
        check_examination_truth(simulated[name])
    assert truth_curve(simulated["dcm"])[5] > truth_curve(simulated["cascade"])[5]
