"""The report's charts (matplotlib, inline SVG) and the HTML report built from a small warehouse."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import duckdb
import pytest

from recsys_assets.report import charts
from recsys_assets.report.html import build_report
from recsys_assets.warehouse.tables import ensure_schema

DAYS30 = [(dt.date(2026, 1, 1) + dt.timedelta(days=i)).isoformat()[5:] for i in range(30)]  # MM-DD


def _texts(svg: str) -> list[str]:
    """The visible text of an SVG written with svg.fonttype "none" (every label is a <text>)."""
    return [t.strip() for t in re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)]


def _reliability_bins(top: float = 0.08) -> dict[str, list[tuple[float, float, int]]]:
    model = [(top * (i + 1) / 10, top * (i + 1) / 10 * 0.9, 1000 + i) for i in range(10)]
    naive = [(top * (i + 1) / 12, top * (i + 1) / 10, 2000) for i in range(10)]
    return {"model": model, "naive": naive}


@pytest.mark.parametrize("make", [
    lambda: charts.line_chart("Clicks per day", {"a": [(1, 0.1), (2, 0.3)], "b": [(1, 0.2), (2, None)]},
                              "day index", "click rate"),
    lambda: charts.bar_chart("NDCG per arm", ["naive", "debiased"], {"ndcg@10": [0.61, 0.66]}, "ndcg@10",
                             x_label="arm"),
    lambda: charts.examination_chart("Examination", {"pbm_em": [(1, 1.0), (2, 0.6)], "truth": [(1, 1.0), (2, 0.5)]},
                                     "position", "examination"),
    lambda: charts.reliability_chart("Reliability", _reliability_bins(), "predicted CTR", "observed CTR"),
], ids=["line", "bar", "examination", "reliability"])
def test_each_chart_is_inline_svg_with_its_title_and_axis_labels(make):
    svg = make()
    assert svg.startswith("<svg"), svg[:80]
    assert svg.rstrip().endswith("</svg>")
    # no XML prolog, no script, nothing fetched when viewed
    assert "<?xml" not in svg and "<script" not in svg and "href=\"http" not in svg and "url(http" not in svg
    texts = _texts(svg)
    title = re.search(r'aria-label="([^"]*)"', svg).group(1)
    assert title in texts
    x_label, y_label = {"Clicks per day": ("day index", "click rate"), "NDCG per arm": ("arm", "ndcg@10"),
                        "Examination": ("position", "examination"),
                        "Reliability": ("predicted CTR", "observed CTR")}[title]
    assert x_label in texts and y_label in texts
    # nice ticks: no tick label with more than 3 significant digits (0.945, 0.709 were the old ones)
    numbers = [t.replace("\u2212", "-") for t in texts if re.fullmatch(r"\u2212?\d+(\.\d+)?", t)]
    assert numbers, texts
    significant = [n.replace("-", "").replace(".", "").lstrip("0").rstrip("0") for n in numbers]
    bar_values = {"0.610", "0.660"}  # the NDCG bars are labelled with their values
    assert all(len(d) <= 2 for n, d in zip(numbers, significant) if n not in bar_values), numbers


def test_the_reliability_diagram_scales_to_the_data_and_shows_the_bin_counts():
    bins = _reliability_bins(top=0.08)
    fig = charts.reliability_figure("Reliability", bins)
    main, counts = fig.axes
    assert main.get_xlim() == main.get_ylim()  # equal ranges, the diagonal at 45 degrees
    assert 0.08 < main.get_xlim()[1] < 0.2  # not 0..1 when every prediction is below 0.1
    assert main.get_xlim()[0] == 0
    assert sorted(p.get_height() for p in counts.patches) == sorted(n for rows in bins.values() for *_, n in rows)
    assert counts.get_ylabel() == "rows per bin"
    assert counts.get_ylim()[1] >= 2000
    svg = charts.to_svg(fig, "Reliability")
    assert "rows per bin" in _texts(svg) and "perfectly calibrated" in _texts(svg)


def test_reliability_bins_spanning_decades_are_drawn_on_equal_log_axes():
    # equal-count bins of skewed predictions (a real run): 8 of 10 bins below 0.02, the last at 0.17
    predicted = [0.00027, 0.00053, 0.00085, 0.0014, 0.0023, 0.0042, 0.0079, 0.017, 0.041, 0.17]
    bins = {"model": [(p, p * (1.1 if i % 2 else 0.9), 11398) for i, p in enumerate(predicted)]}
    fig = charts.reliability_figure("Reliability", bins)
    main, counts = fig.axes
    assert main.get_xscale() == main.get_yscale() == "log"
    assert main.get_xlim() == main.get_ylim()
    assert 0.0001 < main.get_xlim()[0] < 0.00027 * 0.9 and 0.17 * 1.1 < main.get_xlim()[1] < 0.5
    assert [p.get_height() for p in counts.patches] == [11398] * 10
    texts = _texts(charts.to_svg(fig, "Reliability"))
    assert "predicted CTR (log scale)" in texts and "0.001" in texts and "0.01" in texts


def test_the_reliability_diagram_without_counts_has_one_panel():
    fig = charts.reliability_figure("Reliability", {"model": [(0.01, 0.02, None), (0.03, 0.025, None)]})
    assert len(fig.axes) == 1
    assert 0.03 < fig.axes[0].get_xlim()[1] < 0.04


@pytest.mark.parametrize("svg", [
    charts.line_chart("Empty lines", {}),
    charts.line_chart("Empty lines", {"a": [(1, None)]}),
    charts.bar_chart("Empty bars", [], {}),
    charts.bar_chart("Empty bars", ["a", "b"], {"x": [None, None]}),
    charts.examination_chart("Empty curves", {}),
    charts.reliability_chart("Empty reliability", {}),
    charts.reliability_chart("Empty reliability", {"model": [(None, None, 10)]}),
], ids=["line", "line-none", "bar", "bar-none", "examination", "reliability", "reliability-none"])
def test_empty_input_gives_a_no_data_text(svg):
    assert "<svg" not in svg
    assert "no data" in svg


def test_thirty_days_of_bars_get_thinned_rotated_labels():
    svg = charts.bar_chart("Negative mix by day", DAYS30, {"a": [0.4] * 30, "b": [0.6] * 30}, "share",
                           stacked=True, x_label="day (MM-DD)")
    shown = [t for t in _texts(svg) if t in DAYS30]
    assert 2 <= len(shown) <= charts.MAX_X_LABELS  # the old hand-drawn SVG wrote all 30, 13 px apart
    assert shown[0] == "01-01"
    fig = charts.bar_figure("Negative mix by day", DAYS30, {"a": [0.4] * 30}, "share", stacked=True)
    fig.draw_without_rendering()
    labels = [t for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert all(t.get_rotation() > 0 for t in labels)
    boxes = [t.get_window_extent() for t in labels]
    assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    fig = charts.bar_figure("Mix", DAYS30[:3], {"bottom": [0.7] * 3, "top": [0.3] * 3}, "share", stacked=True)
    fig.draw_without_rendering()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["top", "bottom"]  # in the order of the stack
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1  # not over the bars


def test_thirty_days_of_lines_get_thinned_labels_and_the_legend_moves_out_with_many_series():
    series = {f"metric {k}": [(i, 0.1 * k + 0.001 * i) for i in range(30)] for k in range(5)}
    fig = charts.line_figure("Sampler metrics by day", series, "day (MM-DD)", "", dict(enumerate(DAYS30)))
    fig.draw_without_rendering()
    ax = fig.axes[0]
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) <= charts.MAX_X_LABELS
    boxes = [t.get_window_extent() for t in labels]
    assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    legend = ax.get_legend()
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1  # right of the plot, not over it
    assert fig.get_size_inches().tolist() == list(charts.FIGSIZE)


def test_the_truth_curve_is_dashed_black_and_labelled():
    fig = charts.examination_figure("Examination", {
        "truth": [(p, 1 / p) for p in range(1, 11)],
        "pbm_em": [(p, 1 / p + 0.01) for p in range(1, 11)],
        "exploration_ratio": [(p, 1 / p - 0.01) for p in range(1, 11)],
    })
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert lines["truth"].get_linestyle() == "--"
    assert lines["truth"].get_color() == "black"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1] == "truth"
    assert lines["pbm_em"].get_linestyle() == "-"
    ticks = fig.axes[0].get_xticks()
    assert all(float(t).is_integer() for t in ticks)  # positions are whole numbers


# --------------------------------------------------------------------------- the whole report


def _warehouse() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with a few rows in every table the report reads."""
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    con.execute("""INSERT INTO ctr_ranker VALUES ('m-1', TIMESTAMP '2026-01-20 10:00', '/m', 'ipw', 'all_shown',
                   DATE '2026-01-01', DATE '2026-01-14', DATE '2026-01-15', 1000, 50, 100, 10, 's1', 'w1', 'fp', '{}')""")
    evaluation = []
    for variant, scale in (("model", 1.0), ("naive", 1.3), ("logging", 1.1)):
        evaluation += [(variant, "rows", "all", 1003.0), (variant, "ndcg@10", "all", 0.6 / scale),
                       (variant, "auc", "all", 0.7 / scale), (variant, "truth_ndcg@10", "all", 0.65 / scale)]
        if variant != "logging":
            for b in range(1, 11):
                evaluation += [(variant, "reliability_predicted", f"reliability:{b}", 0.007 * b * scale),
                               (variant, "reliability_observed", f"reliability:{b}", 0.0065 * b)]
    con.executemany("INSERT INTO ranker_evaluation (model_id, variant, metric, slice, value) VALUES ('m-1', ?, ?, ?, ?)",
                    evaluation)
    for method, decay in (("exploration_ratio", 0.8), ("pbm_em", 0.75)):
        con.executemany("INSERT INTO position_bias VALUES (?, ?, ?, NULL, NULL, ?, DATE '2026-01-01', DATE '2026-01-14', NULL, true)",
                        [(method, p, decay ** (p - 1), method == "pbm_em") for p in range(1, 21)])
    con.execute("CREATE VIEW truth_examination AS SELECT range::INTEGER AS position, 0.78 ** (range - 1) AS examination "
                "FROM range(1, 21)")
    con.execute("""INSERT INTO ctr_labels SELECT DATE '2026-01-02', 'r' || (i // 20), 'i' || i, 1 + i % 20,
                   TIMESTAMP '2026-01-02 00:00', NULL, CASE WHEN i % (3 + i % 20) = 0 THEN 1 ELSE 0 END, 1.0, NULL,
                   NULL, NULL, NULL, 0, false, NULL, 'w1' FROM range(2000) t(i)""")
    metrics = []
    for d in range(30):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=d)
        for key, share in (("exposed_no_click", 0.5), ("skip_above", 0.3), ("never_visible", 0.2)):
            metrics.append((day, "ranking", "source_share", key, share))
        for key, share in (("popular", 0.6), ("random", 0.4)):
            metrics.append((day, "retrieval", "source_share", key, share))
        metrics += [(day, "ranking", "negatives_per_positive", "", 4.0 + d % 3),
                    (day, "ranking", "false_negative_estimate", "", 0.02),
                    (day, "retrieval", "shortfall_rate", "", 0.01 * (d % 5))]
    con.executemany("INSERT INTO sampler_metrics VALUES (?, ?, 's1', ?, ?, ?)",
                    [(d, s, m, k, v) for d, s, m, k, v in metrics])
    con.executemany("INSERT INTO sampler_comparison VALUES ('c-1', TIMESTAMP '2026-01-21 00:00', ?, ?, NULL, ?, "
                    "'truth_ndcg@10', 'truth_ndcg@10', ?, ?, ?, 'keep **default**')",
                    [("default", "default@1", 1, 0.66, 0.64, 0.68), ("uniform", "uniform@1", 2, 0.61, 0.59, 0.63)])
    con.execute("INSERT INTO retrieval_model VALUES ('rm-1', TIMESTAMP '2026-01-21 00:00', '/m', 'sampled', true, "
                "DATE '2026-01-01', DATE '2026-01-12', DATE '2026-01-13', 900, 7200, 3, 'retrieval-default@1', 'f', '{}')")
    con.executemany("INSERT INTO retrieval_evaluation VALUES ('rm-1', ?, ?, ?, ?, ?, ?)",
                    [("model", "recall@100", "all", 0.75, 0.74, 0.76), ("popularity", "recall@100", "all", 0.61, 0.6, 0.62),
                     ("model", "recall@100", "head", 0.87, None, None)])
    con.executemany("INSERT INTO retrieval_comparison VALUES ('rc-1', TIMESTAMP '2026-01-21 00:00', ?, ?, ?, "
                    "'recall@100', 'all', ?, ?, ?, 'use retrieval-uniform')",
                    [("retrieval-uniform", "retrieval-uniform@2", 1, 0.77, 0.76, 0.78),
                     ("retrieval-exposed", "retrieval-exposed@3", 2, 0.70, 0.69, 0.71)])
    con.execute("INSERT INTO label_exclusions VALUES (DATE '2026-01-02', 'ctr', 'outage', 12)")
    con.execute("INSERT INTO row_accounting VALUES (DATE '2026-01-02', 'impressions', 'clean', 2000, NULL)")
    return con


MODEL = {"model_id": "m-1", "sampler_version": "s1", "weight_policy": "w1",
         "train_first_day": dt.date(2026, 1, 1), "train_last_day": dt.date(2026, 1, 14)}


def open_sql(name: str) -> str:
    from recsys_assets.warehouse.sql import load_sql

    (statement,) = load_sql(name)
    return statement


def test_the_reliability_query_derives_equal_count_bin_rows():
    con = _warehouse()
    rows = con.execute("SELECT variant, bin, \"rows\" FROM (" + open_sql("reports/report/reliability") + ")").fetchall()
    model = [n for v, _, n in rows if v == "model"]
    assert model == [101, 101, 101] + [100] * 7  # numpy array_split of 1003 rows into 10 bins
    assert sum(model) == 1003


def test_build_report_writes_one_self_contained_file_with_every_chart(tmp_path):
    con = _warehouse()
    path = build_report(con, tmp_path / "reports", MODEL, {"Notes": "<p>extra section</p>"})
    html = path.read_text()
    assert path.name == "report-m-1.html"
    assert (tmp_path / "reports" / "latest.html").read_text() == html
    # variant bars, reliability, arm bars, CTR, examination, 2 negative mixes, sampler rates, negatives per positive
    assert html.count("<svg") == 9
    for title in ("Reliability: observed vs predicted CTR", "Examination curve (relative to position 1)",
                  "ranking negative mix by day", "Sampler rates by day",
                  "Negatives per positive by day", "truth_ndcg@10 by variant", "truth_ndcg@10 by arm"):
        assert f'aria-label="{title}"' in html
    assert ">truth</text>" in html and ">rows per bin</text>" in html
    assert "<script" not in html and "src=" not in html and "href=\"http" not in html
    assert "extra section" in html and "outage" in html
    # the retrieval model: its variants with intervals, head recall, and the comparison's arms in rank order
    assert "Retrieval model over the full catalog" in html and "0.7500 (0.7400 to 0.7600)" in html and "0.8700" in html
    assert html.index("retrieval-uniform@2") < html.index("retrieval-exposed@3") and "use retrieval-uniform" in html


def test_build_report_on_an_empty_warehouse_says_no_data(tmp_path):
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    con.execute("CREATE VIEW truth_examination AS SELECT 1 AS position, 1.0 AS examination WHERE false")
    html = build_report(con, tmp_path, MODEL).read_text()
    assert "<svg" not in html
    assert html.count("no data") == 7
