"""Turn raw per-key store rows into a ``ViewResult`` with statuses (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from services.online.model import FeatureStatus, ViewRequest, ViewResult

_PRESENT = FeatureStatus.PRESENT
_NOT_FOUND = FeatureStatus.NOT_FOUND
_STALE = FeatureStatus.OUTSIDE_MAX_AGE
_parse = ValueProto.FromString

# Per stored entity: its event time and one serialised value (or None) per
# requested feature, in request order.
StoredRow = tuple[datetime, Sequence[bytes | None]]


def cutoff_for(ttl: timedelta | None, now: datetime) -> datetime | None:
    """Return the oldest event time still fresh, or None when there is no TTL."""
    if not ttl:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now - ttl


def assemble(
    view: ViewRequest,
    keys: Sequence[bytes],
    stored: Mapping[bytes, StoredRow],
    now: datetime,
) -> ViewResult:
    """Build the result of one view from the rows read for its unique keys.

    Args:
        view: The view request.
        keys: Serialised entity key per entity row (duplicates allowed).
        stored: Unique key to stored row; absent keys are NOT_FOUND.
        now: Reference time for the TTL check.

    Returns:
        The view result, row-major.
    """
    cutoff = cutoff_for(view.ttl, now)
    nf = len(view.features)
    missing_values: list[ValueProto | None] = [None] * nf
    missing_statuses = [_NOT_FOUND] * nf
    cache: dict[
        bytes, tuple[datetime | None, list[ValueProto | None], list[FeatureStatus]]
    ] = {}
    times: list[datetime | None] = []
    values: list[list[ValueProto | None]] = []
    statuses: list[list[FeatureStatus]] = []
    for key in keys:
        hit = cache.get(key)
        if hit is None:
            row = stored.get(key)
            if row is None:
                hit = (None, missing_values, missing_statuses)
            else:
                ts, raw = row
                ok = _STALE if cutoff is not None and ts < cutoff else _PRESENT
                hit = (
                    ts,
                    [None if b is None else _parse(b) for b in raw],
                    [_NOT_FOUND if b is None else ok for b in raw],
                )
            cache[key] = hit
        times.append(hit[0])
        # Copies so callers may mutate rows without aliasing duplicates.
        values.append(list(hit[1]))
        statuses.append(list(hit[2]))
    return ViewResult(view.name, view.features, times, values, statuses)
