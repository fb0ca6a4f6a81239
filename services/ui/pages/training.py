"""Training sets the service wrote: tables, versions, contracts, replay command.

Found under the server's training-set root (``training_set_root``): Parquet
files whose footer holds the manifest, Delta folders with the manifest file
(both as ``services/offline/training_sets.py`` writes them), and
``*.manifest.json`` files beside sets ``featurestore training-set`` wrote.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import pyarrow as pa
from fastapi import Query, Request, Response

from featurestore.services.offline import Manifest
from featurestore.services.offline.training_sets import (
    stored_manifest,
    training_set_kind,
)
from featurestore.services.server.errors import NotFoundError
from featurestore.services.server.transport import is_unix_socket, split_address
from featurestore.services.ui.access import PROJECT
from featurestore.services.ui.console import Console, PageError
from featurestore.services.ui.pages._router import PageRouter
from featurestore.services.ui.pages.login import console_of
from featurestore.services.ui.params import attachment
from featurestore.services.ui.settings import UiSettings

router = PageRouter()

_MAX_DEPTH = 4
_MAX_ENTRIES = 5_000
_MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class TrainingSet:
    """One training set found and its manifest (None when unreadable)."""

    name: str
    """Path relative to the root."""
    kind: str
    manifest: Manifest | None
    problem: str = ""
    """Why the manifest cannot be read (when ``manifest`` is None)."""


_JSON_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
    list: "an array",
    dict: "an object",
}


def _json_name(kind: object) -> str:
    known = _JSON_NAMES.get(kind) if isinstance(kind, type) else None
    return known or str(getattr(kind, "__name__", kind))


@cache
def _hints(cls: type) -> dict[str, Any]:
    hints: dict[str, Any] = typing.get_type_hints(cls)
    return hints


def _mistyped(value: object, hint: Any, where: str = "") -> str:
    """What in ``value`` is not of type ``hint`` (``Manifest.from_json`` checks
    no type: a hand-edited manifest may hold anything); "" if nothing.

    Covers what a manifest holds: str, int, bool, None, unions, lists, dicts
    and dataclasses. E.g. ``tables[0].path is null, not a string``.
    """
    origin = typing.get_origin(hint) or hint
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if any(not _mistyped(value, h, where) for h in args):
            return ""
        wanted = " or ".join(_json_name(typing.get_origin(h) or h) for h in args)
        return f"{where} is {_json_name(type(value))}, not {wanted}"
    if not isinstance(origin, type):
        return ""
    if not isinstance(value, origin) or (origin is int and isinstance(value, bool)):
        return f"{where} is {_json_name(type(value))}, not {_json_name(origin)}"
    inner: list[tuple[object, Any, str]] = []
    if dataclasses.is_dataclass(origin):
        inner = [
            (getattr(value, name), h, f"{where}.{name}".removeprefix("."))
            for name, h in _hints(origin).items()
        ]
    elif isinstance(value, list) and args:
        inner = [(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    elif isinstance(value, dict) and args:
        inner = [(v, args[1], f"{where}[{k!r}]") for k, v in value.items()]
    return next((w for w in (_mistyped(*i) for i in inner) if w), "")


def _read_manifest(path: Path, kind: str) -> tuple[Manifest | None, str]:
    """The manifest, or None and why it cannot be read ("" if it can)."""
    try:
        text = _manifest_text(path, kind)
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException):
        return None, "the file cannot be read"
    try:
        manifest = Manifest.from_json(text)
    except ValueError as exc:  # says what is wrong: not JSON, a field missing
        return None, str(exc)
    wrong = _mistyped(manifest, Manifest)
    return (manifest, "") if not wrong else (None, wrong)


def _manifest_text(path: Path, kind: str) -> str:
    if kind == "manifest":  # written beside a set by `featurestore training-set`
        return path.read_text(encoding="utf-8")
    return stored_manifest(path, kind)


def _candidates(root: Path) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    seen = 0
    for folder, dirs, files in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        if depth >= _MAX_DEPTH:
            dirs[:] = []
        here = Path(folder)
        for name in sorted(dirs):
            if training_set_kind(here / name) == "delta":
                found.append((here / name, "delta"))
        dirs[:] = [d for d in sorted(dirs) if (here / d, "delta") not in found]
        for name in sorted(files):
            seen += 1
            if name.endswith(_MANIFEST_SUFFIX):
                found.append((here / name, "manifest"))
            elif name.endswith(".parquet") and training_set_kind(here / name):
                found.append((here / name, "parquet"))
        if seen > _MAX_ENTRIES:
            break
    # The CLI writes OUT.manifest.json beside a set that also carries it (a
    # Parquet footer, a Delta folder's manifest file): list that set once.
    sets = {path for path, kind in found if kind != "manifest"}
    return [
        (path, kind)
        for path, kind in found
        if kind != "manifest"
        or path.with_name(path.name.removesuffix(_MANIFEST_SUFFIX)) not in sets
    ]


def training_sets(console: Console) -> tuple[list[TrainingSet], str]:
    """Every training set under the root, newest manifest first; or why none."""
    root = Path(console.settings.training_set_write_root)
    if not root.is_dir():
        return [], f"No training sets yet: the root {root.name}/ does not exist."
    out = []
    for path, kind in _candidates(root):
        manifest, problem = _read_manifest(path, kind)
        name = str(path.relative_to(root))
        out.append(TrainingSet(name, kind, manifest, problem))
    out.sort(key=lambda t: t.manifest.created_at if t.manifest else "", reverse=True)
    return out, "" if out else "No training sets under the root yet."


def _describable(console: Console, found: list[TrainingSet]) -> list[TrainingSet]:
    """Within ``admit``: the sets whose manifest names only feature views the
    caller may DESCRIBE (a manifest lists every view its set read; an unknown
    view is judged as a stand-in, as the lookup page does)."""
    out = []
    for t in found:
        names = {r.view for r in t.manifest.tables} if t.manifest else set()
        views = []
        for name in sorted(names):
            try:
                views.append(console.catalog.view(name))
            except NotFoundError:
                stand_in = console.catalog.stand_in(name)
                if stand_in is not None:
                    views.append(stand_in)
        if len(console.gate.describable(views)) == len(views):
            out.append(t)
    return out


def service_address(settings: UiSettings) -> str:
    """Where a client on the user's side reaches the gRPC service: its
    ``address`` (what ``serve --ui-address`` runs beside; ``FS_ADDRESS`` for
    ``featurestore ui``), a wildcard host (``0.0.0.0``, ``::``) replaced by
    the console's public URL host, else loopback; a Unix socket as it is."""
    if is_unix_socket(settings.address):
        return settings.address
    host, port = split_address(settings.address)
    if host in ("0.0.0.0", "::"):
        public = urlparse(settings.ui_public_url or "").hostname
        host = public or "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def replay_code(name: str, manifest: Manifest, address: str) -> str:
    """Python that rebuilds a training set through the service at ``address``,
    its downloaded manifest's Delta versions as pins: the download names no
    table location (``Manifest.without_locations``, as GetHistoricalFeatures
    answers), so ``featurestore training-set --replay`` reads it only with
    ``--repo`` (tables by reference), which needs the project's files."""
    if manifest.feature_service:
        options = [f"feature_service={manifest.feature_service!r}"]
    else:
        options = [f"features={manifest.feature_refs!r}"]
    options.append(f"timestamp_column={manifest.timestamp_column!r}")
    options += ["as_known_at=True"] if manifest.as_known_at else []
    options += ["full_feature_names=True"] if manifest.full_feature_names else []
    return "\n".join(
        [
            "import json",
            "import pyarrow.parquet as pq",
            "from featurestore.services.client import FeatureStoreClient",
            "",
            f"manifest = json.load(open({manifest_filename(name)!r}))",
            "# The service's address; api_key= or token= when it asks for one.",
            f"with FeatureStoreClient({json.dumps(address)}) as client:",
            "    training = client.get_historical_features(",
            '        pq.read_table("ENTITIES.parquet"),',
            *(f"        {option}," for option in options),
            "        pins=manifest,",
            "    )",
            'pq.write_table(training.table, "replayed.parquet")',
        ]
    )


def manifest_filename(name: str) -> str:
    """The file a downloaded manifest is saved as (``<set>.manifest.json``)."""
    return Path(name).name.removesuffix(_MANIFEST_SUFFIX) + _MANIFEST_SUFFIX


@router.get("/training-sets")
def training_page(request: Request) -> Response:
    """Manifests of the training sets written through the service."""
    console = console_of(request)
    with console.gate.admit(console.session(request), PROJECT):
        found, message = training_sets(console)
        found = _describable(console, found)
    address = service_address(console.settings)
    return console.render(
        request,
        "training.html",
        sets=[
            (t, replay_code(t.name, t.manifest, address) if t.manifest else "")
            for t in found
        ],
        message=message,
    )


@router.get("/training-sets/manifest")
def manifest_download(
    request: Request, name: Annotated[str, Query(max_length=1024)]
) -> Response:
    """One training set's manifest as JSON (only a set the listing shows),
    without the tables' locations, as GetHistoricalFeatures answers it."""
    console = console_of(request)
    with console.gate.admit(console.session(request), PROJECT):
        found, _ = training_sets(console)
        found = _describable(console, found)
    manifest = next((t.manifest for t in found if t.name == name and t.manifest), None)
    if manifest is None:
        raise PageError(404, "Not found", "no such training set under the root")
    filename = manifest_filename(name)
    return Response(
        manifest.without_locations().to_json(),
        media_type="application/json",
        headers=attachment(filename),
    )
