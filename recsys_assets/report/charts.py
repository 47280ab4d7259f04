"""Charts of the HTML report, drawn with matplotlib and embedded as inline SVG text.

Every chart is a ``matplotlib.figure.Figure`` (no pyplot: no global figure state, no GUI
backend) rendered to SVG with its text kept as ``<text>`` elements in a generic font list,
so the report needs no network, no font download and no JavaScript to be read. The
``*_figure`` functions build the figures (tests inspect them); the ``*_chart`` functions
return the SVG markup, or a short "no data" paragraph when there is nothing to draw.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter, NullLocator

FIGSIZE = (5.5, 3.5)  # inches, every chart
MAX_X_LABELS = 12  # category labels shown at most; more are thinned to every k-th
ROTATE_ABOVE = 6  # category labels are rotated when there are more than this (or long ones)
LEGEND_INSIDE_MAX = 3  # more series than this: the legend goes right of the plot
LOG_SPAN_MIN = 30  # reliability bins spanning more than this ratio are drawn on log axes
TRUTH = "truth"  # the examination curve of the simulator, drawn dashed black
TRUTH_STYLE = {"color": "black", "linestyle": "--", "marker": None, "linewidth": 1.6, "zorder": 5}

_SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": None}
# rc_context changes matplotlib's global settings while one figure is written: one at a time.
_SAVE_LOCK = threading.Lock()
_GROUP_ID = re.compile(r'<g id="[^"]*">')  # matplotlib's unreferenced group ids, repeated in every SVG
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)  # RDF "created with matplotlib"


def _nice(nbins: int = 6, integer: bool = False) -> MaxNLocator:
    """Ticks at multiples of 1, 2, 2.5 or 5 times a power of ten."""
    return MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10], integer=integer)


def no_data(title: str) -> str:
    return f'<p class="no-data"><em>{escape(title)}: no data</em></p>'


def to_svg(fig: Figure, title: str) -> str:
    """The figure as inline ``<svg>`` markup (no XML prolog, text as text, labelled for screen readers)."""
    buf = io.StringIO()
    with _SAVE_LOCK, matplotlib.rc_context(_SVG_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    svg = _GROUP_ID.sub("<g>", _METADATA.sub("", text[text.index("<svg"):]))
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)


def _new_figure() -> Figure:
    return Figure(figsize=FIGSIZE, layout="constrained")


def _style_axes(ax, title: str | None, x_label: str, y_label: str) -> None:
    if title:
        ax.set_title(title, fontsize=10, fontweight="bold", loc="left")
    ax.set_xlabel(x_label, fontsize=9)
    ax.set_ylabel(y_label, fontsize=9)
    ax.grid(True, axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.yaxis.set_major_locator(_nice(6))
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)


def _category_ticks(ax, positions: Sequence[float], labels: Sequence[str]) -> None:
    """Label categorical x positions: thinned to at most MAX_X_LABELS, rotated when many or long."""
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    shown = list(range(0, len(labels), step))
    ax.xaxis.set_major_locator(FixedLocator([positions[i] for i in shown]))
    ax.set_xticklabels([labels[i] for i in shown])
    ax.xaxis.set_minor_locator(FixedLocator(list(positions)) if step > 1 else NullLocator())
    if len(shown) > ROTATE_ABOVE or max((len(s) for s in labels), default=0) > 8:
        for label in ax.get_xticklabels():
            label.set_rotation(40)
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def _legend(ax, n_series: int, stacked: bool = False) -> None:
    """Inside the plot for a few lines; right of it for many, or for stacked bars (which fill
    the plot), listed top to bottom like the stack."""
    if n_series <= 1:
        return
    handles, labels = ax.get_legend_handles_labels()
    if stacked:
        handles, labels = handles[::-1], labels[::-1]
    if n_series <= LEGEND_INSIDE_MAX and not stacked:
        ax.legend(handles, labels, fontsize=8, frameon=False, loc="best")
    else:
        ax.legend(handles, labels, fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0)


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def line_figure(title: str, series: Mapping[str, Sequence[tuple[float, float | None]]], x_label: str = "",
                y_label: str = "", x_labels: Mapping[float, str] | None = None,
                styles: Mapping[str, Mapping[str, Any]] | None = None) -> Figure | None:
    """One line per series of (x, y) points (None y: skipped); ``x_labels`` names x positions
    (categories such as days), otherwise x is numeric with integer ticks when every x is whole."""
    clean = {name: sorted((x, y) for x, y in pts if _finite(y)) for name, pts in series.items()}
    clean = {name: pts for name, pts in clean.items() if pts}
    if not clean:
        return None
    fig = _new_figure()
    ax = fig.add_subplot()
    _style_axes(ax, title, x_label, y_label)
    palette = iter(matplotlib.color_sequences["tab10"] * 3)
    for name, pts in clean.items():
        style = {"marker": "o", "markersize": 3, "linewidth": 1.5}
        style |= dict((styles or {}).get(name, {})) or {"color": next(palette)}
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name, **style)
    xs = sorted({x for pts in clean.values() for x, _ in pts})
    if x_labels is not None:
        _category_ticks(ax, xs, [x_labels.get(x, f"{x:g}") for x in xs])
    elif all(float(x).is_integer() for x in xs):
        ax.xaxis.set_major_locator(_nice(10, integer=True))
    ys = [y for pts in clean.values() for _, y in pts]
    if min(ys) >= 0:
        ax.set_ylim(bottom=0)
    _legend(ax, len(clean))
    return fig


def line_chart(title: str, series: Mapping[str, Sequence[tuple[float, float | None]]], x_label: str = "",
               y_label: str = "", x_labels: Mapping[float, str] | None = None,
               styles: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    fig = line_figure(title, series, x_label, y_label, x_labels, styles)
    return no_data(title) if fig is None else to_svg(fig, title)


def examination_figure(title: str, curves: Mapping[str, Sequence[tuple[float, float | None]]],
                       x_label: str = "position", y_label: str = "examination") -> Figure | None:
    """Examination curves by estimation method; the simulator's true curve (method ``truth``,
    present on simulated logs only) dashed black, drawn last and listed last."""
    ordered = {k: v for k, v in curves.items() if k != TRUTH} | ({TRUTH: curves[TRUTH]} if TRUTH in curves else {})
    return line_figure(title, ordered, x_label, y_label, styles={TRUTH: TRUTH_STYLE})


def examination_chart(title: str, curves: Mapping[str, Sequence[tuple[float, float | None]]],
                      x_label: str = "position", y_label: str = "examination") -> str:
    fig = examination_figure(title, curves, x_label, y_label)
    return no_data(title) if fig is None else to_svg(fig, title)


def bar_figure(title: str, groups: Sequence[str], series: Mapping[str, Sequence[float | None]], y_label: str = "",
               stacked: bool = False, x_label: str = "") -> Figure | None:
    """Bars per group (category), one per series side by side, or stacked; None: no bar."""
    if not groups or not any(_finite(v) for vs in series.values() for v in vs):
        return None
    fig = _new_figure()
    ax = fig.add_subplot()
    _style_axes(ax, title, x_label, y_label)
    palette = matplotlib.color_sequences["tab10"]
    positions = list(range(len(groups)))
    width = 0.8 if stacked else 0.8 / len(series)
    base = [0.0] * len(groups)
    for i, (name, values) in enumerate(series.items()):
        heights = [v if _finite(v) else math.nan for v in values]
        if stacked:
            bars = ax.bar(positions, [0.0 if math.isnan(h) else h for h in heights], width, bottom=base,
                          label=name, color=palette[i % len(palette)])
            base = [b + (0.0 if math.isnan(h) else h) for b, h in zip(base, heights, strict=True)]
        else:
            offsets = [p - 0.4 + width * (i + 0.5) for p in positions]
            bars = ax.bar(offsets, heights, width, label=name, color=palette[i % len(palette)])
            if len(series) == 1 and len(groups) <= 8:
                big = max(abs(h) for h in heights if not math.isnan(h)) >= 10
                ax.bar_label(bars, fmt="{:,.0f}" if big else "{:.3f}", fontsize=7, padding=2)
    _category_ticks(ax, positions, list(groups))
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.margins(y=0.12)
    ax.set_ylim(bottom=0)
    _legend(ax, len(series), stacked)
    return fig


def bar_chart(title: str, groups: Sequence[str], series: Mapping[str, Sequence[float | None]], y_label: str = "",
              stacked: bool = False, x_label: str = "") -> str:
    fig = bar_figure(title, groups, series, y_label, stacked, x_label)
    return no_data(title) if fig is None else to_svg(fig, title)


def reliability_figure(title: str, bins: Mapping[str, Sequence[tuple[float | None, float | None, int | None]]],
                       x_label: str = "predicted CTR", y_label: str = "observed CTR") -> Figure | None:
    """Reliability diagram: per variant, the observed rate of each bin of predictions against
    its mean prediction, with the diagonal of perfect calibration. Both axes have the same
    range: 0 to a bit above the largest predicted or observed value, or, when the bins span
    more than LOG_SPAN_MIN (equal-count bins of skewed predictions crowd into the corner at
    0), logarithmic from a bit below the smallest positive value. Bins are
    ``(predicted, observed, rows)``; when rows are known, a panel underneath shows them as
    bars at the bins' predictions."""
    clean = {v: sorted((p, o, n) for p, o, n in rows if _finite(p) and _finite(o)) for v, rows in bins.items()}
    clean = {v: rows for v, rows in clean.items() if rows}
    if not clean:
        return None
    values = [x for rows in clean.values() for p, o, _ in rows for x in (p, o)]
    top = max(values)
    positive = [x for x in values if x > 0]
    log = bool(positive) and top / min(positive) > LOG_SPAN_MIN
    lo, hi = (min(positive) / 1.5, top * 1.5) if log else (0.0, top * 1.1 if top > 0 else 1.0)
    has_counts = any(n is not None for rows in clean.values() for _, _, n in rows)
    fig = _new_figure()
    if has_counts:
        ax, counts_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    else:
        ax, counts_ax = fig.add_subplot(), None
    suffix = " (log scale)" if log else ""
    _style_axes(ax, title, "" if has_counts else x_label + suffix, y_label + suffix)
    ax.grid(True, axis="x", color="#e5e5e5", linewidth=0.8)
    ax.plot([lo, hi], [lo, hi], color="#888888", linestyle=":", linewidth=1.2, label="perfectly calibrated")
    palette = matplotlib.color_sequences["tab10"]
    for i, (variant, rows) in enumerate(clean.items()):
        ax.plot([p for p, _, _ in rows], [o for _, o, _ in rows], marker="o", markersize=3.5, linewidth=1.4,
                color=palette[i % len(palette)], label=variant)
    if log:
        ax.set_xscale("log", nonpositive="mask")
        ax.set_yscale("log", nonpositive="mask")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(_nice(6))
        ax.yaxis.set_major_locator(_nice(6))
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    if counts_ax is not None:
        _style_axes(counts_ax, None, x_label + suffix, "rows per bin")
        if not log:
            counts_ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        k = len(clean)
        # one bar per variant side by side around each bin's prediction, together 1/50 of the axis
        step = (hi / lo) ** (1 / 50 / k) if log else (hi - lo) / 50 / k
        for i, (variant, rows) in enumerate(clean.items()):
            known = [(p, n) for p, _, n in rows if n is not None and (p > 0 or not log)]
            if log:
                lefts = [p * step ** (i - k / 2) for p, _ in known]
                widths = [x * (step - 1) for x in lefts]
            else:
                lefts = [p + (i - k / 2) * step for p, _ in known]
                widths = [step] * len(known)
            counts_ax.bar(lefts, [n for _, n in known], widths, align="edge", color=palette[i % len(palette)],
                          alpha=0.8, label=variant)
        counts_ax.yaxis.set_major_locator(_nice(3, integer=True))
        counts_ax.set_ylim(bottom=0)
    return fig


def reliability_chart(title: str, bins: Mapping[str, Sequence[tuple[float | None, float | None, int | None]]],
                      x_label: str = "predicted CTR", y_label: str = "observed CTR") -> str:
    fig = reliability_figure(title, bins, x_label, y_label)
    return no_data(title) if fig is None else to_svg(fig, title)
