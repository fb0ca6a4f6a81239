"""The `<table>_profile` Delta table: its Arrow schema and row conversions.

One row per (feature table version, feature): the column's profile and, in
the same row, its drift scores, so one commit writes both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import pyarrow as pa

from featurestore.services.monitoring.model import (
    Against,
    ColumnProfile,
    DriftScore,
    ProfileSource,
    VersionProfile,
)
from featurestore.services.monitoring.scores import verdict

PROFILE_SUFFIX = "_profile"
"""The profile table sits beside its feature table: `<location>_profile`."""

SCHEMA = pa.schema(
    [
        pa.field("table_version", pa.int64(), nullable=False),
        pa.field("feature", pa.string(), nullable=False),
        pa.field("kind", pa.string()),
        pa.field("row_count", pa.int64()),
        pa.field("null_count", pa.int64()),
        pa.field("min", pa.float64()),
        pa.field("max", pa.float64()),
        pa.field("mean", pa.float64()),
        pa.field("std", pa.float64()),
        pa.field("edges", pa.list_(pa.float64())),
        pa.field("categories", pa.list_(pa.string())),
        pa.field("counts", pa.list_(pa.int64())),
        pa.field("reference_version", pa.int64()),
        pa.field("reference_counts", pa.list_(pa.int64())),
        pa.field("metric", pa.string()),
        pa.field("warn", pa.float64()),
        pa.field("fail", pa.float64()),
        pa.field("on_drift", pa.string()),
        pa.field("baseline_score", pa.float64()),
        pa.field("previous_version", pa.int64()),
        pa.field("previous_score", pa.float64()),
        pa.field("source", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("profiled_at", pa.timestamp("us", tz="UTC")),
        pa.field("bins", pa.int64()),
        pa.field("top_k", pa.int64()),
    ]
)
"""Columns of the profile table. `metric` is null for a column not scored;
a score is null when there was nothing to compare with. `bins` (numeric) and
`top_k` (categorical) are the settings the row's buckets were made for, null
without buckets; tables written before they existed lack the two columns
(rows read from them have no such keys), and the first write adds them."""


def profile_location(table_location: str) -> str:
    """Location of the profile table of the feature table at `table_location`."""
    return table_location.rstrip("/") + PROFILE_SUFFIX


def to_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows (dicts keyed by `SCHEMA` names) as an Arrow table of `SCHEMA`."""
    return pa.Table.from_pylist([dict(r) for r in rows], schema=SCHEMA)


def _column(row: Mapping[str, Any]) -> ColumnProfile:
    return ColumnProfile(
        feature=row["feature"],
        kind=row["kind"],
        row_count=int(row["row_count"] or 0),
        null_count=int(row["null_count"] or 0),
        min=row["min"],
        max=row["max"],
        mean=row["mean"],
        std=row["std"],
        edges=tuple(row["edges"] or ()),
        categories=tuple(row["categories"] or ()),
        counts=tuple(row["counts"] or ()),
        reference_counts=tuple(row["reference_counts"] or ()),
    )


def profiles_from(table: str, rows: list[dict[str, Any]]) -> list[VersionProfile]:
    """Group profile-table rows into one `VersionProfile` per version, oldest first.

    A version written twice (a re-run, or a backfill after a publish) keeps
    the rows of its newest write.
    """
    by_version: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_version.setdefault(int(row["table_version"]), []).append(row)
    out = []
    for version in sorted(by_version):
        group = by_version[version]
        newest = max(cast(datetime, r["profiled_at"]) for r in group)
        group = [r for r in group if r["profiled_at"] == newest]
        first = group[0]
        out.append(
            VersionProfile(
                table=table,
                version=version,
                profiled_at=newest,
                source=cast(ProfileSource, first["source"]),
                run_id=str(first["run_id"] or ""),
                reference_version=first["reference_version"],
                columns=tuple(_column(r) for r in group),
            )
        )
    return out


def scores_from(table: str, rows: list[dict[str, Any]]) -> list[DriftScore]:
    """Drift scores of profile-table rows: against the baseline, then previous."""
    out = []
    for row in rows:
        if row["metric"] is None:
            continue
        for against, version_key, score_key in (
            ("baseline", "reference_version", "baseline_score"),
            ("previous", "previous_version", "previous_score"),
        ):
            value = row[score_key]
            if value is None or row[version_key] is None:
                continue
            out.append(
                DriftScore(
                    table=table,
                    version=int(row["table_version"]),
                    feature=row["feature"],
                    metric=row["metric"],
                    against=cast(Against, against),
                    reference_version=int(row[version_key]),
                    score=float(value),
                    warn=float(row["warn"]),
                    fail=float(row["fail"]),
                    verdict=verdict(float(value), row["warn"], row["fail"]),
                    on_drift=row["on_drift"] or "warn",
                )
            )
    return out
