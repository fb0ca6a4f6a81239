"""A feature table's history (lineage and its graph), quality and quarantine."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import StreamingResponse
from feast import FeatureView
from markupsafe import Markup

from featurestore.services.auth import PermissionDeniedError
from featurestore.services.lineage import (
    LineageError,
    LineageErrorReason,
    TableNotFoundError,
    VersionRecord,
    table_history,
)
from featurestore.services.lineage.quarantine import (
    LABELS,
    quarantine_csv,
    read_quarantine,
)
from featurestore.services.ui import svg
from featurestore.services.ui.access import OFFLINE, PROJECT, view_refs
from featurestore.services.ui.console import Console, PageError
from featurestore.services.ui.pages._router import PageRouter
from featurestore.services.ui.pages.login import console_of
from featurestore.services.ui.params import Name, attachment

log = logging.getLogger(__name__)
router = PageRouter()

Page = Annotated[int, Query(ge=1, le=1_000_000)]
Filter = Annotated[str | None, Query(max_length=256)]
_GRAPH_VERSIONS = 6


def _history(console: Console, table: str) -> tuple[list[VersionRecord], str]:
    """Every version, newest first, and a message when there is no table."""
    path = console.table_path(table)
    try:
        return table_history(path, storage=console.located.storage_options), ""
    except TableNotFoundError:
        return [], f"No Delta table for {table!r} yet: no job has published it."
    except LineageError as exc:  # the store did not answer, an unreadable log
        return [], f"The table {table!r} cannot be read ({exc.reason})."
    except OSError as exc:  # a table whose log cannot be read
        return [], f"The table {table!r} cannot be read ({type(exc).__name__})."


def _counts(record: VersionRecord) -> dict[str, Any]:
    validation = record.validation or {}
    return {
        "rows_in": validation.get("rows_in"),
        "published": validation.get("published"),
        "quarantined": validation.get("quarantined"),
        "by_reason": dict(validation.get("by_reason") or {}),
    }


def lineage_graph(
    console: Console,
    table: str,
    records: list[VersionRecord],
    views: list[FeatureView],
) -> Markup:
    """contract@version -> job run -> table version -> feature view -> service.

    ``views`` are the views over the table the caller may DESCRIBE.
    """
    nodes: dict[str, svg.Node] = {}
    edges: list[tuple[str, str]] = []
    for record in records[:_GRAPH_VERSIONS]:
        version = f"v:{record.version}"
        nodes[version] = svg.Node(
            version,
            f"{table} v{record.version}",
            2,
            f"/tables/{table}#v{record.version}",
        )
        run = f"run:{record.job}:{record.run_id}"
        nodes.setdefault(
            run,
            svg.Node(
                run,
                f"run {record.run_id or '?'}",
                1,
                detail=f"{record.job or '?'} run {record.run_id or '?'}",
            ),
        )
        edges.append((run, version))
        if record.contract:
            key = f"c:{record.contract}"
            name, _, ver = record.contract.partition("@")
            nodes.setdefault(
                key,
                svg.Node(key, record.contract, 0, f"/contracts/{name}?version={ver}"),
            )
            edges.append((key, run))
    latest = f"v:{records[0].version}" if records else None
    for view in views:
        key = f"fv:{view.name}"
        nodes[key] = svg.Node(key, view.name, 3, f"/views/{view.name}")
        if latest:
            edges.append((latest, key))
        for service in console.services_of(view.name):
            skey = f"fs:{service}"
            nodes.setdefault(skey, svg.Node(skey, service, 4))
            edges.append((key, skey))
    ordered = sorted(nodes.values(), key=lambda n: (n.column, n.key))
    return Markup(svg.graph(f"lineage of {table}", ordered, edges))


@router.get("/tables/{name}")
def table_page(request: Request, name: Name, page: Page = 1) -> Response:
    """Every Delta version with job, run, contract and counts; the lineage graph."""
    console = console_of(request)
    with console.gate.admit(console.session(request), PROJECT):
        records, message = _history(console, name)
        views = console.gate.describable(console.views_over(name))
    size = console.settings.ui_page_size
    shown = records[(page - 1) * size : page * size]
    return console.render(
        request,
        "table.html",
        table=name,
        message=message,
        records=[(r, _counts(r)) for r in shown],
        page=page,
        pages=max(1, -(-len(records) // size)),
        total=len(records),
        graph=lineage_graph(console, name, records, views) if records else "",
        views=[v.name for v in views],
    )


def _quality(records: list[VersionRecord]) -> tuple[list[str], list[dict[str, Any]]]:
    checks = sorted({k for r in records for k in _counts(r)["by_reason"]})
    rows = []
    for record in records:
        counts = _counts(record)
        rows_in = counts["rows_in"]
        cells = []
        for check in checks:
            failed = int(counts["by_reason"].get(check, 0))
            passed = None if rows_in is None else int(rows_in) - failed
            cells.append((passed, failed))
        rows.append({"record": record, "counts": counts, "cells": cells})
    return checks, rows


def _rows_allowed(console: Console, request: Request, table: str) -> str:
    """'' when the caller may read quarantined rows, else why not."""
    views = console.views_over(table)
    if not views:
        return ""  # no view reads it: the project's DESCRIBE covers it
    try:
        with console.gate.admit(console.session(request), OFFLINE, view_refs(views)):
            return ""
    except PermissionDeniedError:
        # Not the error's text: it names a view the caller may not DESCRIBE.
        return (
            "Quarantined rows are data: reading them needs READ_OFFLINE on "
            "every feature view over this table."
        )


@router.get("/tables/{name}/quality")
def quality_page(
    request: Request,
    name: Name,
    page: Page = 1,
    run: Filter = None,
    reason: Filter = None,
) -> Response:
    """Pass/fail counts per check and version; the quarantine browser."""
    console = console_of(request)
    with console.gate.admit(console.session(request), PROJECT):
        records, message = _history(console, name)
    checks, rows = _quality(records)
    denied = _rows_allowed(console, request, name)
    quarantine, q_message = None, ""
    size = console.settings.ui_page_size
    if not denied:
        try:
            quarantine = read_quarantine(
                _quarantine_path(console, name),
                run_id=run or None,
                reason=reason or None,
                offset=(page - 1) * size,
                limit=size,
                storage=console.located.storage_options,
            )
        except TableNotFoundError:
            q_message = "Nothing quarantined: the table has no quarantine table."
        except LineageError as exc:
            q_message = f"The quarantine table cannot be read ({exc.reason})."
    return console.render(
        request,
        "quality.html",
        table=name,
        message=message,
        checks=checks,
        rows=rows,
        denied=denied,
        quarantine=quarantine,
        q_rows=_page_rows(quarantine),
        q_message=q_message,
        run=run or "",
        reason=reason or "",
        page=page,
        pages=max(1, -(-quarantine.total // size)) if quarantine else 1,
    )


def _quarantine_unreadable(table: str, exc: LineageError) -> PageError:
    """The page for a quarantine table that cannot be read: the table's name
    and the reason, never the server's path (the log has it)."""
    log.warning("quarantine of %s: %s", table, exc)
    if isinstance(exc, TableNotFoundError):
        return PageError(
            404, "Not found", f"nothing quarantined for {table!r}: no quarantine table"
        )
    if exc.reason == LineageErrorReason.STORAGE_UNAVAILABLE:
        return PageError(
            503, "Storage unavailable",
            f"the quarantine table of {table!r} cannot be read now "
            f"({exc.reason}); try again",
        )  # fmt: skip
    return PageError(
        500, "Table unreadable",
        f"the quarantine table of {table!r} cannot be read ({exc.reason}); the "
        "server log names the file",
    )  # fmt: skip


def _quarantine_path(console: Console, table: str) -> str:
    return f"{console.table_path(table)}_quarantine"


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def _page_rows(page: Any) -> tuple[list[str], list[list[Any]]]:
    """Column names and rows of a quarantine page; the reasons come first."""
    if page is None:
        return [], []
    columns = [c for c in page.rows.column_names if c != LABELS]
    return columns, [
        [", ".join(row[LABELS] or []), *(_cell(row[c]) for c in columns)]
        for row in page.rows.to_pylist()
    ]


@router.get("/tables/{name}/quarantine.csv")
def quarantine_download(
    request: Request, name: Name, run: Filter = None, reason: Filter = None
) -> Response:
    """The filtered quarantined rows as CSV (reasons as ``column:check``)."""
    console = console_of(request)
    with console.gate.admit(console.session(request), PROJECT):
        path = _quarantine_path(console, name)
    denied = _rows_allowed(console, request, name)
    if denied:  # not the guard's error: it names a view the caller may not see
        raise PageError(403, "Not allowed", denied)
    chunks = quarantine_csv(
        path, run_id=run or None, reason=reason or None,
        storage=console.located.storage_options,
    )  # fmt: skip
    try:
        first = next(chunks, b"")  # raises before the headers go out
    except LineageError as exc:
        raise _quarantine_unreadable(name, exc) from None

    def body() -> Any:
        yield first
        yield from chunks

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers=attachment(f"{name}_quarantine.csv"),
    )
