"""Small dependency-free SVG charts for the HTML report (lines and bars)."""

from __future__ import annotations

from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 300, 56, 140, 28, 40


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _frame(title: str, x_label: str, y_label: str, y_lo: float, y_hi: float, body: list[str], legend: list[str]) -> str:
    y = _scale(y_lo, y_hi, H - PAD_B, PAD_T)
    ticks = []
    for i in range(5):
        v = y_lo + (y_hi - y_lo) * i / 4
        ticks.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
                     f'<text x="{PAD_L - 6}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">{v:.3g}</text>')
    legend_svg = [f'<rect x="{W - PAD_R + 10}" y="{PAD_T + 16 * i}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                  f'<text x="{W - PAD_R + 24}" y="{PAD_T + 16 * i + 9}" font-size="11">{escape(name)}</text>'
                  for i, name in enumerate(legend)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" aria-label="{escape(title)}">'
            f'<text x="{PAD_L}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>'
            + "".join(ticks)
            + f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{H - PAD_B}" y2="{H - PAD_B}" stroke="#333"/>'
            + f'<text x="{(PAD_L + W - PAD_R) / 2}" y="{H - 8}" font-size="11" text-anchor="middle">{escape(x_label)}</text>'
            + f'<text x="12" y="{(PAD_T + H - PAD_B) / 2}" font-size="11" transform="rotate(-90 12 {(PAD_T + H - PAD_B) / 2})" '
              f'text-anchor="middle">{escape(y_label)}</text>'
            + "".join(body) + "".join(legend_svg) + "</svg>")


def line_chart(title: str, series: dict[str, list[tuple[float, float]]], x_label: str = "", y_label: str = "",
               x_labels: dict[float, str] | None = None) -> str:
    points = [p for pts in series.values() for p in pts if p[1] is not None]
    if not points:
        return f"<p><em>{escape(title)}: no data</em></p>"
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    y_lo, y_hi = min(0.0, min(ys)), max(ys) * 1.05 or 1.0
    x = _scale(min(xs), max(xs), PAD_L, W - PAD_R)
    y = _scale(y_lo, y_hi, H - PAD_B, PAD_T)
    body = []
    for i, (name, pts) in enumerate(series.items()):
        pts = [p for p in pts if p[1] is not None]
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{'M' if j == 0 else 'L'}{x(px):.1f},{y(py):.1f}" for j, (px, py) in enumerate(pts))
        body.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        body += [f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="2.5" fill="{color}"><title>{escape(name)}: {py:.4g}</title></circle>'
                 for px, py in pts]
    for v in sorted(set(xs)):
        label = (x_labels or {}).get(v, f"{v:g}")
        body.append(f'<text x="{x(v):.1f}" y="{H - PAD_B + 14}" font-size="10" text-anchor="middle">{escape(label)}</text>')
    return _frame(title, x_label, y_label, y_lo, y_hi, body, list(series))


def bar_chart(title: str, groups: list[str], series: dict[str, list[float]], y_label: str = "", stacked: bool = False) -> str:
    values = [v for vs in series.values() for v in vs if v is not None]
    if not values or not groups:
        return f"<p><em>{escape(title)}: no data</em></p>"
    totals = [sum((series[s][g] or 0) for s in series) for g in range(len(groups))] if stacked else values
    y_lo, y_hi = 0.0, (max(totals) * 1.1) or 1.0
    y = _scale(y_lo, y_hi, H - PAD_B, PAD_T)
    slot = (W - PAD_L - PAD_R) / len(groups)
    width = slot * 0.8 / (1 if stacked else len(series))
    body = []
    for g, group in enumerate(groups):
        base = 0.0
        for i, (name, vs) in enumerate(series.items()):
            v = vs[g] or 0.0
            left = PAD_L + g * slot + slot * 0.1 + (0 if stacked else i * width)
            top, bottom = (y(base + v), y(base)) if stacked else (y(v), y(0))
            body.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{max(bottom - top, 0):.1f}" '
                        f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(group)} {escape(name)}: {v:.4g}</title></rect>')
            if stacked:
                base += v
        body.append(f'<text x="{PAD_L + (g + 0.5) * slot:.1f}" y="{H - PAD_B + 14}" font-size="10" '
                    f'text-anchor="middle">{escape(group)}</text>')
    return _frame(title, "", y_label, y_lo, y_hi, body, list(series))
