"""Training-set requests outside Feast's API, with a manifest that replays them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurestore.services.offline._views import project_of, read_view, source_names
from featurestore.services.offline.cancellation import Cancellation
from featurestore.services.offline.errors import VersionNotFoundError
from featurestore.services.offline.join import (
    JoinedRows,
    ViewInput,
    point_in_time_join,
    point_in_time_rows,
)
from featurestore.services.offline.refs import resolve_views, unregistered_view_error
from featurestore.services.offline.snapshot import (
    Snapshot,
    commit_of,
    commit_time,
    read_snapshot,
)
from featurestore.services.offline.store import entity_timestamp_column
from featurestore.services.project import TABLE_SCHEME
from featurestore.services.project.registry import feature_views
from featurestore.services.storage import scheme

if TYPE_CHECKING:
    import pyarrow as pa
    from feast import FeatureStore
    from feast.feature_view import FeatureView

    from featurestore.services.project import Project
    from featurestore.services.storage import StorageOptions

__all__ = [
    "HistoricalRequest",
    "HistoricalResult",
    "Manifest",
    "TableRead",
    "get_historical_features",
    "replay",
]


@dataclass(frozen=True)
class HistoricalRequest:
    """What to join: entity rows, features and the snapshots to read.

    Attributes:
        entity: Entity rows with join keys and a tz-aware timestamp.
        features: Feature refs (``view:feature``) or one feature service name.
        pins: Per view, a Delta version or a tz-aware instant to read at;
            views not listed read their current snapshot.
        as_known_at: Only count feature rows created at or before each row.
        full_feature_names: Name outputs ``view__feature``.
        timestamp_column: Entity timestamp column; default ``event_timestamp``
            or the only timestamp column.
    """

    entity: pa.Table
    features: Sequence[str] | str
    pins: Mapping[str, int | datetime] = field(default_factory=dict)
    as_known_at: bool = False
    full_feature_names: bool = False
    timestamp_column: str | None = None


@dataclass(frozen=True)
class TableRead:
    """One Delta read: where, which version, and how it was joined."""

    view: str
    path: str
    version: int
    contract: str | None
    columns: list[str]
    """Source columns read, before ``rename``."""
    rename: dict[str, str]
    """Source column -> feature name (Feast field mapping)."""
    join_keys: list[str]
    entity_key_map: dict[str, str]
    event_timestamp_column: str
    created_timestamp_column: str | None
    ttl_microseconds: int | None
    features: list[str]
    output_names: list[str]
    tiebreak_columns: list[str]
    table: str | None = None
    """The source's table reference (``featurestore://<name>``), or None for a
    plain path (and in manifests written before it was recorded): a replay
    with a project reads the reference in that project's data root."""
    committed_at: int | None = None
    """When ``version`` was committed (the Delta log's commitInfo timestamp,
    ms): a replay reads only a table whose ``version`` has it, so it never
    joins another table that happens to have as many versions."""


@dataclass(frozen=True)
class Manifest:
    """Everything needed to rebuild a training set from the same snapshots."""

    project: str
    feature_refs: list[str]
    feature_service: str | None
    timestamp_column: str
    as_known_at: bool
    full_feature_names: bool
    entity_rows: int
    created_at: str
    tables: list[TableRead]

    def to_json(self) -> str:
        """Serialise to a JSON document with sorted keys."""
        return json.dumps(asdict(self), sort_keys=True, indent=2)

    def without_locations(self) -> Manifest:
        """The manifest as the service answers it: each table named by its
        view and Delta version, its location (a server folder, a bucket and
        prefix) left out, so a caller learns nothing of where tables live.

        Replayed by the service with the versions as pins; the manifest
        written beside a training set keeps the locations, for ``replay``.
        """
        return replace(self, tables=[replace(t, path="") for t in self.tables])

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a document written by ``to_json`` (field types unchecked).

        Raises:
            ValueError: not JSON, or not a manifest; the message says what
                is wrong in the document's terms (a missing or unknown
                field, ``tables[1]`` not an object), never Python's.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        except RecursionError:
            raise ValueError("not a manifest: nested too deeply") from None
        _check_fields(cls, data, "the manifest")
        tables = data["tables"]
        if not isinstance(tables, list):
            raise ValueError("not a manifest: tables is not a list")
        for i, table in enumerate(tables):
            _check_fields(TableRead, table, f"tables[{i}]")
        return cls(**{**data, "tables": [TableRead(**t) for t in tables]})


def _check_fields(kind: type, data: object, where: str) -> None:
    """Refuse ``data`` unless it is an object with exactly ``kind``'s fields."""
    if not isinstance(data, dict):
        raise ValueError(f"not a manifest: {where} is not a JSON object")
    names = {f.name for f in fields(kind)}
    required = {f.name for f in fields(kind) if f.default is MISSING}
    if missing := sorted(required - data.keys()):
        raise ValueError(f"not a manifest: {where} lacks {', '.join(missing)}")
    if unknown := sorted(str(k) for k in data.keys() - names):
        raise ValueError(
            f"not a manifest: {where} has unknown fields {', '.join(unknown)}"
        )


@dataclass(frozen=True)
class HistoricalResult:
    """The joined rows and the manifest that reproduces them."""

    rows: JoinedRows
    """The join, assembled batch by batch (``rows.batches``) on demand."""
    manifest: Manifest

    @property
    def table(self) -> pa.Table:
        """The whole training set as one table (materialised on each call)."""
        return self.rows.to_table()


def get_historical_features(
    store: FeatureStore,
    request: HistoricalRequest,
    cancellation: Cancellation | None = None,
) -> HistoricalResult:
    """Join the requested features onto the entity rows and record the reads.

    ``cancellation`` (default: never) stops the work before each table read
    and each view's join, and interrupts a running join query.

    Raises:
        RequestCancelledError: ``cancellation`` was cancelled before the end.
        FeatureViewNotFoundError: A ref or pin names an unknown view.
        OnDemandViewError: A ref or pin names an on-demand view (not served).
        FeatureNotFoundError: A ref names a feature its view does not define.
        InvalidRequestError: A ref is malformed.
        VersionNotFoundError: A pin names no existing snapshot.
    """
    service = request.features if isinstance(request.features, str) else None
    refs, views = resolve_views(store, request.features)
    # A pin of a registered view the request does not read changes nothing (a
    # manifest replayed for some of its features); an unregistered one is a
    # mistake, refused as a reference to it is. Pins name registered views (an
    # aliased projection reads its view under the view's pin).
    unread = set(request.pins) - {fv.name for fv, _ in views.values()}
    if unread:
        registered = {fv.name for fv in feature_views(store)}
        if unread - registered:
            raise unregistered_view_error(store, sorted(unread - registered)[0])
    ts_column = request.timestamp_column or entity_timestamp_column(request.entity)
    storage = project_of(store.repo_path).storage_options
    cancel = cancellation or Cancellation()
    reads = []
    for fv, features in views.values():
        cancel.raise_if_cancelled()
        reads.append(
            read_view(
                fv,
                features,
                repo_path=store.repo_path,
                full_feature_names=request.full_feature_names,
                pin=request.pins.get(fv.name),
            )
        )
    rows = point_in_time_rows(
        request.entity,
        ts_column,
        [r.view for r in reads],
        as_known_at=request.as_known_at,
        cancellation=cancel,
    )
    manifest = Manifest(
        project=store.project,
        feature_refs=refs,
        feature_service=service,
        timestamp_column=ts_column,
        as_known_at=request.as_known_at,
        full_feature_names=request.full_feature_names,
        entity_rows=request.entity.num_rows,
        created_at=datetime.now(UTC).isoformat(),
        tables=[
            _table_read(fv, r.view, r.snapshot, storage)
            for (fv, _), r in zip(views.values(), reads, strict=True)
        ],
    )
    return HistoricalResult(rows=rows, manifest=manifest)


def replay(
    manifest: Manifest,
    entity: pa.Table,
    storage: StorageOptions | None = None,
    project: Project | None = None,
) -> pa.Table:
    """Rebuild a training set from the exact Delta versions in ``manifest``.

    Needs no Feast registry: the join description is in the manifest, so
    later edits to feature views do not change a replay. ``storage`` holds the
    object-store options for tables on object storage (the project's).
    ``project``: read each table the manifest names by reference in this
    project's data root (a moved or copied project) instead of where it was.

    Raises:
        TableNotFoundError: no Delta table where a table is read.
        VersionNotFoundError: the table lacks the pinned version, or its
            version was committed at another time (another table).
    """
    views = []
    for t in manifest.tables:
        path = replay_location(t, project)
        snap = read_snapshot(
            path, version=t.version, columns=t.columns, storage=storage
        )
        _check_commit(t, path, storage)
        table = snap.table.rename_columns(
            [t.rename.get(c, c) for c in snap.table.column_names]
        )
        ttl = (
            None
            if t.ttl_microseconds is None
            else timedelta(microseconds=t.ttl_microseconds)
        )
        views.append(
            ViewInput(
                name=t.view,
                table=table,
                join_keys=t.join_keys,
                entity_key_map=t.entity_key_map,
                event_timestamp_column=t.event_timestamp_column,
                created_timestamp_column=t.created_timestamp_column,
                ttl=ttl,
                features=t.features,
                output_names=t.output_names,
                tiebreak_columns=t.tiebreak_columns,
            )
        )
    return point_in_time_join(
        entity, manifest.timestamp_column, views, as_known_at=manifest.as_known_at
    )


def replay_location(read: TableRead, project: Project | None) -> str:
    """Where a replay reads ``read``: its reference in ``project``'s data root,
    else the location recorded when the training set was built."""
    if project is None or read.table is None:
        return read.path
    return project.resolve_source(read.table)


def _check_commit(read: TableRead, path: str, storage: StorageOptions | None) -> None:
    if read.committed_at is None:  # a manifest written before it was recorded
        return
    committed = commit_time(path, read.version, storage)
    if committed != read.committed_at:
        when = datetime.fromtimestamp(read.committed_at / 1000, UTC).isoformat()
        raise VersionNotFoundError(
            path,
            f"version {read.version} as committed at {when}: its version "
            f"{read.version} is another commit (not the table the training set "
            "read)",
        )


def _table_read(
    fv: FeatureView, view: ViewInput, snapshot: Snapshot, storage: StorageOptions
) -> TableRead:
    source = fv.batch_source
    mapping = dict(source.field_mapping or {}) if source else {}
    inverse = source_names(source) if source else {}
    feature_cols = [view.feature_key(k) for k in view.join_keys]
    feature_cols += [*(view.tiebreak_columns or []), *view.features]
    feature_cols.append(view.event_timestamp_column)
    if view.created_timestamp_column:
        feature_cols.append(view.created_timestamp_column)
    ttl = view.ttl // timedelta(microseconds=1) if view.ttl else None
    path, version = snapshot.path, snapshot.version
    reference = getattr(source, "path", None)
    metadata, committed_at = commit_of(path, version, storage)
    return TableRead(
        table=reference if reference and scheme(reference) == TABLE_SCHEME else None,
        committed_at=committed_at,
        view=view.name,
        path=path,
        version=version,
        contract=_contract(metadata),
        columns=list(dict.fromkeys(inverse.get(c, c) for c in feature_cols)),
        rename=mapping,
        join_keys=list(view.join_keys),
        entity_key_map=dict(view.entity_key_map),
        event_timestamp_column=view.event_timestamp_column,
        created_timestamp_column=view.created_timestamp_column,
        ttl_microseconds=ttl,
        features=list(view.features),
        output_names=list(view.output_names or view.features),
        tiebreak_columns=list(view.tiebreak_columns or view.features),
    )


def _contract(metadata: Mapping[str, Any]) -> str | None:
    """``name@version`` from commit metadata written by spark_jobs.publish."""
    if metadata.get("contract"):
        return str(metadata["contract"])
    name, version = metadata.get("contract_name"), metadata.get("contract_version")
    return f"{name}@{version}" if name and version else None
