"""Online/offline skew: logged served values against the point-in-time offline ones.

Each serving-log row (a sampled entity row of an online read) is joined with
the feature values the offline store gives for the same entity at the read's
time, by the project's one point-in-time join (``services.offline``: the
training-set path, TTL included). A served value counts only when its status
was PRESENT (a value past the view's TTL, or none, is null, as the offline
join makes it); a row mismatches when exactly one side is null or both are set
and differ. A NaN counts as null on either side: the online store holds none
(Feast, and our writers, store a NaN as null), so an offline NaN is served null.
Numbers compare as float64 when the two sides' types differ (a feature that
turned Int64 -> Float64 since it was logged); other differing types are not
comparable, and the report says so for that feature. Lists (Array features)
compare element by element, a NaN element equal to a NaN; an element Feast
changed when storing it (a null stored as NaN, 0 or "") counts as a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.services.monitoring.serving_log import LOG_TIMESTAMP, serving_log_uri
from featurestore.services.offline.errors import storage_unavailable
from featurestore.services.online import FeatureStatus
from featurestore.services.storage import read_delta

if TYPE_CHECKING:
    from collections.abc import Mapping

    from feast import FeatureStore

__all__ = ["FeatureSkew", "NoServingLogError", "feature_skew", "read_serving_log"]


class NoServingLogError(LookupError):
    """The view has no serving log (logging off, or nothing sampled yet)."""

    reason = "SERVING_LOG_NOT_FOUND"

    def __init__(self, view: str, uri: str) -> None:
        super().__init__(
            f"no serving log for view {view!r} at {uri} "
            "(serve with --serving-log, then read some features)"
        )
        self.metadata = {"view": view}


@dataclass(frozen=True)
class FeatureSkew:
    """How often one feature's served values differ from the offline ones."""

    view: str
    feature: str
    rows: int
    """Logged entity rows that asked for the feature."""
    mismatches: int | None
    """Of those, rows whose served value differs from the offline value; None
    when the two sides' types cannot be compared (``note`` says why)."""
    note: str | None = None
    """Why the feature was not compared, else None."""

    @property
    def share(self) -> float | None:
        """mismatches / rows (0 when there are no rows; None: not compared)."""
        if self.mismatches is None:
            return None
        return self.mismatches / self.rows if self.rows else 0.0

    def to_json_obj(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "view": self.view,
            "feature": self.feature,
            "rows": self.rows,
            "mismatches": self.mismatches,
            "mismatch_share": self.share,
            "note": self.note,
        }


def read_serving_log(
    data_dir: str,
    view: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> pa.Table:
    """The serving-log rows of ``view`` logged in [since, until).

    Raises:
        NoServingLogError: There is no log for the view.
        ValueError: ``view`` cannot name a folder.
        StorageUnavailableError: The object store did not answer or refused
            (the offline store's, STORAGE_UNAVAILABLE).
    """
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri = serving_log_uri(data_dir, view)
    with storage_unavailable(uri):
        try:
            table = DeltaTable(uri, storage_options=dict(storage_options or {}))
        except TableNotFoundError as exc:
            raise NoServingLogError(view, uri) from exc
        rows = read_delta(table)
    stamps = rows[LOG_TIMESTAMP]
    if since is not None:
        rows = rows.filter(pc.greater_equal(stamps, pa.scalar(since, stamps.type)))
        stamps = rows[LOG_TIMESTAMP]
    if until is not None:
        rows = rows.filter(pc.less(stamps, pa.scalar(until, stamps.type)))
    return rows


def feature_skew(store: FeatureStore, view: str, log: pa.Table) -> list[FeatureSkew]:
    """Per feature of ``view`` in ``log``: rows compared and mismatches.

    Args:
        store: The Feast repo (its registry and Delta offline store).
        view: Feature view name.
        log: Its serving-log rows (``read_serving_log``).

    Raises:
        FeatureViewNotFoundError: ``view`` is not registered.
        OfflineStoreError: The offline read or join failed.
    """
    from featurestore.services.offline import HistoricalRequest, get_historical_features

    fv = store.get_feature_view(view)
    keys = [c.name for c in fv.entity_columns]
    logged = [
        f.name for f in fv.features if f"{view}__{f.name}__status" in log.column_names
    ]
    asked = {
        name: pc.fill_null(pc.is_valid(log[f"{view}__{name}__status"]), False)
        for name in logged
    }
    logged = [name for name in logged if pc.any(asked[name]).as_py()]
    if not logged:
        return []
    entity = log.select([*keys, LOG_TIMESTAMP])
    request = HistoricalRequest(
        entity=entity,
        features=[f"{view}:{name}" for name in logged],
        full_feature_names=True,
        timestamp_column=LOG_TIMESTAMP,
    )
    offline = get_historical_features(store, request).table
    out = []
    for name in logged:
        column = f"{view}__{name}"
        mask = asked[name]
        served = _usable(log[column], log[f"{column}__status"]).filter(mask)
        expected = offline[column].filter(mask)
        common = _common_type(served.type, expected.type)
        if common is None:
            note = (
                f"not comparable: logged as {served.type}, "
                f"offline values are {expected.type}"
            )
            out.append(FeatureSkew(view, name, len(served), None, note))
            continue
        # Unsafe: an integer beyond 2**53 rounds to the nearest double rather than
        # failing the report (the same value rounds alike on both sides).
        mismatches = _mismatches(
            served.cast(common, safe=False), expected.cast(common, safe=False)
        )
        out.append(FeatureSkew(view, name, len(served), mismatches))
    return out


def _common_type(served: pa.DataType, expected: pa.DataType) -> pa.DataType | None:
    """The type both sides compare in: their own, float64 between numbers (a
    feature that changed Int64 -> Float64 since it was logged; integers beyond
    2**53 round, on both sides alike), large_string between string types; None
    otherwise (a number is no string)."""
    if served == expected:
        return served
    for kinds, common in (
        ((pa.types.is_integer, pa.types.is_floating), pa.float64()),
        ((pa.types.is_string, pa.types.is_large_string), pa.large_string()),
    ):
        if any(k(served) for k in kinds) and any(k(expected) for k in kinds):
            return common
    return None


def _usable(values: pa.ChunkedArray, statuses: pa.ChunkedArray) -> pa.ChunkedArray:
    """The served values a client may use: null unless the status is PRESENT."""
    present = pc.fill_null(pc.equal(statuses, int(FeatureStatus.PRESENT)), False)
    return pc.if_else(present, values, pa.scalar(None, values.type))


def _mismatches(served: pa.ChunkedArray, expected: pa.ChunkedArray) -> int:
    if pa.types.is_nested(served.type):  # Arrow compares no lists: Python does
        pairs = zip(served.to_pylist(), expected.to_pylist(), strict=True)
        return sum(not _same(a, b) for a, b in pairs)
    if pa.types.is_floating(served.type):
        served, expected = _nan_as_null(served), _nan_as_null(expected)
    both_null = pc.and_(pc.is_null(served), pc.is_null(expected))
    same = pc.fill_null(pc.equal(served, expected), False)
    agree = pc.or_(both_null, same)
    return len(served) - int(pc.sum(pc.cast(agree, pa.int64())).as_py() or 0)


def _same(served: Any, expected: Any) -> bool:
    """Equal values, lists element by element, a NaN equal to a NaN."""
    if isinstance(served, list) and isinstance(expected, list):
        pairs = zip(served, expected, strict=False)
        return len(served) == len(expected) and all(_same(a, b) for a, b in pairs)
    if isinstance(served, float) and isinstance(expected, float):
        return served == expected or (served != served and expected != expected)
    return bool(served == expected)


def _nan_as_null(values: pa.ChunkedArray) -> pa.ChunkedArray:
    nan = pc.fill_null(pc.is_nan(values), False)
    return pc.if_else(nan, pa.scalar(None, values.type), values)
