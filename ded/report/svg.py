"""Inline SVG charts, drawn by hand so the report needs no plotting library, no script and no network.

Each function returns one `<svg>` element as a string sized in CSS pixels. Text is escaped; numbers are
formatted with `fmt`. The palette is colour-blind safe (Okabe & Ito 2008, "Color Universal Design").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
AXIS = "#444"
GRID = "#ddd"
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


def fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.3g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi] (1, 2, 2.5, 5 × 10^k steps)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _open(w: int, h: int, title: str) -> list[str]:
    return [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
         f'role="img" aria-label="{escape(title)}" {FONT} font-size="12">'),
        f"<title>{escape(title)}</title>",
        f'<rect width="{w}" height="{h}" fill="#fff"/>',
        f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]


def _close(out: list[str], names: Sequence[str], left: float, top: float, pw: float, ph: float, height: int,
           xlabel: str, ylabel: str) -> str:
    """Axes, axis labels and (for several series) the legend of a plot area; closes the <svg>."""
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{AXIS}"/>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="{AXIS}"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
               f"{escape(ylabel)}</text>")
    if len(names) > 1:
        lx = left
        for k, name in enumerate(names):
            out.append(f'<rect x="{lx}" y="{top - 22}" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>')
            out.append(f'<text x="{lx + 14}" y="{top - 13}">{escape(name)}</text>')
            lx += 30 + 7 * len(name)
    out.append("</svg>")
    return "\n".join(out)


def hbar(labels: Sequence[str], values: Sequence[float], *, title: str, xlabel: str = "",
         lo: Sequence[float] | None = None, hi: Sequence[float] | None = None,
         colors: Sequence[str] | None = None, annotations: Sequence[str] | None = None,
         width: int = 640, xmax: float | None = None) -> str:
    """Horizontal bars, one per label, with optional error bars [lo, hi] and a text after each bar."""
    n = len(labels)
    row, top, left, right = 24, 34, min(260, 12 + 7 * max((len(s) for s in labels), default=4)), 70
    h = top + n * row + 44
    vmax = xmax if xmax is not None else max([*values, *(hi or []), 0]) or 1
    ticks = nice_ticks(0, vmax)
    vmax = ticks[-1]
    pw = width - left - right
    x = lambda v: left + pw * (v / vmax if vmax else 0)
    out = _open(width, h, title)
    for t in ticks:
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{top + n * row}" stroke="{GRID}"/>')
        out.append(f'<text x="{x(t):.1f}" y="{top + n * row + 14}" text-anchor="middle">{fmt(t)}</text>')
    for i, (lab, v) in enumerate(zip(labels, values)):
        y = top + i * row
        c = (colors[i] if colors else PALETTE[0])
        out.append(f'<text x="{left - 6}" y="{y + row / 2 + 4}" text-anchor="end">{escape(str(lab))}</text>')
        bw = max(0.0, x(v or 0) - left)
        out.append(f'<rect x="{left}" y="{y + 4}" width="{bw:.1f}" height="{row - 8}" fill="{c}">'
                   f"<title>{escape(str(lab))}: {fmt(v)}</title></rect>")
        if lo is not None and hi is not None and lo[i] is not None and hi[i] is not None:
            cy = y + row / 2
            out.append(f'<line x1="{x(lo[i]):.1f}" x2="{x(hi[i]):.1f}" y1="{cy}" y2="{cy}" stroke="{AXIS}" '
                       f'stroke-width="1.5"/>')
            for e in (lo[i], hi[i]):
                out.append(f'<line x1="{x(e):.1f}" x2="{x(e):.1f}" y1="{cy - 5}" y2="{cy + 5}" stroke="{AXIS}"/>')
        note = annotations[i] if annotations else fmt(v)
        tx = max(x(v or 0), x(hi[i]) if hi is not None and hi[i] is not None else 0) + 4
        out.append(f'<text x="{tx:.1f}" y="{y + row / 2 + 4}">{escape(note)}</text>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + n * row}" stroke="{AXIS}"/>')
    if xlabel:
        out.append(f'<text x="{left + pw / 2}" y="{h - 8}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def histogram(edges: Sequence[float], series: dict[str, Sequence[float]], *, title: str, xlabel: str,
              ylabel: str = "count", stacked: bool = True, width: int = 640, height: int = 300) -> str:
    """Bars over bins [edges[i], edges[i+1]); several series are stacked (or side by side) with a legend."""
    nb = len(edges) - 1
    if nb < 1:
        raise ValueError("histogram needs at least two bin edges")
    names = list(series)
    left, right, top, bottom = 56, 16, 40 + 16 * (len(names) > 1), 46
    pw, ph = width - left - right, height - top - bottom
    totals = [sum(series[s][i] for s in names) for i in range(nb)] if stacked else \
        [max(series[s][i] for s in names) for i in range(nb)]
    ticks = nice_ticks(0, max(totals, default=0) or 1)
    ymax = ticks[-1]
    y = lambda v: top + ph - ph * v / ymax
    bw = pw / nb
    out = _open(width, height, title)
    for t in ticks:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 4}" y="{y(t) + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
    for i in range(nb):
        base = 0.0
        for k, s in enumerate(names):
            v = series[s][i]
            if stacked:
                x0, w0, y0, y1 = left + i * bw + 1, bw - 2, y(base + v), y(base)
                base += v
            else:
                w0 = (bw - 2) / len(names)
                x0, y0, y1 = left + i * bw + 1 + k * w0, y(v), y(0)
            if v:
                out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{max(w0, 0.5):.1f}" height="{y1 - y0:.1f}" '
                           f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(s)} [{fmt(edges[i])}, '
                           f"{fmt(edges[i + 1])}): {fmt(v)}</title></rect>")
    step = max(1, math.ceil((nb + 1) / 8))
    for i in range(0, nb + 1, step):
        out.append(f'<text x="{left + i * bw:.1f}" y="{top + ph + 14}" text-anchor="middle">{fmt(edges[i])}</text>')
    return _close(out, names, left, top, pw, ph, height, xlabel, ylabel)


def _frame(width: int, height: int, title: str, xvals: list[float], ymin: float, ymax: float, tx, left: int,
           top: int, pw: int, ph: int):
    """The opened SVG of a line chart with its y grid and x ticks drawn: (out, X, Y), X and Y mapping data to
    pixels (x through `tx`, linear or log10; y from min(0, ymin) to ymax, or 1 when ymax <= 0)."""
    xs = [tx(x) for x in xvals]
    xlo, xhi = min(xs), max(xs)
    if xhi == xlo:
        xlo, xhi = xlo - 0.5, xhi + 0.5
    yt = nice_ticks(min(0.0, ymin), ymax if ymax > 0 else 1.0)
    ylo, yhi = yt[0], yt[-1]
    X = lambda v: left + pw * (tx(v) - xlo) / (xhi - xlo)
    Y = lambda v: top + ph - ph * (v - ylo) / ((yhi - ylo) or 1)
    out = _open(width, height, title)
    for t in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 4}" y="{Y(t) + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
    for x in sorted(set(xvals)):
        out.append(f'<text x="{X(x):.1f}" y="{top + ph + 14}" text-anchor="middle">{fmt(x)}</text>')
    return out, X, Y


def lines(series: dict[str, Sequence[tuple[float, float]]], *, title: str, xlabel: str, ylabel: str,
          log_x: bool = False, width: int = 640, height: int = 320) -> str:
    """One line with point markers per series (points sorted by x), shared axes and a legend."""
    names = [n for n in series if series[n]]
    pts = [(float(x), float(y)) for n in names for x, y in series[n]]
    if not pts:
        raise ValueError("lines needs at least one point")
    if log_x and any(x <= 0 for x, _ in pts):
        raise ValueError("log_x needs positive x values")
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    left, right, top, bottom = 56, 16, 40 + 16 * (len(names) > 1), 46
    pw, ph = width - left - right, height - top - bottom
    ys = [y for _, y in pts]
    out, X, Y = _frame(width, height, title, [x for x, _ in pts], min(ys), max(ys), tx, left, top, pw, ph)
    for k, n in enumerate(names):
        c = PALETTE[k % len(PALETTE)]
        line = sorted((float(x), float(y)) for x, y in series[n])
        path = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in line)
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, y in line:
            out.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3.5" fill="{c}">'
                       f"<title>{escape(n)}: {fmt(x)}, {fmt(y)}</title></circle>")
    return _close(out, names, left, top, pw, ph, height, xlabel + (" (log scale)" if log_x else ""), ylabel)


def band_lines(series: dict[str, Sequence[tuple[float, float, float, float]]], *, title: str, xlabel: str,
               ylabel: str, log_x: bool = False, width: int = 640, height: int = 320) -> str:
    """`lines` with an interval band per series: points (x, y, lo, hi), the band a translucent polygon."""
    names = [n for n in series if series[n]]
    pts = [(float(x), float(y), float(lo), float(hi)) for n in names for x, y, lo, hi in series[n]]
    if not pts:
        raise ValueError("band_lines needs at least one point")
    if log_x and any(x <= 0 for x, *_ in pts):
        raise ValueError("log_x needs positive x values")
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    left, right, top, bottom = 56, 16, 40 + 16 * (len(names) > 1), 46
    pw, ph = width - left - right, height - top - bottom
    out, X, Y = _frame(width, height, title, [x for x, *_ in pts], min(lo for *_, lo, _ in pts),
                       max(max(y, hi) for _, y, _, hi in pts), tx, left, top, pw, ph)
    for k, n in enumerate(names):
        c = PALETTE[k % len(PALETTE)]
        line = sorted((float(x), float(y), float(lo), float(hi)) for x, y, lo, hi in series[n])
        band = [f"{X(x):.1f},{Y(hi):.1f}" for x, _, _, hi in line] + [f"{X(x):.1f},{Y(lo):.1f}" for x, _, lo, _ in reversed(line)]
        if len(line) > 1:
            out.append(f'<polygon points="{" ".join(band)}" fill="{c}" fill-opacity="0.15" stroke="none"/>')
        path = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y, _, _ in line)
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, y, lo, hi in line:
            out.append(f'<line x1="{X(x):.1f}" x2="{X(x):.1f}" y1="{Y(lo):.1f}" y2="{Y(hi):.1f}" stroke="{c}" stroke-opacity="0.6"/>')
            out.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3.5" fill="{c}">'
                       f"<title>{escape(n)}: {fmt(x)} rows, {fmt(y)} [{fmt(lo)}, {fmt(hi)}]</title></circle>")
    return _close(out, names, left, top, pw, ph, height, xlabel + (" (log scale)" if log_x else ""), ylabel)


def nice_upper(lo: float, hi: float, bins: int) -> float:
    """The smallest hi' >= hi such that (hi' - lo) / bins is a round step (1, 2, 2.5, 5 x 10^k)."""
    raw = max(hi - lo, 1e-12) / bins
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-12))
    return lo + step * bins


def histogram_bins(values: Sequence[float], bins: int = 20, lo: float | None = None,
                   hi: float | None = None, nice: bool = False) -> tuple[list[float], list[int]]:
    """Equal-width bins over [lo, hi]; the last bin includes hi. `nice` rounds hi up to a round bin width."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    lo = min(vals, default=0.0) if lo is None else lo
    hi = max(vals, default=1.0) if hi is None else hi
    if hi <= lo:
        hi = lo + 1
    if nice:
        hi = nice_upper(lo, hi, bins)
    w = (hi - lo) / bins
    counts = [0] * bins
    for v in vals:
        if lo <= v <= hi:
            counts[min(bins - 1, int((v - lo) / w))] += 1
    return [lo + i * w for i in range(bins + 1)], counts


def ablation_svg(summary: dict) -> str:
    """`ded ablate`'s picture (metrics/ablate.json's curves): accuracy against corpus size per recipe, one panel
    per benchmark and teacher, each point the seed-averaged avg@n with its interval as a band."""
    panels = []
    keys = sorted({(c["benchmark"], c["teacher"]) for c in summary["curves"]})
    for bench, teacher in keys:
        series: dict[str, list[tuple[float, float, float, float]]] = {}
        for c in summary["curves"]:
            if (c["benchmark"], c["teacher"]) == (bench, teacher):
                series.setdefault(c["recipe"], []).append((c["corpus_rows"], c["avg_at_n"], c["ci_low"], c["ci_high"]))
        title = f"{bench}: avg@n vs corpus size" + (f" (teacher {teacher})" if teacher != "auto" else "")
        panels.append(band_lines(series, title=title, xlabel="corpus size (rows)", ylabel="avg@n",
                                 log_x=all(x > 0 for pts in series.values() for x, *_ in pts)))
    if not panels:
        raise ValueError("no ablation arm has an evaluation (ablate.train: false?): nothing to draw")
    return stack_svgs(panels)


def stack_svgs(panels: Sequence[str]) -> str:
    """Several SVG charts stacked vertically in one self-contained SVG document."""
    import re

    out, y, width = [], 0, 0
    for p in panels:
        w = int(float(re.search(r'width="([\d.]+)"', p).group(1)))
        h = int(float(re.search(r'height="([\d.]+)"', p).group(1)))
        inner = re.sub(r"^<svg[^>]*>", "", p.strip()).removesuffix("</svg>")
        out.append(f'<g transform="translate(0,{y})">{inner}</g>')
        y, width = y + h, max(width, w)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" viewBox="0 0 {width} {y}" '
            f'font-family="sans-serif" font-size="11">' + "".join(out) + "</svg>\n")
