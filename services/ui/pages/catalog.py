"""Home (every view the caller may see) and one feature view's page."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from fastapi import Request, Response
from feast import FeatureView

from featurestore.services.lineage import (
    LineageError,
    TableUnreadableError,
)
from featurestore.services.lineage import last_publish as lineage_last_publish
from featurestore.services.online import client_key_fields
from featurestore.services.ui import monitoring
from featurestore.services.ui.access import CATALOGUE, VIEW
from featurestore.services.ui.console import Console
from featurestore.services.ui.pages._router import PageRouter
from featurestore.services.ui.pages.login import console_of
from featurestore.services.ui.params import Name

log = logging.getLogger(__name__)
router = PageRouter()


def last_publish(console: Console, table: str | None) -> dict[str, Any] | None:
    """The newest publish of ``table`` as the home page shows it (a VACUUM or
    OPTIMIZE commit after it is none: ``lineage.newest_publish``, as freshness
    judges it), or None; ``{"unreadable": True}`` when its Delta log cannot
    be read (never taken for a table that was never published);
    ``{"version": None, "searched": n}`` when none of its newest n commits is
    a publish."""
    if table is None:
        return None
    try:
        path = console.table_path(table)
        search = lineage_last_publish(path, console.located.storage_options)
    except TableUnreadableError as exc:  # the page says so; the log has the detail
        log.warning("last publish of %s: %s: %s", table, exc.reason.value, exc)
        return {"unreadable": True}
    except LineageError:
        return None
    if search is None:
        return None
    record = search.publish
    if record is None:
        return {"unreadable": False, "version": None, "searched": search.searched}
    return {
        "unreadable": False,
        "version": record.version,
        "time": record.timestamp,
        "job": record.job,
        "run_id": record.run_id,
        "contract": record.contract,
    }


def _ttl(view: FeatureView) -> str:
    seconds = int(view.ttl.total_seconds()) if view.ttl else 0
    if not seconds:
        return "none (no limit)"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@router.get("/")
def home(request: Request) -> Response:
    """Every feature view the caller may DESCRIBE, with freshness and drift."""
    console = console_of(request)
    with console.gate.admit(console.session(request), CATALOGUE):
        views = console.gate.describable(console.catalog.views())
    tables = [t for v in views if (t := console.table_of(v))]
    health = monitoring.status(console, views, tables)
    rows = []
    for view in views:
        table = console.table_of(view)
        rows.append(
            {
                "name": view.name,
                "entities": [c.name for c in client_key_fields(view)],
                "features": len(view.features),
                "table": table,
                "last": last_publish(console, table),
                "freshness": health.freshness.get(view.name),
                "drift": health.drift.get(table or ""),
            }
        )
    return console.render(
        request,
        "home.html",
        views=rows,
        monitoring=health,
        services=len(console.services()),
        unserved=console.unserved_services(),
    )


@router.get("/views/{name}")
def view_page(request: Request, name: Name) -> Response:
    """One feature view: schema, entity, TTL, source, store, contract, services."""
    console = console_of(request)
    with console.gate.admit(console.session(request), VIEW, SimpleNamespace(name=name)):
        view = console.catalog.view(name)
    table = console.table_of(view)
    health = monitoring.status(console, [view], [table] if table else [])
    return console.render(
        request,
        "view.html",
        view={
            "name": view.name,
            "description": view.description,
            "owner": view.owner,
            "tags": dict(view.tags),
            "ttl": _ttl(view),
            "online": view.online,
            "features": [(f.name, str(f.dtype)) for f in view.features],
            "entities": [(c.name, str(c.dtype)) for c in client_key_fields(view)],
            "table": table,
            "source": str(getattr(view.batch_source, "path", "") or ""),
            "contract": console.contract_of(view),
            "services": console.services_of(view.name),
        },
        online_store=str(console.store.config.online_store.type),
        last=last_publish(console, table),
        freshness=health.freshness.get(view.name),
        drift=health.drift.get(table or ""),
        monitoring=health,
    )
