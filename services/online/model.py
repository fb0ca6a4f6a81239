"""Declarations for online reads: the view request, statuses and results."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, overload

import numpy as np
from feast.feature_view import DUMMY_ENTITY_FIELD, DUMMY_ENTITY_ID
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.types import Float64

if TYPE_CHECKING:
    from feast import FeatureView
    from feast.field import Field


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


def key_fields(view: FeatureView) -> list[Field]:
    """The fields Feast keys a view's online rows by.

    An entity-less view (``entities=[]``) is keyed by Feast's dummy entity,
    join key ``__dummy_id`` (STRING) with the value ``""`` for every row. The
    registry gives it that column; ``FeatureStore.list_feature_views`` hides
    it (no entity columns), so both forms come here.
    """
    return list(view.entity_columns) or [DUMMY_ENTITY_FIELD]


def client_key_fields(view: FeatureView) -> list[Field]:
    """The join keys a client gives for ``view``: none for an entity-less
    view, whose dummy key (``key_fields``) is Feast's own, which Feast's SDK
    neither asks for nor shows."""
    return [c for c in view.entity_columns if c.name != DUMMY_ENTITY_ID]


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
        all_double: Every requested feature is declared ``Float64``, so the
            stored values are expected to be 9-byte Feast doubles (readers may
            take a block path for them; they check each value regardless).
    """

    name: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    ttl: timedelta | None = None
    join_key_types: tuple[JoinKeyType, ...] | None = field(default=None)
    all_double: bool = False

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
        columns = key_fields(view)
        ttl = view.ttl if view.ttl else None
        names = features or tuple(f.name for f in view.features)
        dtypes = {f.name: f.dtype for f in view.features}
        return cls(
            name=view.name,
            join_keys=tuple(c.name for c in columns),
            features=names,
            ttl=ttl,
            join_key_types=tuple(
                JoinKeyType(c.dtype.to_value_type().value) for c in columns
            ),
            all_double=all(dtypes.get(name) == Float64 for name in names),
        )


@dataclass(slots=True)
class ViewResult:
    """Values of one feature view for every entity row, row-major.

    The reader keeps the stored bytes (``raw_values``) and parses them into
    ``ValueProto`` only when ``values`` is first read, so servers that copy the
    bytes onto the wire never pay for a parse.

    Attributes:
        view: Feature view name.
        features: Feature names; the column order of ``values``/``statuses``.
        event_times: Per entity row, the event time of the stored row (UTC),
            or None when nothing is stored for that entity.
        raw_values: Per entity row, per feature: the serialised ``ValueProto``
            as stored, or None when NOT_FOUND; the whole row is None when
            nothing is stored for that entity. Rows of duplicate entities may be
            the same (immutable) object. A ``PackedDoubles`` when every stored
            value was read as a block of doubles.
        row_statuses: Per entity row: NOT_FOUND when nothing is stored, else
            PRESENT or OUTSIDE_MAX_AGE for each feature whose raw value is set.
    """

    view: str
    features: tuple[str, ...]
    event_times: list[datetime | None]
    raw_values: Sequence[Sequence[bytes | None] | None]
    row_statuses: list[FeatureStatus]
    _values: list[list[ValueProto | None]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _statuses: list[list[FeatureStatus]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def values(self) -> list[list[ValueProto | None]]:
        """Per entity row, per feature: the stored ``ValueProto`` (parsed once).

        None when NOT_FOUND; OUTSIDE_MAX_AGE values are returned too.
        """
        if self._values is None:
            self._values = _parse_rows(self.raw_values, len(self.features))
        return self._values

    @property
    def statuses(self) -> list[list[FeatureStatus]]:
        """Per entity row, per feature: the status."""
        if self._statuses is None:
            nf = len(self.features)
            self._statuses = [
                [FeatureStatus.NOT_FOUND] * nf
                if raw is None
                else [FeatureStatus.NOT_FOUND if b is None else ok for b in raw]
                for raw, ok in zip(self.raw_values, self.row_statuses, strict=True)
            ]
        return self._statuses


class PackedDoubles(Sequence[Sequence[bytes] | None]):
    """Stored values of one view that are all Feast doubles, as one block.

    Reading a wide request as one block instead of a Python ``bytes`` per
    value saves most of the read (100 entities x 50 features); servers frame
    ``cells`` straight onto the wire. Indexing gives the same rows as
    ``ViewResult.raw_values`` otherwise holds.

    Attributes:
        cells: ``uint8`` array of shape (entity rows, features, 9): each cell
            is a serialised ``ValueProto`` holding ``double_val`` (tag 0x29,
            then 8 bytes little-endian), in request order.
        present: Per entity row, whether anything is stored for it; the cells
            of absent rows are meaningless and the row reads as None.
    """

    __slots__ = ("cells", "present")

    def __init__(self, cells: np.ndarray, present: np.ndarray) -> None:
        self.cells, self.present = cells, present

    def __len__(self) -> int:
        return int(self.cells.shape[0])

    @overload
    def __getitem__(self, index: int) -> Sequence[bytes] | None: ...
    @overload
    def __getitem__(self, index: slice) -> list[Sequence[bytes] | None]: ...
    def __getitem__(
        self, index: int | slice
    ) -> Sequence[bytes] | list[Sequence[bytes] | None] | None:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        if not self.present[index]:
            return None
        row = self.cells[index].tobytes()
        return tuple(row[at : at + 9] for at in range(0, len(row), 9))


def _parse_rows(
    rows: Sequence[Sequence[bytes | None] | None], nf: int
) -> list[list[ValueProto | None]]:
    parse = ValueProto.FromString
    # id -> (the row object, its parse). Keeping the object alive keeps its id
    # from passing to a later row (PackedDoubles makes a new tuple per row).
    parsed: dict[int, tuple[object, list[ValueProto | None]]] = {}
    out: list[list[ValueProto | None]] = []
    for raw in rows:
        if raw is None:
            out.append([None] * nf)
            continue
        # Duplicate entities share a row object: parse it once, copy the list
        # so callers may mutate rows without aliasing.
        entry = parsed.get(id(raw))
        if entry is None:
            entry = parsed[id(raw)] = (
                raw,
                [None if b is None else parse(b) for b in raw],
            )
        out.append(list(entry[1]))
    return out
