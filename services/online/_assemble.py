"""Turn raw per-key store rows into a ``ViewResult`` with statuses (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from featurestore.services.online.model import (
    FeatureStatus,
    PackedDoubles,
    ViewRequest,
    ViewResult,
)

_PRESENT = FeatureStatus.PRESENT
_NOT_FOUND = FeatureStatus.NOT_FOUND
_STALE = FeatureStatus.OUTSIDE_MAX_AGE

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

    Values stay serialised (``ViewResult.raw_values``); nothing is parsed here.

    Args:
        view: The view request.
        keys: Serialised entity key per entity row (duplicates allowed).
        stored: Unique key to stored row; absent keys are NOT_FOUND.
        now: Reference time for the TTL check.

    Returns:
        The view result, row-major.
    """
    times: list[datetime | None] = []
    raws: list[Sequence[bytes | None] | None] = []
    for key in keys:
        row = stored.get(key)
        if row is None:
            times.append(None)
            raws.append(None)
        else:
            times.append(row[0])
            raws.append(row[1])
    return ViewResult(
        view.name, view.features, times, raws, _row_statuses(view, times, now)
    )


def assemble_packed(
    view: ViewRequest,
    times: list[datetime | None],
    packed: PackedDoubles,
    now: datetime,
) -> ViewResult:
    """Build the result of one view read as a block of doubles.

    Args:
        view: The view request.
        times: Per entity row, the stored event time, or None when absent.
        packed: The values, one row per entity row.
        now: Reference time for the TTL check.

    Returns:
        The view result, whose ``raw_values`` is ``packed``.
    """
    return ViewResult(
        view.name, view.features, times, packed, _row_statuses(view, times, now)
    )


def _row_statuses(
    view: ViewRequest, times: Sequence[datetime | None], now: datetime
) -> list[FeatureStatus]:
    """Per entity row: NOT_FOUND when nothing is stored, else by the TTL."""
    cutoff = cutoff_for(view.ttl, now)
    statuses = []
    for ts in times:
        if ts is None:
            statuses.append(_NOT_FOUND)
        elif cutoff is not None and ts < cutoff:
            statuses.append(_STALE)
        else:
            statuses.append(_PRESENT)
    return statuses
