"""Online lookup: entity keys in, values with statuses and age against TTL out.

The read is the gRPC service's: ``Catalog.resolve`` picks the views and
features, the online store's ``OnlineReader`` reads them, and the page is
admitted by the ``GetOnlineFeatures`` rule (READ_ONLINE on every view read).
"""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from fastapi import Request, Response
from feast.type_map import feast_value_type_to_python_type

from featurestore.services.offline.errors import OnDemandViewError
from featurestore.services.online import JoinKeyType, client_key_fields
from featurestore.services.server.catalog import ViewRequest
from featurestore.services.server.errors import NotFoundError
from featurestore.services.server.online_features import key_columns, read_views
from featurestore.services.ui.access import CATALOGUE, ONLINE, SignInRequired
from featurestore.services.ui.console import Console, PageError
from featurestore.services.ui.forms import checked_form
from featurestore.services.ui.pages._router import PageRouter
from featurestore.services.ui.pages.login import console_of

router = PageRouter()

_DECIMAL = re.compile(r"[+-]?[0-9]+")
_INTEGER = {JoinKeyType.INT32: 32, JoinKeyType.INT64: 64}
"""Integer key types and their bits (the entity key packs them signed)."""


def _integers(key: str, kind: JoinKeyType, texts: list[str]) -> list[object]:
    """``texts`` as integers of ``kind``; 400 naming the key otherwise.

    Decimal ASCII digits only: Python's ``int`` also takes ``1_000`` and other
    scripts' digits (``٣``), which no client of the gRPC API would send.
    """
    if not all(_DECIMAL.fullmatch(t) for t in texts):
        raise PageError(400, "Bad request", f"{key} values must be integers")
    values = [int(t) for t in texts]
    high = 2 ** (_INTEGER[kind] - 1) - 1
    for text, value in zip(texts, values, strict=True):
        if not -high - 1 <= value <= high:
            shown = text if len(text) <= 32 else text[:29] + "..."
            raise PageError(
                400,
                "Bad request",
                f"{key} value {shown} is outside the {kind.name.lower()} range "
                f"({-high - 1} to {high})",
            )
    return list(values)


def _targets(console: Console) -> tuple[list[str], list[str], list[str], list[str]]:
    """Views, services offered, keys, and services not offered
    (``Console.unserved_services``: they read an on-demand view)."""
    views = console.gate.describable(console.catalog.views())
    services = [s.name for s in console.services()]
    wanted = [ViewRequest(v, ()) for v in views]
    for service in services:
        # A join-key map reads keys from other columns; a service over a view
        # no longer registered (or changed since listed) adds none.
        with suppress(NotFoundError, OnDemandViewError):
            wanted += console.catalog.resolve([], service)
    # The keys a client sends: none for an entity-less view (Feast's dummy).
    keys = {w.entity_column(c.name) for w in wanted for c in client_key_fields(w.view)}
    return [v.name for v in views], services, sorted(keys), console.unserved_services()


def _view_refs(console: Console, name: str) -> list[str]:
    """Every feature of view ``name``; for an unknown (or on-demand) view, one
    reference to it.

    The guard then judges an unknown view as gRPC does (permission before
    existence): signed in first, then NOT_FOUND (an on-demand view: not
    served) only for a caller who could read such a view, PERMISSION_DENIED
    for anyone else, as for one that exists.
    """
    try:
        view = console.catalog.view(name)
    except (NotFoundError, OnDemandViewError):
        return [f"{name}:{name}"]
    return [f"{view.name}:{f.name}" for f in view.features]


def _parse_keys(
    wanted: list[Any], form: dict[str, str], limit: int
) -> dict[str, list[object]]:
    """The form's values of every key the wanted views read, as GetOnlineFeatures.

    An entity-less view needs none: ``read_views`` supplies Feast's dummy key.
    """

    def parse(key: str, dtype: Any, _: object) -> list[object]:
        texts = [t.strip() for t in form.get(f"key:{key}", "").splitlines()]
        texts = [t for t in texts if t]
        if not texts:
            raise PageError(400, "Bad request", f"give one or more {key} values")
        if len(texts) > limit:
            raise PageError(400, "Bad request", f"at most {limit} rows at once")
        kind = dtype.to_value_type().value
        if kind in _INTEGER:
            return _integers(key, JoinKeyType(kind), texts)
        if kind == JoinKeyType.STRING:
            return list(texts)
        raise PageError(400, "Bad request", f"{key}: key type not supported")

    columns = key_columns(wanted, parse)
    if len({len(v) for v in columns.values()}) > 1:
        raise PageError(400, "Bad request", "give as many values for every key")
    return columns


def _age(moment: datetime | None, ttl: timedelta | None, now: datetime) -> str:
    if moment is None:
        return "-"
    age = now - moment
    hours = age.total_seconds() / 3600
    text = f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"
    if ttl:
        text += f" of {ttl.total_seconds() / 3600:g} h TTL"
    return text


def _results(
    console: Console, wanted: list[Any], keys: dict[str, list[object]]
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    # Only entity-less views: no key names a row, and there is one to show.
    rows = len(next(iter(keys.values()))) if keys else 1
    # An OnlineStoreError answers as the gRPC server's code for its reason
    # (create_app): a key of the wrong type 400, no online table 404, an
    # outage 503.
    results = read_views(console.reader, console.project, wanted, keys, now, rows=rows)
    out = []
    for i in range(rows):
        entity = {k: v[i] for k, v in keys.items()}
        views = []
        for request, result in zip(wanted, results, strict=True):
            values = [
                (
                    name,
                    None if value is None else feast_value_type_to_python_type(value),
                    status.name,
                )
                for name, value, status in zip(
                    result.features, result.values[i], result.statuses[i], strict=True
                )
            ]
            moment = result.event_times[i]
            views.append(
                {
                    "view": request.name,
                    "values": values,
                    "event_time": moment,
                    "age": _age(moment, request.online.ttl, now),
                }
            )
        out.append({"entity": entity, "views": views})
    return out


def _render(
    console: Console,
    request: Request,
    form: dict[str, str],
    results: list[dict[str, Any]] | None,
) -> Response:
    with console.gate.admit(console.session(request), CATALOGUE):
        views, services, keys, unserved = _targets(console)
    return console.render(
        request,
        "lookup.html",
        views=views,
        services=services,
        unserved=unserved,
        keys=keys,
        form=form,
        results=results,
    )


@router.get("/lookup")
def lookup_form(request: Request) -> Response:
    """The lookup form: a feature service or view, and entity keys."""
    return _render(console_of(request), request, {}, None)


@router.post("/lookup")
async def lookup(request: Request) -> Response:
    """Read the online store for the keys given, as GetOnlineFeatures does."""
    console = console_of(request)
    if console.gate.auth_on and console.session(request) is None:
        # An expired session: sign in again, not "wrong CSRF token" (the
        # form's token was the session's).
        raise SignInRequired()
    form = await checked_form(console, request)
    kind, _, name = form.get("target", "").partition(":")
    if kind not in ("service", "view") or not name:
        raise PageError(400, "Bad request", "choose a feature service or view")
    if kind == "service":
        selection = SimpleNamespace(features=[], feature_service=name)
    else:
        selection = SimpleNamespace(
            features=_view_refs(console, name), feature_service=""
        )
    with console.gate.admit(console.session(request), ONLINE, selection):
        wanted = console.catalog.resolve(selection.features, selection.feature_service)
    keys = _parse_keys(wanted, form, console.settings.max_online_entity_rows)
    return _render(console, request, form, _results(console, wanted, keys))
