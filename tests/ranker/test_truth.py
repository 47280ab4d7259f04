"""The full-catalog relevance reader (``ranker/truth.py``) off the happy path: logs without
that truth, and ids the truth does not know. Its agreement with the simulator's candidate
truth is tested on the simulator's own small run (tests/simulator/test_simulator.py)."""

from __future__ import annotations

import json
import shutil
from datetime import date

import duckdb
import numpy as np
import pytest

from recsys_assets.ranker.truth import load_relevance, register_relevance
from recsys_assets.simulator import SimulatorConfig, simulate

VIEWS = ("truth_requests", "truth_items", "truth_user_preference", "truth_relevance_weights")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    simulate(SimulatorConfig(seed=3, start=date(2026, 1, 5), days=1, requests_per_day=300, items=200, users=300,
                             unlabeled_bot_users=0), out)
    return out


def test_without_truth_there_is_no_relevance_and_the_views_are_empty(tmp_path):
    (tmp_path / "requests").mkdir()
    assert load_relevance(tmp_path) is None
    con = duckdb.connect()
    assert register_relevance(con, tmp_path) is False
    for view in VIEWS:
        assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,), view
    columns = [d[0] for d in con.execute("SELECT * FROM truth_items").description]
    assert columns == ["item_id", "category", "preference_index", "quality", "price_premium"]


def test_truth_without_the_relevance_weights_counts_as_none(tiny, tmp_path):
    """A manifest without ``model.relevance`` (an older simulation): the relevance is absent,
    not half there."""
    old = tmp_path / "old"
    shutil.copytree(tiny / "truth", old / "truth")
    assert load_relevance(old) is not None
    manifest = json.loads((old / "truth" / "manifest.json").read_text())
    del manifest["model"]["relevance"]
    (old / "truth" / "manifest.json").write_text(json.dumps(manifest))
    assert load_relevance(old) is None
    assert register_relevance(duckdb.connect(), old) is False


def test_unknown_ids_raise_naming_them(tiny):
    relevance = load_relevance(tiny)
    assert relevance is not None
    known = relevance.request_ids[:2]
    with pytest.raises(ValueError, match=r"1 request id\(s\) not in truth/requests, e\.g\. r-nope"):
        relevance.attractiveness(np.array([known[0], "r-nope", known[1]]))
    with pytest.raises(ValueError, match=r"1 item id\(s\) not in truth/items, e\.g\. i-nope"):
        relevance.attractiveness_of(known, [relevance.item_ids[0], "i-nope"])
    matrix = relevance.attractiveness(known[::-1])  # rows follow the order asked for
    np.testing.assert_array_equal(matrix, relevance.attractiveness(known)[::-1])
    assert matrix.shape == (2, 200) and matrix.dtype == np.float64


def test_anonymous_requests_use_their_own_preference(tiny):
    relevance = load_relevance(tiny)
    assert relevance is not None
    anonymous = np.array([u is None for u in relevance.request_user_ids])
    assert 0 < anonymous.sum() < len(anonymous)
    rows = relevance.preference_row
    assert (rows[anonymous] >= 300).all() and (rows[~anonymous] < 300).all()
    assert len(np.unique(rows[anonymous])) == anonymous.sum()  # one fresh vector per anonymous request


def test_the_weights_come_from_the_simulator_constants(tiny):
    from recsys_assets.simulator import serving

    relevance = load_relevance(tiny)
    assert relevance is not None
    assert relevance.weights == {"quality": serving.QUALITY_WEIGHT, "preference": serving.PREFERENCE_WEIGHT,
                                 "intent": serving.INTENT_WEIGHT, "price": serving.PRICE_WEIGHT,
                                 "noise_sd": serving.UTILITY_NOISE}
    assert relevance.categories == tuple(f"c{k:02d}" for k in range(20))
