"""Negative pools: each source draws what it claims, filters hold on adversarial logs,
a policy edit is a new version, a broken policy trips the drift check, and a collision
stops the blocking invariant check before anything downstream runs."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
from direct import build_negatives_and_metrics, build_through_labels, connect, rows
from logbuilder import T0, at, write_table
from scenarios import DEFAULT_RETRIEVAL, broken_retrieval_policy_run, write_policy

from recsys_assets.config import PipelineConfig
from recsys_assets.policies.base import PolicyError
from recsys_assets.policies.files import sampler_policy
from recsys_assets.policies.samplers import SamplerPolicy

D1, D2 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)


# ------------------------------------------------------------------ policy files


@pytest.mark.parametrize(
    "edit, message",
    [
        (("  hard:             {ratio: 0.15, weight: 0.3}", "  hardest:          {ratio: 0.15, weight: 0.3}"), "unknown source(s) ['hardest']"),
        (("{ratio: 0.25, weight: 0.2}", "{ratio: 0.35, weight: 0.2}"), "mix ratios must sum to 1, got 1.1000"),
        (("alpha: 0.75", "alpha: 3.5"), "alpha: Input should be less than or equal to 2"),
        (("not_policy_blocked]", "not_policy_blocked, vibes_only]"), "unknown filter(s) ['vibes_only']"),
        (("kind: retrieval", "kind: ranking"), "'mix' is for retrieval policies"),
        (("negatives_per_positive: 8", "negatives_per_positive: 0"), "negatives_per_positive must be >= 1"),
        (("psi_error: 0.25", "psi_error: 0.05"), "drift.psi_error must be >= drift.psi_warn"),
        (("min_n: 100", "min_n: 0"), "min_n: Input should be greater than or equal to 1"),
        (("confidence: 0.999", "confidence: 1.0"), "confidence: Input should be less than 1"),
        (("seed: 29", "seed: [29"), "not valid YAML"),
    ],
)
def test_bad_policy_files_fail_with_file_and_rule(tmp_path, edit, message):
    path = write_policy(tmp_path, DEFAULT_RETRIEVAL.replace(*edit))
    with pytest.raises(PolicyError) as err:
        SamplerPolicy.from_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def _code_versions(env: dict[str, str]) -> dict[str, str]:
    """Code versions as a freshly loaded code location sees them (what `dg dev` shows after a reload)."""
    script = ("import json; from recsys_assets.definitions import defs; g = defs.resolve_asset_graph(); "
              "print(json.dumps({k.to_user_string(): g.get(k).code_version for k in g.get_all_asset_keys()}))")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_policy_edit_is_a_new_version_and_a_new_code_version(tmp_path, monkeypatch):
    before = sampler_policy("retrieval-default")
    old = _code_versions(dict(os.environ))
    write_policy(tmp_path, DEFAULT_RETRIEVAL.replace("seed: 29", "seed: 30"), "retrieval-default.yaml")
    monkeypatch.setenv("RECSYS_POLICY_DIR", str(tmp_path))
    after = sampler_policy("retrieval-default")
    assert after.name == before.name and after.version != before.version
    new = _code_versions(dict(os.environ))
    changed = {k for k in old if old[k] != new[k]}
    # the retrieval model trains on the policy's pools and the comparison draws its arms with it; the ranker
    # trains on ranking negatives: unaffected
    assert changed == {"retrieval_negatives", "retrieval_model", "retrieval_comparison"}, changed


# ------------------------------------------------------------------ sources draw what they claim


@pytest.fixture(scope="module")
def catalog_run(tmp_path_factory):
    """20 items in 2 categories; on D1 item k gets k clicks; on D2, 300 requests each click one item."""
    root = tmp_path_factory.mktemp("logs")
    items = [{"item_id": f"i{k:02d}", "valid_from": at(days=-30), "category": f"c{k % 2}",
              "dedup_group": "g-shared" if k in (4, 6) else None} for k in range(20)]
    requests, impressions, events = [], [], []
    for k in range(20):
        for j in range(k):
            rid = f"h{k}-{j}"
            requests.append({"request_id": rid, "ts": at(j, days=-1), "user_id": f"hist{k}"})
            impressions.append({"request_id": rid, "item_id": f"i{k:02d}", "position": 1})
            events.append({"event_id": f"he{k}-{j}", "ts": at(j + 0.5, days=-1), "type": "click", "item_id": f"i{k:02d}",
                           "user_id": f"hist{k}", "request_id": rid})
    for r in range(300):
        rid = f"r{r}"
        requests.append({"request_id": rid, "ts": at(r), "user_id": f"u{r}"})
        shown = [(r + s) % 20 for s in range(5)]
        for pos, k in enumerate(shown, start=1):
            impressions.append({"request_id": rid, "item_id": f"i{k:02d}", "position": pos})
        events.append({"event_id": f"e{r}", "ts": at(r + 0.5), "type": "click", "item_id": f"i{shown[2]:02d}",
                       "user_id": f"u{r}", "request_id": rid})
    for table, data in (("requests", requests), ("impressions", impressions), ("events", events), ("items", items)):
        write_table(root, table, data)
    policies = tmp_path_factory.mktemp("policies")
    open_filters = "filters: []"
    write_policy(policies, f"""name: pop
kind: retrieval
negatives_per_positive: 40
alpha: 0.5
mix: {{popularity: {{ratio: 1.0, weight: 0.1}}}}
oversample: 1
{open_filters}
seed: 3
""", "pop.yaml")
    write_policy(policies, f"""name: mixed
kind: retrieval
negatives_per_positive: 10
mix:
  uniform: {{ratio: 0.2, weight: 0.05}}
  same_category: {{ratio: 0.4, weight: 0.2}}
  exposed_no_click: {{ratio: 0.2, weight: 0.3}}
  hard: {{ratio: 0.2, weight: 0.3}}
hard_top_k: 2
oversample: 1
{open_filters}
seed: 4
""", "mixed.yaml")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECSYS_POLICY_DIR", str(policies))
    yield root, mp
    mp.undo()


def _draws(catalog_run, policy):
    from recsys_assets.assets.negatives import build_retrieval_negatives

    root, _ = catalog_run
    con = connect()
    build_through_labels(con, root, [D1 - dt.timedelta(days=1), D1])
    build_retrieval_negatives(con, PipelineConfig(), D1.isoformat(), policy)
    return con


def test_popularity_source_draws_proportionally_to_popularity_to_the_alpha(catalog_run):
    con = _draws(catalog_run, "pop")
    drawn = Counter(r[0] for r in con.execute("SELECT item_id FROM rn_draws WHERE source = 'popularity'").fetchall())
    total = sum(drawn.values())
    assert total == 300 * 40
    expected = {f"i{k:02d}": (k + 1) ** 0.5 for k in range(20)}  # k clicks on the day before
    norm = sum(expected.values())
    tv = 0.5 * sum(abs(drawn[i] / total - w / norm) for i, w in expected.items())
    assert tv < 0.02, f"total variation {tv:.4f} between drawn and target frequencies"
    probs = dict(con.execute("SELECT item_id, any_value(sampling_prob) FROM rn_draws GROUP BY 1").fetchall())
    for item, w in expected.items():
        assert math.isclose(probs[item], w / norm, rel_tol=1e-9), item


def test_uniform_same_category_exposed_and_hard_sources(catalog_run):
    con = _draws(catalog_run, "mixed")
    kept = rows(con, """SELECT n.*, l.position AS shown_position, l.label AS shown_label
                        FROM retrieval_negatives n
                        LEFT JOIN ctr_labels l ON l.request_id = n.request_id AND l.item_id = n.item_id""")
    by_source = Counter(r["source"] for r in kept)
    assert set(by_source) == {"uniform", "same_category", "exposed_no_click", "hard"}
    cat = {f"i{k:02d}": f"c{k % 2}" for k in range(20)}
    for r in kept:
        if r["source"] == "same_category":
            assert cat[r["item_id"]] == cat[r["positive_item_id"]] == r["category"]
            assert math.isclose(r["sampling_prob"], 1 / 10)
        if r["source"] == "uniform":
            assert math.isclose(r["sampling_prob"], 1 / 20)
        if r["source"] == "exposed_no_click":
            assert r["shown_label"] == 0 and math.isclose(r["sampling_prob"], 1 / 4)
        if r["source"] == "hard":  # the two best-placed shown items that were not clicked: positions 1 and 2
            assert r["shown_position"] in (1, 2) and r["shown_label"] == 0
    uniform = Counter(r[0] for r in con.execute("SELECT item_id FROM rn_draws WHERE source = 'uniform'").fetchall())
    assert len(uniform) == 20 and max(uniform.values()) / min(uniform.values()) < 3


def test_retrieval_sampling_is_deterministic_for_a_seed(catalog_run):
    snapshot = "SELECT request_id, positive_item_id, item_id, source, draw FROM retrieval_negatives ORDER BY ALL"
    first = _draws(catalog_run, "mixed").execute(snapshot).fetchall()
    second = _draws(catalog_run, "mixed").execute(snapshot).fetchall()
    assert first == second and len(first) > 1000


# ------------------------------------------------------------------ filters on adversarial logs


def test_filters_keep_out_every_kind_of_bad_negative(tmp_path):
    users = [{"user_id": "u1", "region": "EU", "age_verified": False}]
    items = [{"item_id": "pos", "valid_from": at(days=-30), "category": "c", "dedup_group": "g1"}]
    bad = {
        "sibling": {"dedup_group": "g1"},                       # same dedup group as the positive
        "stockout": {"in_stock": False},                        # out of stock at T
        "banned": {"status": "banned"},                         # policy blocked
        "na_only": {"regions": "NA"},                           # not sold in the user's region
        "adult": {"age_restricted": True},                      # user not age verified
        "liked": {},                                            # clicked by the user the day before
    }
    for name, attrs in bad.items():
        if name in ("stockout", "banned"):  # active when the day starts, changed an hour before the request
            items.append({"item_id": name, "valid_from": at(days=-30), "category": "c"})
            items.append({"item_id": name, "valid_from": at(-60), "category": "c", **attrs})
        else:
            items.append({"item_id": name, "valid_from": at(days=-30), "category": "c", **attrs})
    items.append({"item_id": "future", "valid_from": at(60), "category": "c"})  # created after the request
    items.append({"item_id": "ok", "valid_from": at(days=-30), "category": "c"})
    requests = [{"request_id": "old", "ts": at(days=-1), "user_id": "u1", "region": "EU"},
                {"request_id": "r1", "ts": T0, "user_id": "u1", "region": "EU"}]
    shown = ["pos", "liked", "ok", "sibling"]
    impressions = [{"request_id": "r1", "item_id": i, "position": p} for p, i in enumerate(shown, start=1)]
    impressions.append({"request_id": "old", "item_id": "liked", "position": 1})
    events = [{"event_id": "e0", "ts": at(1, days=-1), "type": "click", "item_id": "liked", "user_id": "u1", "request_id": "old"},
              {"event_id": "e1", "ts": at(1), "type": "click", "item_id": "pos", "user_id": "u1", "request_id": "r1"}]
    root = tmp_path / "logs"
    for table, data in (("requests", requests), ("impressions", impressions), ("events", events), ("items", items),
                        ("users", users)):
        write_table(root, table, data)
    write_policy(tmp_path / "policies", DEFAULT_RETRIEVAL.replace("negatives_per_positive: 8", "negatives_per_positive: 60")
                 .replace("name: retrieval-default", "name: wide").replace("oversample: 4", "oversample: 10"), "wide.yaml")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECSYS_POLICY_DIR", str(tmp_path / "policies"))
    try:
        con = connect()
        build_through_labels(con, root, [D1 - dt.timedelta(days=1), D1])
        build_negatives_and_metrics(con, root, [D1], retrieval="wide")
    finally:
        mp.undo()
    kept = {r[0] for r in con.execute("SELECT item_id FROM retrieval_negatives").fetchall()}
    assert kept == {"ok"}, kept
    removed = dict(con.execute("SELECT item_id, any_value(outcome_filter) FROM rn_draws WHERE outcome_filter IS NOT NULL "
                               "AND outcome_filter <> 'duplicate_draw' GROUP BY 1").fetchall())
    assert removed == {"pos": "is_the_positive", "sibling": "not_same_dedup_group", "stockout": "eligible_at_request_time",
                       "banned": "not_policy_blocked", "na_only": "visible_to_user", "adult": "visible_to_user",
                       "liked": "not_known_positive", "future": "not_known_at_request_time"}
    ranking = {r[0] for r in con.execute("SELECT item_id FROM ranking_negatives").fetchall()}
    # 'liked' is a known positive of u1, but it was shown in this request and passed over: the
    # ranking policy keeps every shown no-click (a known-positive filter only guards retrieval).
    assert ranking == {"ok", "sibling", "liked"}


# ------------------------------------------------------------------ drift knows its sample size


def _drift_results(tmp_path_factory, config, policy_update=None):
    """Every day's drift results of both samplers on a simulated log, built without Dagster."""
    from recsys_assets.checks.sampler_checks import drift_result
    from recsys_assets.simulator import SimulatorConfig, simulate

    root = tmp_path_factory.mktemp("drift")
    cfg = SimulatorConfig(**config)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECSYS_HOME", str(root / "home"))
        simulate(cfg, root / "logs")
        days = [cfg.start + dt.timedelta(days=i) for i in range(cfg.days)]
        con = connect()
        build_through_labels(con, root / "logs", days)
        build_negatives_and_metrics(con, root / "logs", days)
        impressions = con.execute("SELECT count(*) FROM impressions").fetchone()[0]
        out = {}
        for sampler in ("ranking", "retrieval"):
            policy = sampler_policy(f"{sampler}-default", sampler)
            if policy_update:
                policy = policy.model_copy(update={"drift": policy.drift.model_copy(update=policy_update)})
            for day in days[1:]:
                out[(sampler, day)] = drift_result(con, policy, sampler, day, f"{sampler}_sampler_drift")
        con.close()
    return impressions, out


SMALL = {"days": 5, "requests_per_day": 400, "items": 300, "users": 300, "unlabeled_bot_users": 0}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_drift_checks_stay_green_on_unchanged_small_simulations(tmp_path_factory, seed):
    # a few hundred requests a day: the 20 category shares of ~200 requests move by chance
    _, results = _drift_results(tmp_path_factory, SMALL | {"seed": seed})
    alarms = {k: r.description for k, r in results.items() if not r.passed}  # a WARN is a failed check too
    assert alarms == {}, alarms
    # judged, not waved through: every day's check compared the mixes against the noise bound
    assert all("noise bound" in r.description for r in results.values()), [r.description for r in results.values()]


def test_drift_checks_stay_green_on_a_20000_row_log_and_say_why(tmp_path_factory):
    # the Open Bandit sample's shape: 3 slots, 80 items in 4 categories, ~20,000 impressions in a week
    obd = {"days": 7, "requests_per_day": 950, "items": 80, "users": 2000, "slate_size": 3, "candidates_per_request": 10,
           "categories": 4, "unlabeled_bot_users": 0, "seed": 1}
    impressions, results = _drift_results(tmp_path_factory, obd)
    assert 18_000 <= impressions <= 22_000
    assert all(r.passed for r in results.values()), {k: r.description for k, r in results.items() if not r.passed}
    for r in results.values():  # ~50 items carry the week: too few independent draws to judge a mix
        assert re.match(r"(ranking|retrieval): not enough data \(n = \d+ < 100\): drift not judged \(n is the effective "
                        r"sample size (in the baseline|on 2026-01-\d\d: [\d,]+ negatives from [\d,]+ requests on \d+ items)\)$",
                        r.description), r.description
        assert r.metadata["min_n"].value == 100 and r.metadata["n"].value < 100


def test_below_the_policy_minimum_a_drift_check_passes_with_not_enough_data(tmp_path_factory):
    _, results = _drift_results(tmp_path_factory, SMALL | {"days": 3, "seed": 4}, {"min_n": 2000})
    for (sampler, _), r in results.items():
        assert r.passed, r.description
        n = int(re.search(r"\(n = (\d+) < 2,000\)", r.description).group(1))
        assert r.description.startswith(f"{sampler}: not enough data (n = {n} < 2,000): drift not judged") and 50 < n < 2000


# ------------------------------------------------------------------ checks through Dagster


def _check_evaluations(result) -> dict[str, object]:
    """Check evaluations of a run by 'asset:check'."""
    return {f"{e.event_specific_data.asset_key.to_user_string()}:{e.event_specific_data.check_name}": e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_a_broken_policy_makes_the_drift_check_fail_with_a_readable_message(home, monkeypatch):
    result = broken_retrieval_policy_run(home, monkeypatch)
    checks = _check_evaluations(result)
    drift = checks["sampler_metrics:retrieval_sampler_drift"]
    assert not drift.passed and drift.severity.value == "ERROR"
    assert re.search(r"retrieval source: same_category share 0\.0% vs 2[45]\.\d% baseline \(PSI \d+\.\d\d", drift.description), \
        drift.description
    assert drift.metadata["psi/source_share"].value > 0.25
    assert checks["sampler_metrics:ranking_sampler_drift"].passed, checks["sampler_metrics:ranking_sampler_drift"].description


def test_an_injected_collision_stops_downstream_assets(home, monkeypatch):
    from pipeline import materialize, sql

    root = home / "logs"
    requests = [{"request_id": "r1", "ts": T0, "user_id": "u1"}, {"request_id": "r2", "ts": at(60), "user_id": "u1"}]
    impressions = [{"request_id": "r1", "item_id": "x", "position": 1},
                   {"request_id": "r2", "item_id": "x", "position": 2}, {"request_id": "r2", "item_id": "y", "position": 1}]
    events = [{"event_id": "e1", "ts": at(1), "type": "click", "item_id": "x", "user_id": "u1", "request_id": "r1"},
              {"event_id": "e2", "ts": at(61), "type": "click", "item_id": "y", "user_id": "u1", "request_id": "r2"}]
    items = [{"item_id": i, "valid_from": at(days=-30), "category": "c"} for i in ("x", "y")]
    for table, data in (("requests", requests), ("impressions", impressions), ("events", events), ("items", items)):
        write_table(root, table, data)
    # the policy promises the known-positive filter; a bug in the sampler (injected below) breaks the promise
    careless = """name: careless
kind: retrieval
negatives_per_positive: 4
mix: {exposed_no_click: {ratio: 1.0, weight: 0.3}}
oversample: 4
filters: [not_known_positive]
seed: 1
"""
    write_policy(home / "policies", careless, "careless.yaml")
    monkeypatch.setenv("RECSYS_POLICY_DIR", str(home / "policies"))
    materialize(["raw_logs", "outages", "users", "items", "item_state"])
    materialize(["requests", "impressions", "events", "candidates", "history_rows", "history_rollups", "impression_context",
                 "ctr_labels"], ["2026-01-05"])
    # inject the bug: the sampler's SQL loses its known-positive filter, so u1's earlier click on x becomes a negative
    from recsys_assets.warehouse import sql as sql_module

    statements = list(sql_module.load_sql("negatives/retrieval_negatives/draws"))
    sabotaged = tuple(st.replace("WHEN $f_known_positive AND kp.item_id IS NOT NULL THEN 'not_known_positive'", "WHEN false THEN 'x'")
                      for st in statements)
    assert sabotaged != tuple(statements)
    monkeypatch.setattr(sql_module, "load_sql", lambda name, _orig=sql_module.load_sql: sabotaged
                        if name == "negatives/retrieval_negatives/draws" else _orig(name))
    (result,) = materialize(["ranking_negatives", "retrieval_negatives", "sampler_metrics"], ["2026-01-05"],
                            raise_on_error=False, retrieval_sampler="careless")
    checks = _check_evaluations(result)
    collision = checks["retrieval_negatives:no_known_positive_collisions"]
    assert not collision.passed and "negatives that are known positives of their user, e.g. r2 / x" in collision.description
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "retrieval_negatives" in materialized and "sampler_metrics" not in materialized
    assert sql("SELECT count(*) FROM sampler_metrics") == [(0,)]
