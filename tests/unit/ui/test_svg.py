"""Server-side SVG: well-formed, escaped, points where the scale puts them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from featurestore.services.ui import svg

NS = {"s": "http://www.w3.org/2000/svg"}


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # raises on malformed markup


def test_line_chart_places_points_on_the_scale_and_draws_bands():
    chart = _parse(
        svg.line_chart(
            "psi <drift>",
            ["v0", "v1", "v2"],
            [
                svg.Series("amount", [0.0, 0.5, 1.0]),
                svg.Series("gap", [None, 0.2, None]),
            ],
            bands=[
                svg.Band(0.1, 0.25, "#bf8700", "warn"),
                svg.Band(0.25, 1.0, "#d1242f", "fail"),
            ],
            y_max=1.0,
        )
    )
    assert chart.find("s:title", NS).text == "psi <drift>"
    circles = chart.findall(".//s:circle", NS)
    assert len(circles) == 4  # three points, one of the gappy series
    ys = [float(c.get("cy")) for c in circles[:3]]
    top, bottom = 16, svg.HEIGHT - 36  # the plot's padding
    assert ys[0] == bottom and ys[2] == top
    assert abs(ys[1] - (top + bottom) / 2) < 0.11
    xs = [float(c.get("cx")) for c in circles[:3]]
    assert xs[1] - xs[0] == xs[2] - xs[1] > 0
    assert len(chart.findall(".//s:polyline", NS)) == 1  # one point draws no line
    bands = [r for r in chart.findall(".//s:rect", NS)]
    assert [b.find("s:title", NS).text for b in bands] == ["warn", "fail"]


def test_histogram_overlay_shows_shares():
    chart = _parse(
        svg.histogram_overlay("h", ["[0, 1)", "[1, 2)"], [1, 3], [2, 2], ("base", "v3"))
    )
    titles = [r.find("s:title", NS).text for r in chart.findall(".//s:rect", NS)]
    assert titles == ["base [0, 1): 25.0%", "base [1, 2): 75.0%",
                      "v3 [0, 1): 50.0%", "v3 [1, 2): 50.0%"]  # fmt: skip


def test_graph_escapes_labels_and_links_and_skips_unknown_edges():
    markup = svg.graph(
        "g",
        [svg.Node("a", "<b>&", 0, "/x?a=1&b=2"), svg.Node("b", "two", 1)],
        [("a", "b"), ("a", "missing")],
    )
    tree = _parse(markup)
    assert "<b>" not in markup and "&lt;b&gt;&amp;" in markup
    links = tree.findall(".//s:a", NS)
    assert [a.get("href") for a in links] == ["/x?a=1&b=2"]
    assert len(tree.findall(".//s:line", NS)) == 1
