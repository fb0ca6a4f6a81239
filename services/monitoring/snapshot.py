"""Profiles and references from a pinned Delta snapshot: delta-rs and DuckDB, no Spark.

Used to backfill versions published before profiling existed, and to fix a
table's reference buckets (equal-frequency edges, top-k categories) once from
its baseline version.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFoundError

from featurestore.services.contracts.drift import DriftSettings
from featurestore.services.monitoring.assess import Reference, ReferenceColumn
from featurestore.services.monitoring.errors import TableNotFoundError
from featurestore.services.monitoring.model import ColumnProfile


def open_snapshot(
    location: str, version: int, storage_options: Mapping[str, str] | None = None
) -> ds.Dataset:
    """The rows of version `version` of the Delta table at `location`.

    Raises:
        TableNotFoundError: No table there, or no such version.
    """
    try:
        table = DeltaTable(location, storage_options=dict(storage_options or {}))
        table.load_as_version(version)
    except (_DeltaTableNotFoundError, ValueError, OSError) as exc:
        raise TableNotFoundError(location, version) from exc
    except Exception as exc:  # delta-rs: DeltaError for a vacuumed/unknown version
        raise TableNotFoundError(location, version) from exc
    return table.to_pyarrow_dataset()


def table_versions(
    location: str, storage_options: Mapping[str, str] | None = None
) -> list[int]:
    """Versions of the Delta table at `location` still in its log, oldest first."""
    try:
        table = DeltaTable(location, storage_options=dict(storage_options or {}))
    except _DeltaTableNotFoundError as exc:
        raise TableNotFoundError(location) from exc
    return sorted(int(c["version"]) for c in table.history())


def _q(name: str) -> str:
    # Contract column names are identifiers (checked when parsed).
    return '"' + name + '"'


def _clean(settings: Mapping[str, DriftSettings]) -> str:
    parts = []
    for name, setting in settings.items():
        if setting.kind == "numeric":
            # NaN counts as null, as in the contracts (nullable allows NaN).
            parts.append(
                f"CASE WHEN isnan({_q(name)}::DOUBLE) THEN NULL "
                f"ELSE {_q(name)}::DOUBLE END AS {_q(name)}"
            )
        else:
            parts.append(f"{_q(name)}::VARCHAR AS {_q(name)}")
    return "SELECT " + ", ".join(parts) + " FROM snapshot"


def _query(dataset: ds.Dataset, settings: Mapping[str, DriftSettings], sql: str) -> Any:
    con = duckdb.connect()
    try:
        con.register("snapshot", dataset)
        return con.execute(f"WITH t AS ({_clean(settings)}) {sql}").fetchall()
    finally:
        con.close()


def reference_from_snapshot(
    dataset: ds.Dataset, version: int, settings: Mapping[str, DriftSettings]
) -> Reference:
    """Fix the buckets of every feature from version `version`'s rows.

    Numeric: the distinct equal-frequency cut points at `1/bins, 2/bins, ...`
    (DuckDB `quantile_disc`, exact); categorical: the `top_k` most frequent
    categories (ties by value). Then each bucket's count in this version.
    """
    if not settings:
        return Reference(version)
    cuts = []
    for name, s in settings.items():
        if s.kind == "numeric":
            probs = ", ".join(str(k / s.bins) for k in range(1, s.bins))
            cuts.append(f"quantile_disc({_q(name)}, [{probs}])")
        else:
            cuts.append("NULL")
    (row,) = _query(dataset, settings, "SELECT " + ", ".join(cuts) + " FROM t")
    buckets: dict[str, ReferenceColumn] = {}
    for (name, s), cut in zip(settings.items(), row, strict=True):
        if s.kind == "numeric":
            edges = tuple(sorted({float(v) for v in (cut or ())}))
            buckets[name] = ReferenceColumn("numeric", edges=edges)
        else:
            top = _query(
                dataset,
                {name: s},
                f"SELECT {_q(name)}, count(*) AS n FROM t WHERE {_q(name)} IS NOT NULL "
                f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {int(s.top_k)}",
            )
            buckets[name] = ReferenceColumn(
                "categorical", categories=tuple(v for v, _ in top)
            )
    counted = profile_dataset(dataset, settings, Reference(version, buckets))
    return Reference(
        version,
        {
            c.feature: ReferenceColumn(
                c.kind,
                buckets[c.feature].edges,
                buckets[c.feature].categories,
                c.counts,
            )
            for c in counted
        },
    )


def _aggregates(name: str, kind: str, ref: ReferenceColumn | None) -> list[str]:
    col = _q(name)
    out = [f"count({col})"]
    if kind == "numeric":
        out += [f"min({col})", f"max({col})", f"avg({col})", f"stddev_samp({col})"]
        edges = ref.edges if ref else ()
        out += [
            f"count(*) FILTER (WHERE {col} >= CAST('{edge!r}' AS DOUBLE))"
            for edge in edges
        ]
    else:
        categories = ref.categories if ref else ()
        out += [f"count(*) FILTER (WHERE {col} = {_literal(v)})" for v in categories]
    return out


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def profile_dataset(
    dataset: ds.Dataset,
    settings: Mapping[str, DriftSettings],
    reference: Reference | None,
) -> tuple[ColumnProfile, ...]:
    """Profile every feature in `settings` over `dataset` in one DuckDB scan.

    Buckets are the reference's (none without a reference).
    """
    if not settings:
        return ()
    refs = {n: reference.columns.get(n) if reference else None for n in settings}
    selects = ["count(*)"]
    spans = []
    for name, s in settings.items():
        aggs = _aggregates(name, s.kind, refs[name])
        spans.append((len(selects), len(aggs)))
        selects += aggs
    (row,) = _query(dataset, settings, "SELECT " + ", ".join(selects) + " FROM t")
    total = int(row[0])
    out = []
    for (name, s), (start, width) in zip(settings.items(), spans, strict=True):
        out.append(_column(name, s, refs[name], total, row[start : start + width]))
    return tuple(out)


def _column(
    name: str,
    setting: DriftSettings,
    ref: ReferenceColumn | None,
    total: int,
    values: Sequence[Any],
) -> ColumnProfile:
    present = int(values[0])
    nulls = total - present
    if setting.kind == "numeric":
        lo, hi, mean, std = (None if v is None else float(v) for v in values[1:5])
        at_least = [int(v) for v in values[5:]]
        counts = numeric_counts(present, nulls, at_least) if ref is not None else ()
        return ColumnProfile(
            name, "numeric", total, nulls, lo, hi, mean, std,
            edges=ref.edges if ref else (), counts=counts,
        )  # fmt: skip
    if ref is None:
        return ColumnProfile(name, "categorical", total, nulls)
    hits = [int(v) for v in values[1:]]
    return ColumnProfile(
        name, "categorical", total, nulls,
        categories=ref.categories, counts=(*hits, present - sum(hits), nulls),
    )  # fmt: skip


def numeric_counts(
    present: int, nulls: int, at_least: Sequence[int]
) -> tuple[int, ...]:
    """Bucket counts from the non-null count and the counts `>= edge_j`.

    `[-inf, e1)` holds `present - n(>= e1)`, `[e_j, e_j+1)` holds
    `n(>= e_j) - n(>= e_j+1)`, `[e_k, inf)` holds `n(>= e_k)`; nulls last.
    """
    bounds = [present, *at_least, 0]
    return (*(a - b for a, b in itertools.pairwise(bounds)), nulls)
