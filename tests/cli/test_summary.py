"""The headline of `recsys run`'s summary: truth NDCG@10 where the logs have it; otherwise the
estimate the registry judged by comes first and click NDCG@10 is named as biased; undefined
figures (NULL) are skipped, never formatted."""

from __future__ import annotations

import pytest

from recsys_assets.assets.direct import connect
from recsys_assets.cli.summary import headline_lines
from recsys_assets.warehouse.tables import ensure_schema


def _warehouse(figures: dict[tuple[str, str], float | None], judged_by: str | None):
    con = connect()
    ensure_schema(con)
    for (variant, metric), value in figures.items():
        con.execute("INSERT INTO ranker_evaluation VALUES ('m1', ?, ?, 'all', ?, NULL, NULL)", [variant, metric, value])
    con.execute("INSERT INTO model_registry (model_id, registered_at, model_path, training_partitions, eval_partitions, "
                "rows, positives, data_fingerprint, metrics, judged_by) VALUES ('m1', TIMESTAMP '2026-01-10 10:00', '/m', "
                "'2026-01-05', '2026-01-08', 10, 2, 'f', '{}', ?)", [judged_by])
    return con


@pytest.mark.parametrize(("figures", "judged_by", "expected"), [
    ({("model", "truth_ndcg@10"): 0.84, ("naive", "truth_ndcg@10"): 0.72, ("model", "ndcg@10"): 0.3,
      ("model", "ips_dcg@10"): 1.6},
     "truth_ndcg@10",
     ["model m1: truth_ndcg@10 on the held-out days: model 0.8400, naive 0.7200"]),
    ({("model", "ndcg@10"): 0.31, ("naive", "ndcg@10"): 0.52, ("logging", "ndcg@10"): 0.71,
      ("model", "ips_dcg@10"): 1.646, ("naive", "ips_dcg@10"): 1.4116},
     "ips_dcg@10",
     ["model m1: ips_dcg@10 on the held-out days: model 1.6460, naive 1.4116",
      ("model m1: click NDCG@10 (biased: it rewards reproducing the logged order) on the held-out days: "
       "model 0.3100, naive 0.5200, logging 0.7100")]),
    ({("model", "truth_ndcg@10"): None, ("model", "ndcg@10"): None, ("model", "auc"): 0.699, ("naive", "auc"): 0.699},
     None,
     ["model m1: auc on the held-out days: model 0.6990, naive 0.6990"]),
], ids=["truth", "user logs: the judge first, click NDCG labelled", "one-item slates: NULL NDCG skipped"])
def test_the_headline_names_what_judges_and_what_is_biased(figures, judged_by, expected):
    assert headline_lines(_warehouse(figures, judged_by), "m1") == expected
