"""Errors raised by the offline store; each carries a stable reason and metadata."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from featurestore.services.storage import unreadable_because


class Reason(enum.StrEnum):
    """Stable, machine-readable reasons for offline-store failures."""

    TABLE_NOT_FOUND = "TABLE_NOT_FOUND"
    VERSION_NOT_FOUND = "VERSION_NOT_FOUND"
    ENTITY_COLUMN_MISSING = "ENTITY_COLUMN_MISSING"
    FEATURE_COLUMN_MISSING = "FEATURE_COLUMN_MISSING"
    FEATURE_COLUMN_TYPE_MISMATCH = "FEATURE_COLUMN_TYPE_MISMATCH"
    INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
    TIMESTAMP_OUT_OF_RANGE = "TIMESTAMP_OUT_OF_RANGE"
    NAIVE_TIMESTAMP = "NAIVE_TIMESTAMP"
    INVALID_REQUEST = "INVALID_REQUEST"
    UNSUPPORTED_SOURCE = "UNSUPPORTED_SOURCE"
    FEATURE_VIEW_NOT_FOUND = "FEATURE_VIEW_NOT_FOUND"
    ON_DEMAND_VIEW_NOT_SERVED = "ON_DEMAND_VIEW_NOT_SERVED"
    FEATURE_NOT_FOUND = "FEATURE_NOT_FOUND"
    FEATURE_SERVICE_NOT_FOUND = "FEATURE_SERVICE_NOT_FOUND"
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    CANCELLED = "CANCELLED"


class OfflineStoreError(Exception):
    """Base class: an offline-store failure a caller can act on.

    Attributes:
        reason: Stable UPPER_SNAKE reason, safe to branch on.
        metadata: The dynamic values quoted in the message.
    """

    location = ""
    """Where the table lives when the message names its feature view instead:
    for the operator's own tools (the CLI prints it), never sent to a remote
    caller (the server answers with the message and metadata only)."""

    def __init__(self, reason: Reason, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.reason = reason
        # An empty value says nothing (ErrorInfo's view: "" for no view).
        self.metadata: dict[str, str] = {k: v for k, v in metadata.items() if v}


class RequestCancelledError(OfflineStoreError):
    """Whoever asked stopped waiting (a cancelled call, a passed deadline), so
    the work stopped before its end; nothing was written."""

    def __init__(self) -> None:
        super().__init__(
            Reason.CANCELLED, "the request was cancelled before its work ended"
        )


class TableNotFoundError(OfflineStoreError, LookupError):
    """No Delta table exists at the given path (``view``'s table, if given)."""

    def __init__(self, path: str, view: str = "") -> None:
        where = f"for feature view {view!r}" if view else f"at {path}"
        super().__init__(
            Reason.TABLE_NOT_FOUND, f"no Delta table {where}", **_where(path, view)
        )
        self.location = path if view else ""


class VersionNotFoundError(OfflineStoreError, LookupError):
    """The pinned Delta version or timestamp does not exist (or was vacuumed).

    ``vacuumed``: the version is in the log but VACUUM removed its data files,
    so no retry reads it; the message says to pin a version still kept.
    """

    def __init__(
        self, path: str, pin: str, view: str = "", *, vacuumed: bool = False
    ) -> None:
        message = f"{_delta_table(path, view)} has no snapshot for {pin}"
        if vacuumed:
            message += (
                ": its data files were removed by VACUUM; pin a version the "
                "table still keeps (a later one)"
            )
        super().__init__(
            Reason.VERSION_NOT_FOUND, message, pin=pin, **_where(path, view)
        )
        self.location = path if view else ""
        self.vacuumed = vacuumed


def _where(path: str, view: str) -> dict[str, str]:
    """Metadata naming a table: by its feature view when it has one, which a
    caller may know (the location stays on the server), else its location."""
    return {"view": view} if view else {"path": path}


def _delta_table(path: str, view: str) -> str:
    if view:
        return f"the Delta table of feature view {view!r}"
    return f"Delta table {path}"


class EntityColumnMissingError(OfflineStoreError, ValueError):
    """The entity table lacks a join key or its timestamp column."""

    def __init__(
        self, column: str, view: str = "", *, candidates: tuple[str, ...] = ()
    ) -> None:
        message = f"entity table has no column {column!r} (needed by {view or 'join'})"
        if candidates:  # no default timestamp, several the rows could be taken by
            message = (
                f"entity table has no column {column!r} and {len(candidates)} "
                f"timestamp columns ({', '.join(map(repr, candidates))}): name the "
                "one that is each row's time (the request's timestamp_column; "
                "featurestore training-set --timestamp-column)"
            )
        super().__init__(
            Reason.ENTITY_COLUMN_MISSING,
            message,
            column=column,
            view=view,
            **({"candidates": ",".join(candidates)} if candidates else {}),
        )


class FeatureColumnMissingError(OfflineStoreError, ValueError):
    """A feature table lacks a key, timestamp or feature column.

    Raised by the join for a table handed to it, and by every read of a Delta
    table (``path``) for a column the feature view names that the table does
    not have: a typo in the view, or a column the table lost. ``role`` says
    which of the source's settings names it (``created_timestamp_column``).
    ``version``: a pinned version read lacks a feature its table's current
    version has (added since), so the fix is the pin or the request.
    """

    def __init__(
        self,
        column: str,
        view: str = "",
        *,
        path: str = "",
        role: str = "",
        version: int | None = None,
    ) -> None:
        if not path:
            message = f"feature table of view {view!r} has no column {column!r}"
        elif version is not None:  # a pinned older version: published since
            message = (
                f"version {version} of the {_feature_table(path, view)} has no "
                f"column {column!r}; it was added in a later version: pin a later "
                "version or drop the feature from the request"
            )
        else:
            named = f" (the source's {role})" if role else ""
            message = (
                f"{_feature_table(path, view)} has no column {column!r}{named}; "
                f"{_FIX} or publish the column"
            )
        super().__init__(
            Reason.FEATURE_COLUMN_MISSING,
            message,
            column=column,
            view=view,
            path="" if view else path,
            role=role,
            version="" if version is None else str(version),
        )
        self.location = path if view else ""
        self.version = version


class FeatureColumnTypeError(OfflineStoreError, TypeError):
    """A Delta feature table's column has a type its role in the view cannot
    take: an event or created timestamp that is no timestamp, a join key not
    of its entity's value type, a feature not of its declared type.

    The table is the server's data, not the request's: ``found`` is the
    table's Arrow type, ``expected`` what the role needs (``timestamp``, or
    the value type such as ``INT64``); ``role`` is the source setting naming
    the column (``timestamp_field``), ``join_key`` or ``feature``.

    A column of an accepted type may still hold values the value type cannot
    (an int64 beyond INT32's range): ``values`` then says which, completing
    "column ... is <found> ...", ``fix`` what to do, and ``detail`` adds the
    values quoted to the metadata.
    """

    def __init__(
        self,
        column: str,
        found: str,
        expected: str,
        *,
        path: str,
        view: str = "",
        role: str = "",
        values: str = "",
        fix: str = "",
        detail: Mapping[str, str] | None = None,
    ) -> None:
        named = {
            "": "",
            "join_key": f" (a join key, value type {expected})",
            "feature": f" (a feature, value type {expected})",
        }.get(role, f" (the source's {role})")
        wanted = _WANTED.get(expected, expected)
        problem = f"{found} {values}" if values else f"{found}, expected {wanted}"
        fix = fix or f"{_FIX} or republish the column as {wanted}"
        super().__init__(
            Reason.FEATURE_COLUMN_TYPE_MISMATCH,
            f"{_feature_table(path, view)}: column {column!r}{named} is {problem}; "
            f"{fix}",
            column=column,
            type=found,
            expected=expected,
            **_where(path, view),
            **{k: v for k, v in {"role": role}.items() if v},
            **(detail or {}),
        )
        self.location = path if view else ""


_FIX = "fix the feature view's definition (then feast apply)"
_WANTED = {
    "timestamp": "a timestamp",
    "INT32": "an integer",
    "INT64": "an integer",
    "STRING": "a string",
    "BYTES": "binary",
    "UNIX_TIMESTAMP": "a timestamp",
    "FLOAT": "a number",
    "DOUBLE": "a number",
    "BOOL": "a boolean",
}
"""What a column must hold: a timestamp, or a join key or feature of each value type."""


def _feature_table(path: str, view: str) -> str:
    return f"feature table of view {view!r}" if view else f"feature table {path}"


class InvalidTimestampError(OfflineStoreError, ValueError):
    """A timestamp column or value has an unusable type."""

    def __init__(self, column: str, type_name: str) -> None:
        super().__init__(
            Reason.INVALID_TIMESTAMP,
            f"column {column!r} has type {type_name}, expected a timestamp",
            column=column,
            type=type_name,
        )


class TimestampOutOfRangeError(InvalidTimestampError):
    """A timestamp lies outside what the join represents (int64 nanoseconds)."""

    MIN = "1677-09-21T00:12:43.145224192Z"
    MAX = "2262-04-11T23:47:16.854775807Z"

    def __init__(self, column: str) -> None:
        OfflineStoreError.__init__(
            self,
            Reason.TIMESTAMP_OUT_OF_RANGE,
            f"timestamp column {column!r} has a value outside {self.MIN}..{self.MAX}",
            column=column,
            min=self.MIN,
            max=self.MAX,
        )


class NaiveTimestampError(InvalidTimestampError):
    """An entity timestamp has no time zone, so its instant is ambiguous."""

    def __init__(self, column: str) -> None:
        OfflineStoreError.__init__(
            self,
            Reason.NAIVE_TIMESTAMP,
            f"timestamp {column!r} is naive; give it a time zone (e.g. UTC)",
            column=column,
        )


class InvalidRequestError(OfflineStoreError, ValueError):
    """A request is malformed (bad feature reference, pin, entity source, ...)."""

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(Reason.INVALID_REQUEST, message, **metadata)


class UnsupportedSourceError(OfflineStoreError, TypeError):
    """A Feast data source this store cannot read (only Delta FileSources)."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(
            Reason.UNSUPPORTED_SOURCE,
            f"data source {source!r} is not supported: {detail}",
            source=source,
            detail=detail,
        )


class FeatureViewNotFoundError(OfflineStoreError, LookupError):
    """A requested feature view is not in the Feast registry."""

    def __init__(self, view: str) -> None:
        super().__init__(
            Reason.FEATURE_VIEW_NOT_FOUND,
            f"feature view {view!r} is not registered",
            view=view,
        )


class OnDemandViewError(OfflineStoreError):
    """A requested view is an on-demand feature view: the registry holds it,
    but its features are computed by Feast's SDK at request time and neither
    stored nor served here (FAILED_PRECONDITION on the server)."""

    def __init__(self, view: str) -> None:
        super().__init__(
            Reason.ON_DEMAND_VIEW_NOT_SERVED,
            f"feature view {view!r} is an on-demand feature view, which this "
            "service does not serve: compute it with Feast's SDK "
            "(FeatureStore.get_online_features / get_historical_features) or "
            "`feast serve`, or request the feature views it reads",
            view=view,
        )


class FeatureNotFoundError(OfflineStoreError, LookupError):
    """A reference names a feature its view does not define (a column of the
    table that is no feature, such as a timestamp or join key, included)."""

    def __init__(self, view: str, feature: str, known: list[str]) -> None:
        super().__init__(
            Reason.FEATURE_NOT_FOUND,
            f"unknown feature {view}:{feature!s} (view {view!r} has: "
            f"{', '.join(known) or 'no features'})",
            view=view,
            feature=feature,
        )


class FeatureServiceNotFoundError(OfflineStoreError, LookupError):
    """A requested feature service is not in the Feast registry."""

    def __init__(self, service: str, known: list[str]) -> None:
        super().__init__(
            Reason.FEATURE_SERVICE_NOT_FOUND,
            f"unknown feature service {service!r} "
            f"(known: {', '.join(known) or 'none'})",
            service=service,
        )


class StorageUnavailableError(OfflineStoreError, ConnectionError):
    """The object store holding a table did not answer (or refused the request).

    The message names ``view`` when given (a feature view's table), else the
    table location: never the storage options, which may hold credentials.
    """

    def __init__(self, path: str, view: str = "") -> None:
        super().__init__(
            Reason.STORAGE_UNAVAILABLE,
            f"cannot read {_delta_table(path, view) if view else path}: "
            f"{unreadable_because(path)}",
            **_where(path, view),
        )
        self.location = path if view else ""


@contextmanager
def storage_unavailable(path: str) -> Iterator[None]:
    """Turn the object store's ``OSError`` inside the block into
    ``StorageUnavailableError`` for ``path``: the one translation for tables,
    entity rows and training-set outputs.

    delta-rs and pyarrow report an unreachable or refusing object store
    (connection refused, ACCESS_DENIED) as ``OSError``; its text (request
    URLs, the store's answer) stays in the chained cause, out of the message.
    """
    try:
        yield
    except StorageUnavailableError:
        raise
    except OSError as exc:
        raise StorageUnavailableError(path) from exc
