"""Charts as server-side SVG: line chart with bands, histogram overlay, a graph.

Pure functions from numbers to markup: no JavaScript, nothing fetched, and
every label escaped. Colours are presentation attributes (not ``style``), so
the pages' Content-Security-Policy needs no ``unsafe-inline``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 240
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 48, 16, 16, 36
PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4")


@dataclass(frozen=True)
class Series:
    """One line: a name and a y value per x label (None leaves a gap)."""

    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Band:
    """A horizontal band from ``low`` to ``high`` (a warn or fail zone)."""

    low: float
    high: float
    colour: str
    label: str


def _scale(lo: float, hi: float, a: float, b: float) -> tuple[float, float]:
    span = (hi - lo) or 1.0
    return (b - a) / span, a - lo * (b - a) / span


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _frame(title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" class="chart"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _y_axis(lo: float, hi: float, to_y: tuple[float, float]) -> list[str]:
    out = []
    for i in range(5):
        value = lo + (hi - lo) * i / 4
        y = value * to_y[0] + to_y[1]
        out.append(
            f'<line x1="{_PAD_L}" x2="{WIDTH - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#d0d7de" stroke-width="0.5"/>'
            f'<text x="{_PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="10" fill="#57606a">{_fmt(value)}</text>'
        )
    return out


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    bands: Sequence[Band] = (),
    y_max: float | None = None,
) -> str:
    """A line chart over ``labels`` (x) with optional horizontal bands.

    Args:
        title: Accessible title of the figure.
        labels: One label per x position (e.g. ``v3``).
        series: Lines to draw; their values align with ``labels``.
        bands: Zones drawn behind the lines (warn, fail).
        y_max: Top of the y axis (default: the largest value or band edge).

    Returns:
        An ``<svg>`` element.
    """
    values = [v for s in series for v in s.values if v is not None]
    edges = [b.low for b in bands] + [b.high for b in bands if b.high != float("inf")]
    hi = y_max if y_max is not None else max([*values, *edges, 0.0]) * 1.1 or 1.0
    lo = 0.0
    to_y = _scale(lo, hi, HEIGHT - _PAD_B, _PAD_T)
    n = max(len(labels), 1)
    step = (WIDTH - _PAD_L - _PAD_R) / max(n - 1, 1)

    def x(i: int) -> float:
        return _PAD_L + (i * step if n > 1 else (WIDTH - _PAD_L - _PAD_R) / 2)

    body = []
    for band in bands:
        top = min(band.high, hi) * to_y[0] + to_y[1]
        bottom = max(band.low, lo) * to_y[0] + to_y[1]
        if bottom > top:
            body.append(
                f'<rect x="{_PAD_L}" y="{top:.1f}" width="{WIDTH - _PAD_L - _PAD_R}" '
                f'height="{bottom - top:.1f}" fill="{band.colour}" fill-opacity="0.15">'
                f"<title>{escape(band.label)}</title></rect>"
            )
    body += _y_axis(lo, hi, to_y)
    every = max(1, n // 12)
    for i, label in enumerate(labels):
        if i % every == 0:
            body.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - _PAD_B + 14}" text-anchor="middle" '
                f'font-size="10" fill="#57606a">{escape(label)}</text>'
            )
    for k, line in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = [
            (x(i), v * to_y[0] + to_y[1])
            for i, v in enumerate(line.values)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        for (px, py), value in zip(
            points, [v for v in line.values if v is not None], strict=True
        ):
            body.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(line.name)}: {_fmt(value)}</title></circle>"
            )
        body.append(
            f'<text x="{_PAD_L + 8 + 130 * k}" y="{HEIGHT - 6}" font-size="11" '
            f'fill="{colour}">{escape(line.name)}</text>'
        )
    return _frame(title, body)


def histogram_overlay(
    title: str,
    labels: Sequence[str],
    baseline: Sequence[float],
    current: Sequence[float],
    names: tuple[str, str] = ("baseline", "current"),
) -> str:
    """Two histograms over the same buckets, as shares, drawn over each other.

    Args:
        title: Accessible title.
        labels: One label per bucket (``[0, 10)``, a category, ``null``).
        baseline: Counts per bucket of the baseline.
        current: Counts per bucket of the version compared.
        names: Legend of the two.

    Returns:
        An ``<svg>`` element.
    """
    shares = [_shares(baseline), _shares(current)]
    hi = max([*shares[0], *shares[1], 0.0]) * 1.1 or 1.0
    to_y = _scale(0.0, hi, HEIGHT - _PAD_B, _PAD_T)
    bins = max(len(labels), 1)
    width = (WIDTH - _PAD_L - _PAD_R) / bins
    body = _y_axis(0.0, hi, to_y)
    for k, values in enumerate(shares):
        colour = PALETTE[k]
        for i, share in enumerate(values):
            top = share * to_y[0] + to_y[1]
            body.append(
                f'<rect x="{_PAD_L + i * width + 1:.1f}" y="{top:.1f}" '
                f'width="{max(width - 2, 1):.1f}" '
                f'height="{HEIGHT - _PAD_B - top:.1f}" fill="{colour}" '
                f'fill-opacity="0.45"><title>{escape(names[k])} '
                f"{escape(labels[i])}: {share:.1%}</title></rect>"
            )
        body.append(
            f'<text x="{_PAD_L + 8 + 160 * k}" y="{HEIGHT - 6}" font-size="11" '
            f'fill="{colour}">{escape(names[k])}</text>'
        )
    every = max(1, -(-bins // 6))
    for i, label in enumerate(labels):
        if i % every == 0:
            middle = _PAD_L + (i + 0.5) * width
            body.append(
                f'<text x="{middle:.1f}" y="{HEIGHT - _PAD_B + 14}" '
                f'text-anchor="middle" font-size="9" fill="#57606a">'
                f"{escape(label[:14])}</text>"
            )
    return _frame(title, body)


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [c / total if total else 0.0 for c in counts]


@dataclass(frozen=True)
class Node:
    """A box of the lineage graph, in a column (0 = leftmost)."""

    key: str
    label: str
    column: int
    href: str | None = None
    detail: str = ""
    """Hover text (default: the label)."""


def graph(title: str, nodes: Sequence[Node], edges: Sequence[tuple[str, str]]) -> str:
    """A left-to-right graph of boxes in columns joined by arrows.

    Args:
        title: Accessible title.
        nodes: Boxes; each column is laid out top to bottom in the given order.
        edges: (from key, to key) pairs; unknown keys are skipped.

    Returns:
        An ``<svg>`` element; boxes with ``href`` are links.
    """
    columns = max((n.column for n in nodes), default=0) + 1
    rows: dict[int, list[Node]] = {}
    for node in nodes:
        rows.setdefault(node.column, []).append(node)
    box_w, box_h, gap_y = 150, 30, 14
    height = max(
        [_PAD_T * 2 + len(col) * (box_h + gap_y) for col in rows.values()] or [80]
    )
    width = max(WIDTH, columns * (box_w + 40) + 20)
    step = (width - box_w - 20) / max(columns - 1, 1)
    where: dict[str, tuple[float, float]] = {}
    for column, col_nodes in rows.items():
        for i, node in enumerate(col_nodes):
            where[node.key] = (10 + column * step, _PAD_T + i * (box_h + gap_y))
    body = [
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/></marker></defs>'
    ]
    for src, dst in edges:
        if src in where and dst in where:
            (x1, y1), (x2, y2) = where[src], where[dst]
            body.append(
                f'<line x1="{x1 + box_w:.1f}" y1="{y1 + box_h / 2:.1f}" '
                f'x2="{x2:.1f}" y2="{y2 + box_h / 2:.1f}" stroke="#57606a" '
                'stroke-width="1.2" marker-end="url(#arrow)"/>'
            )
    for node in nodes:
        x, y = where[node.key]
        text = node.label if len(node.label) <= 22 else node.label[:21] + "…"
        box = (
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="5" '
            f'fill="#f6f8fa" stroke="#1f6feb"/><text x="{x + box_w / 2:.1f}" '
            f'y="{y + 19:.1f}" text-anchor="middle" font-size="11" fill="#24292f">'
            f"{escape(text)}</text><title>{escape(node.detail or node.label)}</title>"
        )
        if node.href:
            box = f'<a href="{escape(node.href)}">{box}</a>'
        body.append(f"<g>{box}</g>")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} '
        f'{height:.0f}" role="img" class="chart graph"><title>{escape(title)}'
        "</title>" + "".join(body) + "</svg>"
    )
