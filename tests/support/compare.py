"""Compare the warehouse (built by the SQL) with the brute-force reference, row by row."""

from __future__ import annotations

import datetime as dt
import math

from reference import Reference, Tables

CONTEXT_COLUMNS = ("ineligible_reason", "u_clicks", "u_purchases", "uc_clicks", "uc_purchases", "ui_clicks",
                   "ui_prior_impressions", "i_impressions", "i_clicks", "i_purchases", "q_clicks", "qc_clicks",
                   "qi_clicks", "uc_recent_clicks", "qc_recent_clicks", "history_max_ts")
FLOAT_COLUMNS = ("u_hours_since_click", "item_age_days", "i_exposure", "uc_exposure", "qc_exposure", "price_rel")


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _rows(con, sql, params):
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def mismatches(con, days: list[dt.date], weights, **windows) -> list[str]:
    """Every difference between the SQL tables and the reference, as readable strings."""
    ref = Reference(Tables.load(con), weights=weights, **windows)
    cutoff = con.execute("SELECT CAST(max(day) + 1 AS TIMESTAMP) FROM events").fetchall()[0][0]
    problems: list[str] = []

    def compare(what, key, expected, actual, columns):
        exp = {key(r): r for r in expected}
        act = {key(r): r for r in actual}
        if set(exp) != set(act):
            problems.append(f"{what}: keys differ: missing {sorted(set(exp) - set(act))[:5]}, extra {sorted(set(act) - set(exp))[:5]}")
        for k in sorted(set(exp) & set(act)):
            for c in columns:
                if not _same(exp[k][c], act[k][c]):
                    problems.append(f"{what} {k} {c}: reference {exp[k][c]!r} vs sql {act[k][c]!r}")

    for day in days:
        by_ri = lambda r: (r["request_id"], r["item_id"])
        compare(f"impression_context {day}", by_ri, ref.context(day),
                _rows(con, "SELECT * FROM impression_context WHERE day = ?", [day]), CONTEXT_COLUMNS + FLOAT_COLUMNS)
        rows, excluded = ref.ctr(day)
        compare(f"ctr_labels {day}", by_ri, rows, _rows(con, "SELECT * FROM ctr_labels WHERE day = ?", [day]),
                ("label", "negative_type", "weight", "click_ts"))
        got = dict(con.execute("SELECT reason, rows FROM label_exclusions WHERE day = ? AND task = 'ctr'", [day]).fetchall())
        if got != excluded:
            problems.append(f"label_exclusions ctr {day}: reference {excluded} vs sql {got}")
        compare(f"conversion_labels {day}", by_ri, ref.conversion(day, cutoff),
                _rows(con, "SELECT * FROM conversion_labels WHERE day = ?", [day]), ("label", "censor_reason", "purchase_ts"))
        compare(f"hide_labels {day}", by_ri, ref.hide(day),
                _rows(con, "SELECT * FROM hide_labels WHERE day = ?", [day]), ("label", "censor_reason", "reported"))
        compare(f"return_labels {day}", lambda r: r["purchase_event_id"], ref.returns(day, cutoff),
                _rows(con, "SELECT * FROM return_labels WHERE day = ?", [day]), ("label", "censor_reason", "return_ts"))
    return problems
