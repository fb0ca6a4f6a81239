"""Declarations for online reads: the view request, statuses and results."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feast import FeatureView
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto


class FeatureStatus(enum.IntEnum):
    """Status of one feature value; numbers equal Feast's ``FieldStatus``."""

    PRESENT = 1
    NOT_FOUND = 3
    OUTSIDE_MAX_AGE = 4


class JoinKeyType(enum.IntEnum):
    """Entity key value types Feast can serialise; numbers equal ``ValueType``."""

    BYTES = 1
    STRING = 2
    INT32 = 3
    INT64 = 4
    UNIX_TIMESTAMP = 8


@dataclass(frozen=True, slots=True)
class ViewRequest:
    """What to read from one feature view.

    Attributes:
        name: Feature view name (the online table is ``<project>_<name>``).
        join_keys: Join key column names of the view's entities.
        features: Feature names to return, in this order.
        ttl: Maximum age of a value; ``None`` (or zero) means no limit.
        join_key_types: Value type per join key (same order as ``join_keys``);
            ``None`` infers from the Python values (``int`` is INT64).
    """

    name: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    ttl: timedelta | None = None
    join_key_types: tuple[JoinKeyType, ...] | None = field(default=None)

    @classmethod
    def from_feature_view(
        cls, view: FeatureView, features: tuple[str, ...] | None = None
    ) -> ViewRequest:
        """Build a request from a Feast ``FeatureView``.

        Args:
            view: The Feast feature view.
            features: Feature names to read; all of the view's features if None.

        Returns:
            The request, with the view's join key types and TTL.
        """
        columns = list(view.entity_columns)
        ttl = view.ttl if view.ttl else None
        return cls(
            name=view.name,
            join_keys=tuple(c.name for c in columns),
            features=features or tuple(f.name for f in view.features),
            ttl=ttl,
            join_key_types=tuple(
                JoinKeyType(c.dtype.to_value_type().value) for c in columns
            ),
        )


@dataclass(slots=True)
class ViewResult:
    """Values of one feature view for every entity row, row-major.

    Attributes:
        view: Feature view name.
        features: Feature names; the column order of ``values``/``statuses``.
        event_times: Per entity row, the event time of the stored row (UTC),
            or None when nothing is stored for that entity.
        values: Per entity row, per feature: the stored ``ValueProto`` or None
            when NOT_FOUND. OUTSIDE_MAX_AGE values are returned too.
        statuses: Per entity row, per feature: the status.
    """

    view: str
    features: tuple[str, ...]
    event_times: list[datetime | None]
    values: list[list[ValueProto | None]]
    statuses: list[list[FeatureStatus]]
