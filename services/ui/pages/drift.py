"""Drift: score per feature over versions, and a histogram of baseline vs a version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from markupsafe import Markup

from featurestore.services.offline import OfflineStoreError
from featurestore.services.ui import monitoring, svg
from featurestore.services.ui.access import PROJECT
from featurestore.services.ui.console import PageError
from featurestore.services.ui.pages.login import console_of
from featurestore.services.ui.params import Name

router = APIRouter()

Version = Annotated[int | None, Query(ge=0, le=2**62)]


@router.get("/drift")
def drift_index(request: Request) -> Response:
    """Every table's newest drift verdict (when monitoring is available)."""
    console = console_of(request)
    with console.gate.admit(console.session(request), PROJECT):
        tables = console.tables()
    health = monitoring.status(console, [], tables)
    return console.render(request, "drift_index.html", tables=tables, monitoring=health)


def _charts(
    feature: monitoring.FeatureDrift, shown: int | None
) -> tuple[Markup, Markup]:
    bands = [
        svg.Band(feature.warn, feature.fail, "#bf8700", f"warn ≥ {feature.warn:g}"),
        svg.Band(feature.fail, float("inf"), "#d1242f", f"fail ≥ {feature.fail:g}"),
    ]
    top = max([*(s for s in feature.scores if s is not None), feature.fail]) * 1.25
    line = svg.line_chart(
        f"{feature.feature}: {feature.metric} against the baseline",
        [f"v{v}" for v in feature.versions],
        [svg.Series(f"{feature.metric} vs baseline", feature.scores)],
        bands,
        y_max=top,
    )
    histogram = ""
    if feature.counts and feature.reference_counts:
        histogram = svg.histogram_overlay(
            f"{feature.feature}: baseline vs v{shown}",
            feature.buckets,
            feature.reference_counts,
            feature.counts,
            ("baseline", f"v{shown}"),
        )
    return Markup(line), Markup(histogram)


@router.get("/drift/{name}")
def drift_page(request: Request, name: Name, version: Version = None) -> Response:
    """Each feature's drift score over versions with its warn and fail bands."""
    console = console_of(request)
    with console.gate.admit(console.session(request), PROJECT):
        if name not in console.tables():
            raise PageError(404, "Not found", f"no feature table {name!r}")
    if not monitoring.available():
        return console.render(
            request,
            "drift.html",
            table=name,
            monitoring=monitoring.Health(False, monitoring.NOT_AVAILABLE),
        )
    try:
        detail = monitoring.drift_detail(console, name, version)
    except monitoring.UnknownVersionError:
        missing = f"feature table {name!r} has no profiled version {version}"
        raise PageError(404, "Not found", missing) from None
    except OfflineStoreError as exc:  # STORAGE_UNAVAILABLE: not the page's fault
        why = f"{exc.reason.value}: {exc}"
        raise PageError(503, "Storage unavailable", why) from None
    shown = detail.shown
    return console.render(
        request,
        "drift.html",
        table=name,
        monitoring=monitoring.Health(True, drift={name: detail.badge}),
        versions=detail.versions,
        shown=shown,
        features=[(f, *_charts(f, shown)) for f in detail.features],
    )
