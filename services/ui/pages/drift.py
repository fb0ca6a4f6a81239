"""Drift: score per feature over versions, and a histogram of baseline vs a version."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Annotated

from fastapi import Query, Request, Response
from markupsafe import Markup

from featurestore.services.auth import PermissionDeniedError
from featurestore.services.offline import OfflineStoreError
from featurestore.services.ui import monitoring, svg
from featurestore.services.ui.access import CATALOGUE, DRIFT, PROJECT
from featurestore.services.ui.console import Console, PageError
from featurestore.services.ui.pages._router import PageRouter
from featurestore.services.ui.pages.login import console_of
from featurestore.services.ui.params import Name

log = logging.getLogger(__name__)
router = PageRouter()

Version = Annotated[int | None, Query(ge=0, le=2**62)]


def _drift_tables(console: Console) -> list[str]:
    """Within ``admit``: the tables whose drift the principal may see, as the
    gRPC calls decide: a table with a view it may DESCRIBE (ListDriftScores
    with that view as parent); a table no view reads, with DESCRIBE on the
    project (its contract's data, as GetContract)."""
    gate = console.gate
    described = {v.name for v in gate.describable(console.catalog.views())}
    project = bool(gate.describable([console.catalog.project]))
    return [
        table
        for table in console.tables()
        if (
            any(v.name in described for v in views)
            if (views := console.views_over(table))
            else project
        )
    ]


def _admit_drift(console: Console, request: Request, table: str) -> None:
    """Admit the drift of ``table`` as ListDriftScores would be: DESCRIBE on a
    view over it that the principal may DESCRIBE, audited as that call. A
    table without such a view is admitted as GetContract (DESCRIBE on the
    project) first, as a table no view reads or one the console does not know
    (404 then): a caller without it gets the same refusal for every name, so
    learns nothing of which tables exist. One with it (who sees the table
    listed anyway) is then refused as ListDriftScores, naming no view.

    Raises:
        SignInRequired, AuthenticationError, PermissionDeniedError: as
            ``Gate.admit``.
        PageError: 404 for an unknown table.
    """
    session = console.session(request)
    views = console.views_over(table)
    with console.gate.admit(session, CATALOGUE) as principal:
        described = console.gate.describable(views)
    if described:
        parent = SimpleNamespace(parent=described[0].name)
        with console.gate.admit(session, DRIFT, parent):
            return
    with console.gate.admit(session, PROJECT):
        if table not in console.tables():
            raise PageError(404, "Not found", f"no feature table {table!r}")
    if not views:
        return
    try:  # audited as the call it is; its error names the view
        with console.gate.admit(session, DRIFT, SimpleNamespace(parent=views[0].name)):
            return
    except PermissionDeniedError:
        raise PermissionDeniedError(
            principal.name, "DESCRIBE", f"any feature view over table {table!r}"
        ) from None


@router.get("/drift")
def drift_index(request: Request) -> Response:
    """The newest drift verdict of every table the caller may see the drift
    of (when monitoring is available)."""
    console = console_of(request)
    with console.gate.admit(console.session(request), CATALOGUE):
        tables = _drift_tables(console)
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
    _admit_drift(console, request, name)
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
    except monitoring.UNREADABLE as exc:  # a damaged _profile log; the log says more
        log.warning("drift of %s: a Delta log cannot be read: %s", name, exc)
        why = f"the profiles of {name!r} cannot be read (TABLE_UNREADABLE)"
        raise PageError(500, "Table unreadable", why) from None
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
