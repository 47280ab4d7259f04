"""A brute-force reference for snapshots and labels: plain Python, row by row, no cleverness.

It reads the clean tables and recomputes, for each impression and label row, what the
SQL must produce, by scanning every candidate row with the documented rules. It is slow
(quadratic) and meant for small data only.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

FAR = dt.datetime(9999, 12, 31)


def _day(ts: dt.datetime) -> dt.date:
    return ts.date()


def _csv(value: str | None) -> list[str]:
    return [x.strip() for x in value.split(",")] if value is not None else []


@dataclass
class Tables:
    requests: list[dict]
    impressions: list[dict]
    events: list[dict]
    items: list[dict]
    users: list[dict]
    outages: list[dict]
    candidates: list[dict]

    @classmethod
    def load(cls, con) -> Tables:
        def rows(table):
            cur = con.execute(f"SELECT * FROM {table}")  # fixed table names
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

        return cls(*(rows(t) for t in ("requests", "impressions", "events", "items", "users", "outages", "candidates")))


class Reference:
    def __init__(self, t: Tables, *, history_days=28, popularity_days=7, click_window_minutes=30,
                 conversion_window_days=7, return_window_days=30, weights=None):
        self.t = t
        self.H = dt.timedelta(days=history_days)
        self.h_days = history_days
        self.P = dt.timedelta(days=popularity_days)
        self.p_days = popularity_days
        self.W = dt.timedelta(minutes=click_window_minutes)
        self.CW = conversion_window_days
        self.RW = return_window_days
        self.w = weights
        self.request = {r["request_id"]: r for r in t.requests}
        self.user = {u["user_id"]: u for u in t.users}
        self.versions = defaultdict(list)
        for v in t.items:
            self.versions[v["item_id"]].append(v)
        self.events_of_item = defaultdict(list)
        for e in t.events:
            self.events_of_item[e["item_id"]].append(e)

    # -------------------------------------------------------------- item state

    @functools.cache  # noqa: B019 - the reference lives for one comparison
    def item_asof(self, item_id: str, T: dt.datetime) -> dict | None:
        known = [v for v in self.versions.get(item_id, []) if max(v["valid_from"], v["recorded_at"]) <= T]
        if not known:
            return None
        state = dict(max(known, key=lambda v: (v["valid_from"], v["recorded_at"])))
        state["first_seen"] = min(v["valid_from"] for v in known)
        return state

    # -------------------------------------------------------------- context

    def _query_key(self, request_id: str | None, request_ts: dt.datetime | None) -> str | None:
        r = self.request.get(request_id) if request_id is not None else None
        if r is None or request_ts is None or r["day"] != _day(request_ts) or r["query"] is None:
            return None
        return r["query"].strip().lower()

    @functools.cache  # noqa: B019
    def _history(self, day: dt.date):
        start = dt.datetime.combine(day, dt.time())
        end = start + dt.timedelta(days=1)
        events = []
        for e in self.t.events:
            if not (day - dt.timedelta(days=self.h_days + 1) <= e["day"] <= day):
                continue
            if (e["traffic"] or "user") != "user" or e["type"] not in ("click", "purchase"):
                continue
            avail = max(e["ts"], e["recorded_at"])
            if avail >= end:
                continue
            state = self.item_asof(e["item_id"], e["ts"])
            events.append({
                "user_id": e["user_id"], "item_id": e["item_id"], "type": e["type"], "avail": avail,
                "category": state["category"] if state else None,
                "query_key": self._query_key(e["request_id"], e["request_ts"]),
            })
        exposures = []
        for i in self.t.impressions:
            if not (day - dt.timedelta(days=self.p_days + 1) <= i["day"] <= day) or i["traffic"] != "user":
                continue
            q = self.request.get(i["request_id"])
            if q is None or not (day - dt.timedelta(days=self.p_days + 1) <= q["day"] <= day + dt.timedelta(days=1)):
                continue
            if q["ts"] >= end:
                continue
            state = self.item_asof(i["item_id"], q["ts"])
            exposures.append({"item_id": i["item_id"], "user_id": q["user_id"], "avail": q["ts"],
                              "exposure": 0.0 if i["visible_ms"] == 0 else 1.0 / i["position"],
                              "category": state["category"] if state else None,
                              "query_key": q["query"].strip().lower() if q["query"] is not None else None})
        by = {k: defaultdict(list) for k in ("user_id", "item_id", "query_key")}
        for e in events:
            for k in by:
                by[k][e[k]].append(e)
        exp_by = {k: defaultdict(list) for k in ("item_id", "user_id", "query_key")}
        for x in exposures:
            for k in exp_by:
                exp_by[k][x[k]].append(x)
        return by, exp_by, start

    @functools.cache  # noqa: B019
    def category_median_log_price(self, day: dt.date) -> dict[str, float]:
        """Median log(1 + price) per category over the item states in force when the day starts."""
        start = dt.datetime.combine(day, dt.time())
        by_cat = defaultdict(list)
        for item in self.versions:
            s = self.item_asof(item, start)
            if s is not None and s["price"] is not None and s["category"] is not None:
                by_cat[s["category"]].append(math.log1p(s["price"]))
        return {c: statistics.median(v) for c, v in by_cat.items()}

    @functools.cache  # noqa: B019
    def context(self, day: dt.date) -> list[dict]:
        """Features per impression; events are looked up by user, item or query, then filtered by time."""
        by, exp_by, day_start = self._history(day)
        exp_by_item = exp_by["item_id"]
        out = []
        for i in self.t.impressions:
            if i["day"] != day or i["traffic"] != "user":
                continue
            q = self.request[i["request_id"]]
            T = q["ts"]
            u = self.user.get(q["user_id"]) if q["user_id"] is not None else None
            region = q["region"] if q["region"] is not None else (u["region"] if u else None)
            age_ok = bool(u["age_verified"]) if u else False
            s = self.item_asof(i["item_id"], T)
            cat = s["category"] if s else None
            if s is None:
                reason = "item_unknown"
            elif s["status"] == "banned":
                reason = "item_banned"
            elif s["status"] == "deleted":
                reason = "item_deleted"
            elif not s["in_stock"]:
                reason = "item_out_of_stock"
            elif s["regions"] is not None and (region is None or region not in _csv(s["regions"])):
                reason = "item_ineligible_region"
            elif s["age_restricted"] and not age_ok:
                reason = "item_ineligible_age"
            else:
                reason = None
            user, item = q["user_id"], i["item_id"]
            qk = q["query"].strip().lower() if q["query"] is not None else None
            used = []
            median = self.category_median_log_price(day).get(cat) if s is not None else None
            row = {"request_id": i["request_id"], "item_id": item, "ineligible_reason": reason,
                   "price_rel": math.log1p(s["price"]) - median if s and s["price"] is not None
                   and median is not None else None,
                   "item_age_days": (T - s["first_seen"]).total_seconds() / 86400 if s else None}
            if user is not None:
                ue = [e for e in by["user_id"][user] if T - self.H <= e["avail"] < T]
                used += [e["avail"] for e in ue]
                clicks = [e for e in ue if e["type"] == "click"]
                row["u_clicks"] = len(clicks)
                row["u_purchases"] = sum(e["type"] == "purchase" for e in ue)
                last = max((e["avail"] for e in clicks), default=None)
                row["u_hours_since_click"] = (T - last).total_seconds() / 3600 if last else None
                row["uc_clicks"] = sum(1 for e in clicks if cat is not None and e["category"] == cat)
                row["uc_purchases"] = sum(1 for e in ue if e["type"] == "purchase" and cat is not None and e["category"] == cat)
                recent = [e for e in by["user_id"][user] if T - self.P <= e["avail"] < T]
                row["uc_recent_clicks"] = sum(1 for e in recent if e["type"] == "click" and cat is not None and e["category"] == cat)
                row["uc_exposure"] = sum(x["exposure"] for x in exp_by["user_id"][user]
                                         if cat is not None and x["category"] == cat and T - self.P <= x["avail"] < T)
                row["ui_clicks"] = sum(1 for e in clicks if e["item_id"] == item)
                row["ui_prior_impressions"] = sum(
                    1 for x in exp_by_item[item] if x["user_id"] == user and T - self.P <= x["avail"] < T
                )
            else:
                row |= {"u_clicks": 0, "u_purchases": 0, "u_hours_since_click": None, "uc_clicks": 0,
                        "uc_purchases": 0, "uc_recent_clicks": 0, "uc_exposure": 0.0, "ui_clicks": 0,
                        "ui_prior_impressions": 0}
            lo = day_start - self.P
            ie = [e for e in by["item_id"][item] if lo <= e["avail"] < T]
            ix = [x for x in exp_by_item[item] if lo <= x["avail"] < T]
            used += [e["avail"] for e in ie] + [x["avail"] for x in ix]
            row["i_impressions"] = len(ix)
            row["i_exposure"] = sum(x["exposure"] for x in ix)
            row["i_clicks"] = sum(e["type"] == "click" for e in ie)
            row["i_purchases"] = sum(e["type"] == "purchase" for e in ie)
            if qk is not None:
                qe = [e for e in by["query_key"][qk] if T - self.H <= e["avail"] < T and e["type"] == "click"]
                used += [e["avail"] for e in qe]
                row["q_clicks"] = len(qe)
                row["qc_clicks"] = sum(1 for e in qe if e["category"] == cat)
                row["qc_recent_clicks"] = sum(1 for e in qe if e["category"] == cat and T - self.P <= e["avail"])
                qx = [x for x in exp_by["query_key"][qk] if x["category"] == cat and T - self.P <= x["avail"] < T]
                row["qc_exposure"] = sum(x["exposure"] for x in qx)
                used += [x["avail"] for x in exp_by["query_key"][qk] if T - self.H <= x["avail"] < T]
                row["qi_clicks"] = sum(1 for e in qe if e["item_id"] == item)
            else:
                row |= {"q_clicks": 0, "qc_clicks": 0, "qc_recent_clicks": 0, "qc_exposure": 0.0, "qi_clicks": 0}
            row["history_max_ts"] = max(used, default=None)
            out.append(row)
        return out

    # -------------------------------------------------------------- labels

    def _outage(self, lo: dt.datetime, hi: dt.datetime, surface: str | None, event_type: str) -> bool:
        for o in self.t.outages:
            if o["start_ts"] <= hi and o["end_ts"] > lo and (surface is None or o["surface"] is None or o["surface"] == surface) \
                    and (o["event_types"] is None or event_type in _csv(o["event_types"])):
                return True
        return False

    def _actions(self, day: dt.date) -> list[dict]:
        """Clicks and hides credited to (request, item): attributed, or the user's latest exposure."""
        lo, hi = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
        exposures = defaultdict(list)  # (user, item) -> [(request ts, request id)]
        for i in self.t.impressions:
            q = self.request.get(i["request_id"])
            if lo <= i["day"] <= hi and i["traffic"] == "user" and q is not None and q["user_id"] is not None \
                    and day - dt.timedelta(days=2) <= q["day"] <= hi:
                exposures[(q["user_id"], i["item_id"])].append((q["ts"], i["request_id"]))
        acts = []
        for e in self.t.events:
            if not (lo <= e["day"] <= hi) or e["type"] not in ("click", "hide"):
                continue
            if e["request_id"] is not None:
                acts.append({"type": e["type"], "request_id": e["request_id"], "item_id": e["item_id"], "ts": e["ts"]})
            elif e["user_id"] is not None:
                match = [x for x in exposures[(e["user_id"], e["item_id"])] if x[0] <= e["ts"] <= x[0] + self.W]
                if match:
                    best = max(match, key=lambda x: (x[0], x[1]))
                    acts.append({"type": e["type"], "request_id": best[1], "item_id": e["item_id"], "ts": e["ts"]})
        return acts

    @functools.cache  # noqa: B019
    def ctr(self, day: dt.date) -> tuple[list[dict], dict[str, int]]:
        w = self.w
        ctx = {(r["request_id"], r["item_id"]): r for r in self.context(day)}
        acts = defaultdict(list)
        for a in self._actions(day):
            acts[(a["request_id"], a["item_id"])].append(a)
        base = []
        for i in self.t.impressions:
            if i["day"] != day or i["traffic"] != "user":
                continue
            q = self.request[i["request_id"]]
            T = q["ts"]
            mine = [a for a in acts[(i["request_id"], i["item_id"])] if T <= a["ts"] <= T + self.W]
            base.append({
                "request_id": i["request_id"], "item_id": i["item_id"], "position": i["position"], "T": T,
                "surface": q["surface"], "visible_ms": i["visible_ms"],
                "click_ts": min((a["ts"] for a in mine if a["type"] == "click"), default=None),
                "hide_ts": min((a["ts"] for a in mine if a["type"] == "hide"), default=None),
                "ctx": ctx[(i["request_id"], i["item_id"])],
            })
        last_click = {}
        for b in base:
            if b["click_ts"] is not None:
                last_click[b["request_id"]] = max(last_click.get(b["request_id"], 0), b["position"])
        rows, excluded = [], defaultdict(int)
        for b in base:
            never = b["visible_ms"] is not None and b["visible_ms"] < w.min_visible_ms
            if self._outage(b["T"], b["T"] + self.W, b["surface"], "click"):
                excluded["tracking_outage"] += 1
                continue
            if b["ctx"]["ineligible_reason"] is not None:
                excluded[b["ctx"]["ineligible_reason"]] += 1
                continue
            if b["click_ts"] is None and never and w.never_visible == "exclude":
                excluded["never_visible"] += 1
                continue
            lc = last_click.get(b["request_id"])
            if b["click_ts"] is not None:
                label, ntype, weight = 1, None, w.positive_weight
            else:
                label = 0
                if b["hide_ts"] is not None:
                    ntype = "explicit_hide"
                elif never:
                    ntype = "never_visible"
                elif lc is not None and b["position"] < lc:
                    ntype = "skip_above"
                elif lc is not None:
                    ntype = "below_last_click"
                else:
                    ntype = "exposed_no_click"
                weight = w.negative_types[ntype]
                weight *= next(f.factor for f in w.position_factors
                               if (f.max_position if f.max_position is not None else 10**9) >= b["position"])
                weight *= w.visibility_unknown_factor if b["visible_ms"] is None else 1.0
                if ntype == "below_last_click":
                    weight *= w.below_last_click.decay ** max(0, b["position"] - lc - w.below_last_click.free_positions)
                if b["ctx"]["ui_prior_impressions"] >= w.repeat_exposure.min_prior:
                    weight *= w.repeat_exposure.factor
            rows.append({"request_id": b["request_id"], "item_id": b["item_id"], "label": label, "negative_type": ntype,
                         "weight": weight, "click_ts": b["click_ts"], "surface": b["surface"], "T": b["T"],
                         "position": b["position"], "user_id": self.request[b["request_id"]]["user_id"]})
        for i in self.t.impressions:
            if i["day"] == day and i["traffic"] != "user":
                excluded["traffic_" + i["traffic"]] += 1
        for c in self.t.candidates:
            if c["day"] == day and not c["shown"] and self.request[c["request_id"]]["traffic"] == "user":
                excluded["not_shown"] += 1
        return rows, dict(excluded)

    def conversion(self, day: dt.date, cutoff: dt.datetime) -> list[dict]:
        ctr_rows, _ = self.ctr(day)
        out = []
        for b in (r for r in ctr_rows if r["label"] == 1):
            end = b["click_ts"] + dt.timedelta(days=self.CW)
            buys = [e["ts"] for e in self.events_of_item[b["item_id"]]
                    if e["type"] == "purchase" and day <= e["day"] <= day + dt.timedelta(days=self.CW + 1)
                    and (e["request_id"] == b["request_id"] or (b["user_id"] is not None and e["user_id"] == b["user_id"]))
                    and b["click_ts"] < e["ts"] <= end]
            reason = None
            if not buys:
                if any(v["item_id"] == b["item_id"] and b["click_ts"] < v["valid_from"] <= end
                       and (not v["in_stock"] or v["status"] != "active") for v in self.t.items):
                    reason = "item_unavailable"
                elif self._outage(b["click_ts"], end, b["surface"], "purchase"):
                    reason = "tracking_outage"
                elif end > cutoff:
                    reason = "window_open"
            label = 1 if buys else (0 if reason is None else None)
            out.append({"request_id": b["request_id"], "item_id": b["item_id"], "label": label, "censor_reason": reason,
                        "purchase_ts": min(buys) if buys else None})
        return out

    def hide(self, day: dt.date) -> list[dict]:
        ctr_rows, _ = self.ctr(day)
        out = []
        lo, hi = day - dt.timedelta(days=1), day + dt.timedelta(days=1)
        for b in ctr_rows:
            if b["negative_type"] == "never_visible":
                continue
            acts = [e["type"] for e in self.events_of_item[b["item_id"]]
                    if e["type"] in ("hide", "report") and lo <= e["day"] <= hi
                    and (e["request_id"] == b["request_id"]
                         or (e["request_id"] is None and b["user_id"] is not None and e["user_id"] == b["user_id"]))
                    and b["T"] <= e["ts"] <= b["T"] + self.W]
            hidden = "hide" in acts
            reason = None if hidden or not self._outage(b["T"], b["T"] + self.W, b["surface"], "hide") else "tracking_outage"
            out.append({"request_id": b["request_id"], "item_id": b["item_id"],
                        "label": 1 if hidden else (0 if reason is None else None),
                        "censor_reason": reason, "reported": "report" in acts})
        return out

    def returns(self, day: dt.date, cutoff: dt.datetime) -> list[dict]:
        out = []
        for p in self.t.events:
            if p["day"] != day or p["type"] != "purchase" or (p["traffic"] or "user") != "user":
                continue
            end = p["ts"] + dt.timedelta(days=self.RW)
            back = [e["ts"] for e in self.events_of_item[p["item_id"]]
                    if e["type"] == "return" and day <= e["day"] <= day + dt.timedelta(days=self.RW + 1)
                    and ((p["user_id"] is not None and e["user_id"] == p["user_id"])
                         or (p["request_id"] is not None and e["request_id"] == p["request_id"]))
                    and p["ts"] < e["ts"] <= end]
            reason = None
            if not back:
                if self._outage(p["ts"], end, None, "return"):
                    reason = "tracking_outage"
                elif end > cutoff:
                    reason = "window_open"
            out.append({"purchase_event_id": p["event_id"], "label": 1 if back else (0 if reason is None else None),
                        "censor_reason": reason, "return_ts": min(back) if back else None})
        return out
