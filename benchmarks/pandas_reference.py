"""CTR labelling and request-level negatives in pandas, written the way a competent user
would (merge_asof for crediting unattributed clicks, groupby for the per-request rules),
as the baseline of the pipeline benchmark. Same inputs and semantics as
``sql/labels/ctr_labels/build.sql`` and ``sql/negatives/ranking_negatives/`` with the default
policies; the benchmark checks that both produce identical rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Inputs:
    base: pd.DataFrame        # impression_context rows of the day: request_id, item_id, position, request_ts, user_id,
    #                           surface, visible_ms, ui_prior_impressions, ineligible_reason
    exposures: pd.DataFrame   # user-traffic impressions around the day: request_id, item_id, user_id, request_ts
    events: pd.DataFrame      # click and hide events around the day: event_id, type, request_id, item_id, user_id, ts
    outages: pd.DataFrame     # start_ts, end_ts, surface, event_types


def ctr_labels(x: Inputs, window_minutes: int, w: dict) -> pd.DataFrame:
    """Label, negative type and weight of every eligible impression (excluded rows dropped)."""
    window = pd.Timedelta(minutes=window_minutes)
    base = x.base
    outage = np.zeros(len(base), dtype=bool)
    for o in x.outages.itertuples():  # a handful of outage windows, not rows
        if o.event_types is not None and "click" not in str(o.event_types).split(","):
            continue
        hit = (o.start_ts <= base["request_ts"] + window) & (o.end_ts > base["request_ts"])
        if o.surface is not None:
            hit &= base["surface"] == o.surface
        outage |= hit.to_numpy()

    attributed = x.events[x.events["request_id"].notna()][["type", "request_id", "item_id", "ts"]]
    loose = x.events[x.events["request_id"].isna() & x.events["user_id"].notna()].drop(columns="request_id")
    exposures = x.exposures.sort_values(["request_ts", "request_id"])
    credited = pd.merge_asof(
        loose.sort_values("ts"), exposures.rename(columns={"request_id": "credited_request"}),
        left_on="ts", right_on="request_ts", by=["user_id", "item_id"], direction="backward", tolerance=window,
    )
    credited = credited[credited["credited_request"].notna()]
    credited = credited.rename(columns={"credited_request": "request_id"})[["type", "request_id", "item_id", "ts"]]
    actions = pd.concat([attributed, credited], ignore_index=True)
    actions = actions.merge(base[["request_id", "item_id", "request_ts"]], on=["request_id", "item_id"])
    actions = actions[(actions["ts"] >= actions["request_ts"]) & (actions["ts"] <= actions["request_ts"] + window)]
    first = actions.pivot_table(index=["request_id", "item_id"], columns="type", values="ts", aggfunc="min")
    first = first.reindex(columns=["click", "hide"]).reset_index()

    df = base.merge(first, on=["request_id", "item_id"], how="left")
    df["in_outage"] = outage
    clicked = df["click"].notna()
    df["last_click_position"] = df["position"].where(clicked).groupby(df["request_id"]).transform("max")
    never_visible = (df["visible_ms"] < w["min_visible_ms"]).fillna(False).astype(bool)
    excluded = df["in_outage"] | df["ineligible_reason"].notna()
    if w["exclude_never_visible"]:
        excluded |= ~clicked & never_visible
    df = df[~excluded.to_numpy()].copy()
    clicked = df["click"].notna().to_numpy()
    never_visible = (df["visible_ms"] < w["min_visible_ms"]).fillna(False).to_numpy(dtype=bool)
    has_click = df["last_click_position"].notna().to_numpy()
    above = (df["position"] < df["last_click_position"]).fillna(False).to_numpy(dtype=bool)
    df["label"] = clicked.astype(np.int64)
    df["negative_type"] = np.select(
        [clicked, df["hide"].notna().to_numpy(), never_visible, has_click & above, has_click],
        [None, "explicit_hide", "never_visible", "skip_above", "below_last_click"], "exposed_no_click")
    df.loc[clicked, "negative_type"] = None

    type_weight = df["negative_type"].map(w["type_weights"]).astype(float)
    bounds = np.array(w["pf_max"])
    factor = np.array(w["pf_factor"])[np.searchsorted(bounds, df["position"].to_numpy(), side="left")]
    unknown = np.where(df["visible_ms"].isna().to_numpy(), w["visibility_unknown_factor"], 1.0)
    gap = (df["position"] - df["last_click_position"] - w["below_free"]).fillna(0).to_numpy(dtype=float)
    below = np.where((df["negative_type"] == "below_last_click").to_numpy(), w["below_decay"] ** np.maximum(0, gap), 1.0)
    repeat = np.where((df["ui_prior_impressions"] >= w["repeat_min"]).to_numpy(dtype=bool), w["repeat_factor"], 1.0)
    df["weight"] = np.where(clicked, w["positive"], type_weight * factor * unknown * below * repeat)
    return df[["request_id", "item_id", "position", "label", "negative_type", "weight"]]


def ranking_negatives(labels: pd.DataFrame, negative_types: list[str]) -> pd.DataFrame:
    """The shown no-clicks of requests with a click (the ranking-default policy keeps them all)."""
    clicked_requests = labels.groupby("request_id")["label"].transform("max") > 0
    keep = clicked_requests & (labels["label"] == 0) & labels["negative_type"].isin(negative_types)
    return labels.loc[keep, ["request_id", "item_id", "negative_type", "weight"]]
