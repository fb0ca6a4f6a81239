"""GetOnlineFeatures: resolve references, check entity rows, read, assemble."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from feast.feature_view import DUMMY_ENTITY_ID, DUMMY_ENTITY_VAL

from featurestore.services.online import (
    FeatureStatus,
    OnlineReader,
    PackedDoubles,
    ViewResult,
    client_key_fields,
)
from featurestore.services.server.catalog import Catalog, ViewRequest
from featurestore.services.server.errors import RequestError, entity_row_count
from featurestore.services.server.values import (
    OURS_DOUBLE_ENTRY,
    all_feast_doubles,
    check_servable,
    key_column,
    length_delimited,
    ours_double_columns,
    ours_packed_columns,
    ours_value_field,
    ours_values_field,
    timestamp_body,
    varint,
)
from featurestore.v1 import feature_store_service_pb2 as pb

# The join keys of an entity-less view: Feast's dummy entity.
_DUMMY_KEYS = (DUMMY_ENTITY_ID,)

_STATUS = {
    FeatureStatus.PRESENT: pb.FEATURE_STATUS_PRESENT,
    FeatureStatus.NOT_FOUND: pb.FEATURE_STATUS_NOT_FOUND,
    FeatureStatus.OUTSIDE_MAX_AGE: pb.FEATURE_STATUS_OUTSIDE_MAX_AGE,
}


def online_features_wire(
    request: pb.GetOnlineFeaturesRequest,
    catalog: Catalog,
    reader: OnlineReader,
    *,
    project: str,
    max_rows: int,
    wanted: Sequence[ViewRequest] | None = None,
) -> bytes:
    """Serve one GetOnlineFeatures request as the serialised response.

    See the proto for the contract. The server sends these bytes as they are:
    building the message only to serialise it again cost ~0.35 ms of a
    100 entity x 50 feature request. ``wanted``: the request's selection
    already resolved (by the guard); resolved here when None.

    Raises:
        RequestError: no entity rows, uneven columns, a missing or mistyped key.
        NotFoundError: unknown view, feature or feature service.
        RequestTooLargeError: more entity rows than the server allows.
        FailedPreconditionError: a requested feature's type is one our Value
            cannot carry (a map, a set): VALUE_TYPE_UNSUPPORTED.
    """
    if wanted is None:
        wanted = catalog.resolve(request.features, request.feature_service)
    for w in wanted:
        _check_servable(w)
    entities = request.entities
    rows = entity_row_count(
        {name: len(entities[name].values) for name in sorted(entities)}, max_rows
    )
    full_names = request.full_feature_names
    check_column_names(request.entities, wanted, full_names)
    entity_rows = key_columns(
        wanted,
        lambda name, dtype, view: key_column(
            name, dtype, _entity(request.entities, name, view)
        ),
    )
    now = datetime.now(UTC)
    results = read_views(reader, project, wanted, entity_rows, now, rows=rows)
    # A protobuf map's order differs between processes: the join keys come in
    # the order the views name them, then any other entity column by name
    # (not Feast's internal dummy key, which Feast's SDK never returns).
    others = set(entities) - entity_rows.keys() - {DUMMY_ENTITY_ID}
    tail = _entity_tail(rows)
    head = [
        _entity_column(name, entities[name].values, tail)
        for name in [*entity_rows, *sorted(others)]
    ]
    # Feature columns are written as wire bytes straight from the stored bytes:
    # repeated fields append, so they follow the key columns.
    return b"".join(head) + b"".join(
        column
        for w, result in zip(wanted, results, strict=True)
        for column in _feature_columns(result, full_names, w.name)
    )


# Selections found servable, by identity: the catalog hands out the same
# ViewRequest until the registry changes. Not an lru_cache: that compares a
# new selection with a stale one of equal hash (after a refresh) by
# FeatureView.__eq__, ~0.1 ms a call.
_SERVABLE_LIMIT = 4096
_servable: dict[int, ViewRequest] = {}


def _check_servable(wanted: ViewRequest) -> None:
    """Refuse a requested feature our Value cannot carry (remembered per selection).

    Raises:
        FailedPreconditionError: VALUE_TYPE_UNSUPPORTED naming the feature.
    """
    if _servable.get(id(wanted)) is wanted:
        return
    fields = {f.name: f for f in wanted.view.features}
    check_servable(wanted.view.name, [fields[name] for name in wanted.features])
    if len(_servable) >= _SERVABLE_LIMIT:
        _servable.clear()
    _servable[id(wanted)] = wanted  # held, so its id is not reused meanwhile


@lru_cache(maxsize=256)
def _entity_tail(rows: int) -> bytes:
    """The statuses (all PRESENT) and event times (the empty Timestamp: an
    entity value has none, as NOT_FOUND has none) closing an entity column."""
    present = bytes((pb.FEATURE_STATUS_PRESENT,)) * rows  # 1-byte varints
    return b"\x1a" + varint(rows) + present + b"\x22\x00" * rows


def _entity_column(name: str, values: Any, tail: bytes) -> bytes:
    """One echoed entity column's ``columns`` entry (field 1)."""
    column = pb.FeatureColumn(name=name)
    column.values.extend(values)
    return length_delimited(b"\x0a", column.SerializeToString() + tail)


def _entity(entities: Any, name: str, wanted: ViewRequest) -> Any:
    """The request's values of entity column ``name``.

    Raises:
        RequestError: JOIN_KEY_MISSING naming the column (and the join key it
            stands for under a feature service's join-key map).
    """
    if name not in entities:
        keys = [c.name for c in wanted.view.entity_columns]
        key = next(k for k in keys if wanted.entity_column(k) == name)
        mapped = f" (its join key {key!r})" if key != name else ""
        raise RequestError(
            "entities",
            f"feature view {wanted.name!r} needs join key {name!r}{mapped}",
            reason="JOIN_KEY_MISSING",
            join_key=name,
        )
    return entities[name].values


def key_columns(
    wanted: Sequence[ViewRequest],
    column_of: Callable[[str, Any, ViewRequest], list[Any]],
) -> dict[str, list[Any]]:
    """The request's entity columns the wanted views read, in view order.

    Each column is taken once, by ``column_of(name, dtype, view)``: the API's
    own parser of that column, which raises when the request lacks it. A
    feature service's join-key map names the column of a join key. An
    entity-less view's key is Feast's internal dummy key, which no client
    sends (``read_views`` supplies it), as Feast's SDK asks for none.
    """
    entity_rows: dict[str, list[Any]] = {}
    for wanted_view in wanted:
        for column in client_key_fields(wanted_view.view):
            name = wanted_view.entity_column(column.name)
            if name not in entity_rows:
                entity_rows[name] = column_of(name, column.dtype, wanted_view)
    return entity_rows


def read_views(
    reader: OnlineReader,
    project: str,
    wanted: Sequence[ViewRequest],
    entity_rows: dict[str, list[object]],
    now: datetime,
    *,
    rows: int | None = None,
) -> list[ViewResult]:
    """Read every wanted view for every entity row, results in ``wanted`` order.

    ``entity_rows`` is keyed by the request's entity columns. A view a feature
    service reads with a join-key map is read with its join keys taken from
    the mapped columns: one store read per distinct map (one in all, without
    maps). An entity-less view is read under Feast's dummy key (``""`` for
    each of ``rows`` entity rows; by default as many as ``entity_rows`` has).
    """
    if any(w.online.join_keys == _DUMMY_KEYS for w in wanted):
        if rows is None:
            rows = len(next(iter(entity_rows.values()), ()))
        entity_rows = {**entity_rows, DUMMY_ENTITY_ID: [DUMMY_ENTITY_VAL] * rows}
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, w in enumerate(wanted):
        groups.setdefault(w.join_key_map, []).append(i)
    if len(groups) == 1 and () in groups:
        return reader.read(project, [w.online for w in wanted], entity_rows, now)
    results: list[ViewResult | None] = [None] * len(wanted)
    for mapping, indices in groups.items():
        mapped = dict(entity_rows)
        for key, column in mapping:
            mapped[key] = entity_rows[column]
        read = reader.read(project, [wanted[i].online for i in indices], mapped, now)
        for i, result in zip(indices, read, strict=True):
            results[i] = result
    return [r for r in results if r is not None]


def check_column_names(
    entities: Iterable[str], wanted: Sequence[ViewRequest], full_names: bool
) -> None:
    """Refuse a response with two columns of one name (a client keying by name
    would read the wrong one), as the historical join refuses it.

    Raises:
        RequestError: DUPLICATE_COLUMN, naming the column.
    """
    seen = set(entities)
    total = len(seen)
    for wanted_view in wanted:
        names = wanted_view.column_names(full_names)
        seen.update(names)
        total += len(names)
    if len(seen) == total:
        return
    seen = set(entities)
    for wanted_view in wanted:
        for name in wanted_view.column_names(full_names):
            if name in seen:
                raise RequestError(
                    "features",
                    f"output column {name!r} appears twice; request full "
                    "feature names or rename",
                    reason="DUPLICATE_COLUMN",
                    column=name,
                )
            seen.add(name)


def _feature_columns(result: ViewResult, full_names: bool, view: str) -> list[bytes]:
    """Serialised ``columns`` entries (field 1) of one view's features; ``view``
    prefixes full feature names (a projection's alias, else the view)."""
    rows = result.raw_values
    n = len(rows)
    nf = len(result.features)
    stamps: dict[datetime | None, bytes] = {}
    for moment in result.event_times:
        if moment not in stamps:
            stamps[moment] = length_delimited(b"\x22", timestamp_body(moment))
    times = b"".join([stamps[moment] for moment in result.event_times])
    codes = [_STATUS[s] for s in result.row_statuses]
    # Statuses then event times close every column; shared unless a gap.
    tail = b"\x1a" + varint(n) + bytes(codes) + times
    if n == 1:
        single = _one_row_of_doubles(result, full_names, tail, view)
        if single is not None:
            return single
    names = _name_fields(view, result.features, full_names)
    values, gaps = _value_columns(rows, nf)
    tails = [tail] * nf
    for i in gaps:
        for j, value in enumerate(rows[i]):  # type: ignore[arg-type]
            if value is None:
                tails[j] = _with_not_found(tails[j], n, i)
    bodies = [
        name + value + end
        for name, value, end in zip(names, values, tails, strict=True)
    ]
    return [b"\x0a" + varint(len(body)) + body for body in bodies]


def _one_row_of_doubles(
    result: ViewResult, full_names: bool, tail: bytes, view: str
) -> list[bytes] | None:
    """The columns of a one-entity read whose every value is a stored double.

    The common inference call. Each column is a cached head (column tag and
    length, name, value tag and length, our double tag) + the 8 value bytes +
    ``tail``: a quarter of the time of framing value by value. None when the
    entity is not stored, lacks a feature, or holds any other kind of value.
    """
    raw = result.raw_values[0]
    if raw is None or None in raw:
        return None
    values = cast("Sequence[bytes]", raw)  # None ruled out just above
    if not all_feast_doubles(b"".join(values), len(values)):
        return None
    heads = _double_heads(view, result.features, full_names, len(tail))
    return [head + v[1:] + tail for head, v in zip(heads, values, strict=True)]


@lru_cache(maxsize=4096)
def _double_heads(
    view: str, features: tuple[str, ...], full_names: bool, tail_size: int
) -> list[bytes]:
    """Per feature, a one-row double column up to its value's 8 payload bytes."""
    entry = OURS_DOUBLE_ENTRY
    return [
        b"\x0a" + varint(len(name) + len(entry) + 8 + tail_size) + name + entry
        for name in _name_fields(view, features, full_names)
    ]


def _value_columns(
    rows: Sequence[Sequence[bytes | None] | None], nf: int
) -> tuple[list[bytes], list[int]]:
    """Each feature's ``values`` entries, and the rows stored with some missing."""
    if isinstance(rows, PackedDoubles):
        return ours_packed_columns(rows.cells, rows.present), []
    # Stored rows lacking some feature: those cells are NOT_FOUND.
    gaps = [i for i, raw in enumerate(rows) if raw is not None and None in raw]
    missing = (None,) * nf
    values: list[bytes] | None = None
    if len(rows) == 1 and not gaps:
        # The common inference call: one entity, values framed one by one.
        raw = rows[0]
        values = [ours_value_field(v) for v in (missing if raw is None else raw)]
    elif not gaps and None not in rows:
        # Every entity stored with every feature: all doubles go in one pass.
        values = ours_double_columns(rows)  # type: ignore[arg-type]
    if values is None:
        filled = [missing if raw is None else raw for raw in rows]
        values = [ours_values_field(column) for column in zip(*filled, strict=True)]
    return values, gaps


def _with_not_found(tail: bytes, n: int, row: int) -> bytes:
    """``tail`` with row ``row``'s status set to NOT_FOUND (codes are 1 byte)."""
    at = 1 + len(varint(n)) + row
    return tail[:at] + bytes((pb.FEATURE_STATUS_NOT_FOUND,)) + tail[at + 1 :]


@lru_cache(maxsize=4096)
def _name_fields(view: str, features: tuple[str, ...], full_names: bool) -> list[bytes]:
    """The ``name`` field (1) of each feature's column."""
    return [
        length_delimited(b"\x0a", (f"{view}__{f}" if full_names else f).encode())
        for f in features
    ]
