"""The HTML report: the figures users look at, as charts, in one self-contained file.

Written to ``RECSYS_HOME/reports/report-<model_id>.html`` (and ``latest.html``) by the
``report`` asset, which ``recsys run`` materializes last.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from html import escape
from pathlib import Path

from recsys_assets.ranker.comparison import display_rows
from recsys_assets.report.charts import bar_chart, examination_chart, line_chart, reliability_chart
from recsys_assets.retrieval.evaluation import VARIANTS
from recsys_assets.warehouse.sql import query_dicts

CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:16px}
.grid svg{max-width:100%;height:auto}.no-data{color:#666;width:528px}"""


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return escape("" if v is None else str(v))


def _comparison_section(con) -> str:
    rows = query_dicts(con, "model/sampler_comparison/latest")
    if not rows:
        return "<h2>Sampler comparison</h2><p>not run yet (materialize <code>sampler_comparison</code>)</p>"
    primary = rows[0]["primary_metric"]
    columns, table = display_rows(rows)
    values = {r["arm"]: r["value"] for r in rows if r["metric"] == primary}
    arms = [line["arm"] for line in table]
    chart = bar_chart(f"{primary} by arm", arms, {primary: [values.get(a) for a in arms]}, primary)
    return (f"<h2>Sampler comparison (held-out days, 95% bootstrap intervals)</h2>"
            f"<p>{escape(rows[0]['recommendation'].replace('**', ''))}</p>"
            + _table(table, columns) + f"<div class='grid'>{chart}</div>")


def _interval(r: dict) -> str:
    if r.get("low") is None:
        return _cell(r["value"])
    return f"{r['value']:.4f} ({r['low']:.4f} to {r['high']:.4f})"


def _retrieval_section(con) -> str:
    rows = query_dicts(con, "reports/report/retrieval_evaluation")
    if not rows:
        return "<h2>Retrieval model</h2><p>not trained yet (materialize <code>retrieval_model</code>, " \
               "<code>retrieval_evaluation</code>)</p>"
    metrics = [m for m in ("recall@50", "recall@100", "recall@200", "ndcg@100", "truth_recall@100", "truth_ndcg@100",
                           "top100_popularity") if any(r["metric"] == m for r in rows)]
    table = defaultdict(dict)
    for r in rows:
        column = r["metric"] if r["slice"] == "all" else f"{r['metric']} {r['slice']}"
        table[r["variant"]][column] = _interval(r) if r["slice"] == "all" else _cell(r["value"])
    columns = ["variant", *metrics, "recall@100 head", "recall@100 tail"]
    variants = [v for v in VARIANTS if v in table] + sorted(v for v in table if v not in VARIANTS)
    html = (f"<h2>Retrieval model over the full catalog (held-out days, 95% bootstrap intervals)</h2>"
            f"<p>model {escape(rows[0]['model_id'])}; <code>model-x</code> rows are paired differences</p>"
            + _table([{"variant": v, **table[v]} for v in variants], columns))
    arms = query_dicts(con, "reports/report/retrieval_comparison")
    if arms:
        by_arm = defaultdict(dict)
        for r in arms:
            column = r["metric"] if r["slice"] == "all" else f"{r['metric']} {r['slice']}"
            by_arm[r["arm"]][column] = _interval(r) if r["slice"] == "all" else _cell(r["value"])
            by_arm[r["arm"]]["version"] = r["arm_version"]
        primary = next((r["metric"][: -len(" minus best")] for r in arms if r["metric"].endswith(" minus best")),
                       "recall@100")
        columns = ["arm", "version", primary, f"{primary} minus best",
                   *(m for m in ("recall@100", "ndcg@100") if m != primary), "recall@100 head", "recall@100 tail",
                   "top100_popularity"]
        html += (f"<h3>Retrieval sampler comparison</h3><p>{escape(arms[0]['recommendation'].replace('`', ''))}</p>"
                 + _table([{"arm": a, **by_arm[a]} for a in by_arm], columns))
    return html


def build_report(con, out_dir: Path, model: dict, extra: dict[str, str] | None = None) -> Path:
    sections: list[str] = []
    comparison = query_dicts(con, "reports/report/model_comparison")
    by_variant: dict[str, dict[str, float]] = defaultdict(dict)
    for r in comparison:
        by_variant[r["variant"]][r["metric"]] = r["value"]
    metrics = ["truth_ndcg@10", "ips_dcg@10", "ndcg@10", "ndcg@5", "auc", "log_loss", "ece", "exploration_snips"]
    shown = [m for m in metrics if any(m in v for v in by_variant.values())]
    variants = [v for v in ("model", "naive", "logging", "ceiling") if v in by_variant]
    sections.append("<h2>Model comparison (held-out days)</h2>"
                    + _table([{"variant": v, **by_variant[v]} for v in variants], ["variant", *shown]))
    key = "truth_ndcg@10" if "truth_ndcg@10" in shown else "ndcg@10"
    charts = [bar_chart(f"{key} by variant", variants, {key: [by_variant[v].get(key) for v in variants]}, key)]
    bins = defaultdict(list)
    for r in query_dicts(con, "reports/report/reliability"):
        bins[r["variant"]].append((r["predicted"], r["observed"], r["rows"]))
    charts.append(reliability_chart("Reliability: observed vs predicted CTR", dict(bins), "predicted CTR", "observed CTR"))
    sections.append("<div class='grid'>" + "".join(charts) + "</div>")

    sections.append(_comparison_section(con))
    sections.append(_retrieval_section(con))

    ctr = query_dicts(con, "reports/report/ctr_by_position")
    curves = defaultdict(list)
    for r in query_dicts(con, "reports/report/position_bias"):
        curves[r["method"]].append((r["position"], r["theta"]))
    sections.append("<h2>Position</h2><div class='grid'>"
                    + line_chart("Observed CTR by position", {"CTR": [(r["position"], r["ctr"]) for r in ctr]}, "position", "CTR")
                    + examination_chart("Examination curve (relative to position 1)", dict(curves), "position", "examination")
                    + "</div>")

    mix = query_dicts(con, "reports/report/negative_mix")
    charts = []
    for sampler in sorted({r["sampler"] for r in mix}):
        rows = [r for r in mix if r["sampler"] == sampler]
        days = sorted({str(r["day"]) for r in rows})
        keys = sorted({r["key"] for r in rows})
        value = {(str(r["day"]), r["key"]): r["value"] for r in rows}
        charts.append(bar_chart(f"{sampler} negative mix by day", [d[5:] for d in days],
                                {k: [value.get((d, k), 0.0) for d in days] for k in keys}, "share", stacked=True,
                                x_label="day (MM-DD)"))
    if not charts:
        charts.append(bar_chart("Negative mix by day", [], {}))
    scalars = query_dicts(con, "reports/report/sampler_scalars")
    # counts (negatives per positive) and rates (0..1) on separate charts: one axis would flatten the rates
    lines: dict[bool, dict[str, list]] = {True: defaultdict(list), False: defaultdict(list)}
    day_index = {d: i for i, d in enumerate(sorted({str(r["day"]) for r in scalars}))}
    for r in scalars:
        lines[r["metric"] == "negatives_per_positive"][f"{r['sampler']} {r['metric']}"].append(
            (day_index[str(r["day"])], r["value"]))
    day_labels = {i: d[5:] for d, i in day_index.items()}
    charts.append(line_chart("Sampler rates by day", dict(lines[False]), "day (MM-DD)", "rate", day_labels))
    charts.append(line_chart("Negatives per positive by day", dict(lines[True]), "day (MM-DD)", "negatives per positive",
                             day_labels))
    sections.append("<h2>Negatives</h2><div class='grid'>" + "".join(charts) + "</div>")

    exclusions = query_dicts(con, "reports/report/label_exclusions")
    accounting = query_dicts(con, "reports/report/row_accounting")
    sections.append("<h2>Data quality</h2>" + _table(exclusions, ["task", "reason", "rows"])
                    + _table(accounting, ["source_table", "outcome", "rows"]))

    header = (f"<h1>recsys-assets report</h1><p>model <b>{escape(model['model_id'])}</b>, sampler "
              f"{escape(str(model.get('sampler_version')))}, weight policy {escape(str(model.get('weight_policy')))}, "
              f"trained on {model['train_first_day']} .. {model['train_last_day']}; generated "
              f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC</p>")
    for name, html in (extra or {}).items():
        sections.append(f"<h2>{escape(name)}</h2>{html}")
    html = f"<!doctype html><html><head><meta charset='utf-8'><title>recsys report</title><style>{CSS}</style></head><body>" \
           + header + "".join(sections) + "</body></html>"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"report-{model['model_id']}.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html)
    os.replace(tmp, path)
    latest = out_dir / "latest.html"
    tmp = latest.with_suffix(".tmp")
    tmp.write_text(html)
    os.replace(tmp, latest)
    return path
