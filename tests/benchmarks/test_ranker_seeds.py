"""The ranker benchmark's settings, cache layout and summary, without simulating anything (the
figures come from `python benchmarks/ranker_seeds.py --setting all`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from recsys_assets.simulator import SimulatorConfig

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ranker_seeds", REPO / "benchmarks" / "ranker_seeds.py")
rs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rs)


def test_every_preset_is_a_valid_simulator_config():
    assert len(rs.PRESETS) == 11 and "default" in rs.PRESETS and rs.PRESETS["default"] == {}
    for overrides in rs.PRESETS.values():
        SimulatorConfig(**overrides)  # raises on a bad field or value
    assert rs.PRESETS["trust_swap_ab2"]["click_model"] == "trust_bias"
    assert rs.PRESETS["good_logger_noexplore"]["logging_noises"] == "0.05"  # a str field


def test_settings_resolve_from_names_all_and_sim_pairs():
    assert rs.resolve_settings(None, {}) == [("default", {})]
    assert rs.resolve_settings(None, {"position_bias": 1.2}) == [("custom", {"position_bias": 1.2})]
    assert [n for n, _ in rs.resolve_settings(["all"], {})] == list(rs.PRESETS)
    assert [n for n, _ in rs.resolve_settings(["pl_logger", "all", "default"], {})][:2] == ["pl_logger", "default"]
    ((label, sim),) = rs.resolve_settings(["ab2_noexplore"], {"exploration_share": 0.01})
    assert label == "ab2_noexplore+exploration_share=0.01"
    assert sim == {"logging_policies": 2, "exploration_share": 0.01}  # --sim wins over the preset
    with pytest.raises(SystemExit, match="unknown"):
        rs.resolve_settings(["nope"], {})
    args = rs.parse_args(["--setting", "default", "--setting", "pl_logger", "--sim", "click_model=dcm"])
    assert args.setting == ["default", "pl_logger"] and args.sim == ["click_model=dcm"] and args.seeds == 5


def test_sim_pairs_take_the_field_types():
    sim = rs.sim_overrides(["logging_policies=3", "position_bias=1", "logging_noises=0.05", "logger=plackett_luce"])
    assert sim == {"logging_policies": 3, "position_bias": 1.0, "logging_noises": "0.05", "logger": "plackett_luce"}
    assert isinstance(sim["position_bias"], float)
    SimulatorConfig(**sim)
    for bad in ("nofield=1", "logging_policies", "logging_policies=two"):
        with pytest.raises(SystemExit):
            rs.sim_overrides([bad])


def test_cache_directories_are_per_setting_and_seed(tmp_path):
    assert rs.cache_dir(str(tmp_path), "dcm_swap_ab2", 3) == tmp_path / "dcm_swap_ab2" / "seed-3"
    odd = rs.cache_dir(str(tmp_path), "default+position_bias=1.2", 1)
    assert odd.parent.name.startswith("custom-") and odd.parent != rs.cache_dir(str(tmp_path), "default+x=2", 1).parent


def _run(seed, naive, default, model_snips=None, naive_snips=None, curve="pbm_em"):
    evaluation = {"logging/truth_ndcg@10": 0.5, "naive/truth_ndcg@10": naive, "model/truth_ndcg@10": default,
                  "ceiling/truth_ndcg@10": 0.8, "gap_closed": (default - naive) / (0.8 - naive), "model/auc": 0.9,
                  "curves": "| table |", "promotable": default >= naive, "best_valid_estimate": "truth NDCG@10"}
    if model_snips is not None:
        evaluation |= {"model/exploration_snips": model_snips, "naive/exploration_snips": naive_snips,
                       "model/exploration_snips_low": 0.0, "naive/exploration_snips_low": 0.0,
                       "ceiling/exploration_snips": 0.4, "model/exploration_ips": 9.0,
                       "model/ips_dcg@10/low": 0.1, "naive/ips_dcg@10/low": 0.2}
    bias = {"used_method": curve, "identified": True, f"max_abs_error_vs_truth/{curve}": 0.02 * seed,
            "max_abs_error_vs_truth/x": 1.0}
    return rs.seed_record(seed, "s", evaluation, bias)


def test_summary_counts_estimators_wins_and_off_policy_agreement():
    runs = [_run(1, 0.6, 0.7, 0.5, 0.3), _run(2, 0.6, 0.75, 0.2, 0.3, curve="exploration_fit"),
            _run(3, 0.7, 0.65, 0.1, 0.3)]
    assert runs[0]["curve_max_abs_error"] == 0.02 and "curves" not in runs[0]["off_policy"]
    assert set(runs[0]["off_policy"]) == {"model/exploration_snips", "naive/exploration_snips",
                                          "model/exploration_snips_low", "naive/exploration_snips_low",
                                          "ceiling/exploration_snips", "model/ips_dcg@10/low",
                                          "naive/ips_dcg@10/low"}  # ips without snips/ips_dcg: not kept
    s = rs.summarize(runs)
    assert s["seeds"] == 3 and s["curve"] == {"pbm_em": 2, "exploration_fit": 1}
    assert s["default_beats_naive"] == 2 and s["compared"] == 3
    assert s["naive"]["mean"] == pytest.approx(0.6333333) and s["default"]["min"] == 0.65
    assert s["gap_closed_of_means"] == pytest.approx((0.7 - 0.633333) / (0.8 - 0.633333), rel=1e-4)
    # seed 1 agrees (both up), seed 2 disagrees (snips down, truth up), seed 3 agrees (both down)
    assert list(s["off_policy"]) == ["exploration_snips"]
    assert s["off_policy"]["exploration_snips"]["agree"] == 2 and s["off_policy"]["exploration_snips"]["compared"] == 3
    # seed 3's model is not promoted: the naive baseline is what is in use there
    assert s["promoted"] == 2 and s["identified"] == 3
    assert s["in_use"]["min"] == pytest.approx(0.7) and s["in_use"]["mean"] == pytest.approx((0.7 + 0.75 + 0.7) / 3)
    table = rs.markdown({"s": s})
    assert "| s | 3 |" in table and "pbm_em ×2, exploration_fit ×1" in table and "| exploration_snips |" in table
    assert "2/3" in table


def test_summary_without_off_policy_or_gap():
    runs = [_run(1, 0.6, 0.7)]
    runs[0]["gap_closed"] = None  # the evaluation leaves it out when the ceiling is not above naive
    s = rs.summarize(runs)
    assert s["off_policy"] == {} and s["gap_closed"] is None and s["seeds"] == 1
    table = rs.markdown({"s": s})
    assert "off-policy" not in table and "n/a" in table
