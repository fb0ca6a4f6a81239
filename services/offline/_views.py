"""Turn Feast feature views over Delta FileSources into join inputs."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from feast.data_format import DeltaFormat
from feast.infra.offline_stores.file_source import FileSource
from feast.value_type import ValueType

from featurestore.services.offline.errors import (
    FeatureColumnMissingError,
    FeatureColumnTypeError,
    StorageUnavailableError,
    TableNotFoundError,
    UnsupportedSourceError,
    VersionNotFoundError,
)
from featurestore.services.offline.join import ViewInput
from featurestore.services.offline.snapshot import Snapshot, read_snapshot
from featurestore.services.project import Project

if TYPE_CHECKING:
    from feast.data_source import DataSource
    from feast.feature_view import FeatureView

Pin = int | datetime | None
"""A Delta version, a tz-aware instant, or None for the current snapshot."""


@dataclass(frozen=True)
class ViewRead:
    """One feature view's join input and the snapshot it was read from."""

    view: ViewInput
    snapshot: Snapshot


def project_of(repo_path: Path | str | None) -> Project:
    """The project of a Feast repo path (featurestore.yaml, ``$FS_DATA_DIR``).

    Read on each call, so a running server follows the project's config.
    """
    if repo_path is None:
        return Project.discover()
    return Project.load(Path(repo_path))


def delta_path(source: DataSource, project: Project | Path | str | None) -> str:
    """Return the location of a Delta FileSource, resolved through the project.

    Args:
        source: The feature view's batch source.
        project: The project, or the Feast repo path it is loaded from.

    Raises:
        UnsupportedSourceError: ``source`` is not a FileSource in Delta format.
    """
    if not isinstance(source, FileSource):
        raise UnsupportedSourceError(source.name, f"{type(source).__name__}")
    if not isinstance(source.file_format, DeltaFormat):
        fmt = type(source.file_format).__name__
        raise UnsupportedSourceError(source.name, f"file_format {fmt}")
    if not isinstance(project, Project):
        project = project_of(project)
    return project.resolve_source(source.path)


def read_source(
    source: DataSource,
    repo_path: Path | str | None,
    columns: list[str],
    pin: Pin = None,
    view: str = "",
    optional: Collection[str] = (),
) -> Snapshot:
    """Read ``columns`` (source names, deduplicated) of a Delta FileSource.

    Those also in ``optional`` are read only when the version has them.

    Raises:
        FeatureColumnMissingError: The table lacks a column: the table, the
            column, ``view`` and the source setting naming it are quoted (a
            pinned version lacking a column added since: that version).
        TableNotFoundError, VersionNotFoundError, StorageUnavailableError:
            as ``read_snapshot``, naming ``view`` (when given) instead of the
            table's location.
        FeatureColumnTypeError: The source's event or created timestamp
            column is no timestamp (the type found is quoted too).
    """
    version = pin if isinstance(pin, int) else None
    timestamp = pin if isinstance(pin, datetime) else None
    project = project_of(repo_path)
    path = delta_path(source, project)
    # By the table's column: a field_mapping may rename either timestamp.
    names = source_names(source)
    roles = {
        names.get(field, field): role
        for field, role in (
            (source.timestamp_field, "timestamp_field"),
            (source.created_timestamp_column, "created_timestamp_column"),
        )
    }
    try:
        snap = read_snapshot(
            path,
            version=version,
            timestamp=timestamp,
            columns=list(dict.fromkeys(columns)),
            storage=project.storage_options,
            optional=optional,
        )
    except FeatureColumnMissingError as exc:
        column = exc.metadata["column"]
        role = roles.get(column, "")
        raise FeatureColumnMissingError(
            column, view, path=path, role=role, version=None if role else exc.version
        ) from exc
    # Named by the view, which the caller asked for: the location is the
    # server's (a folder, a bucket and prefix), kept in the cause only.
    except TableNotFoundError as exc:
        raise TableNotFoundError(path, view) from exc
    except VersionNotFoundError as exc:
        pin_read, gone = exc.metadata["pin"], exc.vacuumed
        raise VersionNotFoundError(path, pin_read, view, vacuumed=gone) from exc
    except StorageUnavailableError as exc:
        raise StorageUnavailableError(path, view) from exc
    for column, role in roles.items():
        found = _type_of(snap.table, column)
        if found is not None and not pa.types.is_timestamp(found):
            raise FeatureColumnTypeError(
                column, str(found), "timestamp", path=path, view=view, role=role
            )
    return snap


def source_names(source: DataSource) -> dict[str, str]:
    """Each field the source renames, with its column in the table.

    ``field_mapping`` maps a table column to the field name the view uses
    (a join key, a feature); this is the reverse, as Feast's
    ``_get_column_names`` builds it for its offline store calls.
    """
    return {field: column for column, field in (source.field_mapping or {}).items()}


def read_view(
    fv: FeatureView,
    features: list[str],
    *,
    repo_path: Path | str | None,
    full_feature_names: bool,
    pin: Pin = None,
) -> ViewRead:
    """Read the snapshot behind ``fv`` and describe how to join it.

    Every feature of the view the version has is read (not only ``features``)
    so that rows tied on (keys, event time, created time) are ranked the same
    way whatever subset is requested. One the version lacks (added to the
    table later) is null in every row, so it breaks no tie: it is left out
    unless requested.

    Raises:
        FeatureColumnMissingError: A requested feature (or a key or timestamp)
            is not in the version read; for a pinned version whose table has
            it now, the message names the version and says to pin a later one.
    """
    source = fv.batch_source
    if source is None:
        raise UnsupportedSourceError(fv.name, "feature view has no batch source")
    mapping = dict(source.field_mapping or {})  # source column -> feature name
    inverse = source_names(source)
    keys = [c.name for c in fv.entity_columns]
    all_features = [f.name for f in fv.features]
    event = mapping.get(source.timestamp_field, source.timestamp_field)
    created_src = source.created_timestamp_column or None
    created = mapping.get(created_src, created_src) if created_src else None
    wanted = [*keys, *all_features, event, *([created] if created else [])]
    needed = {*keys, event, created, *features}
    unrequested = [inverse.get(f, f) for f in all_features if f not in needed]
    snap = read_source(
        source, repo_path, [inverse.get(c, c) for c in wanted], pin, fv.name,
        optional=unrequested,
    )  # fmt: skip
    check_column_types(fv, snap.table, snap.path, inverse)
    table = snap.table.rename_columns(
        [mapping.get(c, c) for c in snap.table.column_names]
    )
    join_key_map = dict(fv.projection.join_key_map or {})  # feature col -> entity col
    prefix = str(fv.projection.name_to_use())  # type: ignore[no-untyped-call]
    view = ViewInput(
        name=fv.name,
        table=table,
        join_keys=[join_key_map.get(k, k) for k in keys],
        entity_key_map={join_key_map.get(k, k): k for k in keys},
        event_timestamp_column=event,
        created_timestamp_column=created,
        ttl=fv.ttl,
        features=list(features),
        output_names=[f"{prefix}__{f}" if full_feature_names else f for f in features],
        tiebreak_columns=[f for f in all_features if f in table.column_names],
    )
    return ViewRead(view=view, snapshot=Snapshot(table, snap.version, snap.path))


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_binary(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t))


def _is_number(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    )


_KEY_TYPES: dict[ValueType, Callable[[pa.DataType], bool]] = {
    ValueType.INT32: pa.types.is_integer,
    ValueType.INT64: pa.types.is_integer,
    ValueType.STRING: _is_text,
    ValueType.BYTES: _is_binary,
    ValueType.UNIX_TIMESTAMP: pa.types.is_timestamp,
}
"""Arrow types a join key column may have, per entity value type: the widths
the join compares (any integer, either string width). Whether the values fit
the online store's encoding (an int64 under INT32, a fraction of a second
under UNIX_TIMESTAMP) is materialize's check (``online._fit``)."""

_FEATURE_TYPES: dict[ValueType, Callable[[pa.DataType], bool]] = {
    **_KEY_TYPES,
    ValueType.FLOAT: _is_number,
    ValueType.DOUBLE: _is_number,
    ValueType.BOOL: pa.types.is_boolean,
}
"""Arrow types a feature column may have, per the feature's value type: any
that converts without loss of meaning (an integer to a float, not a float to
an integer, whose fraction the online store would drop). List and other
types are left to Feast's own conversion."""


def _type_of(table: pa.Table, column: str | None) -> pa.DataType | None:
    if not column or column not in table.column_names:
        return None
    return table.schema.field(column).type


def check_column_types(
    fv: FeatureView,
    table: pa.Table,
    path: str,
    source_names: dict[str, str] | None = None,
) -> None:
    """Check that each join key and feature column of ``table`` (read from
    ``path``) has a type its declared value type allows.

    The entity's value type is what clients send and the online store keys
    by, a feature's is what the view promises its readers: a table whose
    column disagrees is the table's fault, not theirs. ``source_names`` maps
    a field to its column in ``table`` when the source renames it; a column
    ``table`` lacks (or holds only nulls) is not checked here.

    Raises:
        FeatureColumnTypeError: A column of another type (found and expected
            types quoted).
    """
    names = source_names or {}
    fields = [
        *((key, _KEY_TYPES, "join_key") for key in fv.entity_columns),
        *((feature, _FEATURE_TYPES, "feature") for feature in fv.features),
    ]
    for field, allowed, role in fields:
        column = names.get(field.name, field.name)
        expected = field.dtype.to_value_type()
        fits = allowed.get(expected)
        found = _type_of(table, column)
        if fits is None or found is None or pa.types.is_null(found):
            continue
        if not fits(found):
            raise FeatureColumnTypeError(
                column, str(found), expected.name, path=path, view=fv.name,
                role=role,
            )  # fmt: skip
