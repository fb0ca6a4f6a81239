"""Profiles and references from a pinned Delta snapshot: delta-rs and DuckDB, no Spark.

Used to backfill versions published before profiling existed, and to fix a
table's reference buckets (equal-frequency edges, top-k categories) once from
its baseline version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFoundError

from featurestore.services.contracts import Contract
from featurestore.services.contracts.drift import DriftSettings
from featurestore.services.lineage.history import is_publish
from featurestore.services.monitoring.aggregates import Aggregate, ProfilePlan
from featurestore.services.monitoring.assess import Reference, ReferenceColumn
from featurestore.services.monitoring.errors import TableNotFoundError
from featurestore.services.monitoring.model import ColumnProfile
from featurestore.services.offline.cancellation import keyboard_interrupts
from featurestore.services.offline.errors import storage_unavailable
from featurestore.services.storage import read_delta


def _load(
    location: str, version: int, storage_options: Mapping[str, str] | None
) -> DeltaTable:
    with storage_unavailable(location):  # opening reads the log: the store must answer
        try:
            table = DeltaTable(location, storage_options=dict(storage_options or {}))
        except (DeltaError, ValueError) as exc:  # TableNotFoundError: a DeltaError
            raise TableNotFoundError(location, version) from exc
    try:
        table.load_as_version(version)
    except (DeltaError, ValueError, OSError) as exc:  # unknown or vacuumed version
        raise TableNotFoundError(location, version) from exc
    return table


def open_snapshot(
    location: str,
    version: int,
    storage_options: Mapping[str, str] | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """The rows of version `version` of the Delta table at `location`.

    Only `columns` when given (each must be in that version).

    Raises:
        TableNotFoundError: No table there, or no such version.
        StorageUnavailableError: The object store did not answer or refused
            (the offline store's, STORAGE_UNAVAILABLE).
    """
    table = _load(location, version, storage_options)
    with storage_unavailable(location):
        return read_delta(table, columns)


@dataclass(frozen=True)
class FeatureSnapshot:
    """The feature columns of one version that can be compared with the contract's."""

    rows: pa.Table
    """Those columns' values (no column when `settings` is empty)."""
    settings: Mapping[str, DriftSettings]
    """The contract's drift settings of the features the version holds with a
    type of the contract type's family, in contract order."""
    row_count: int
    """Rows of the version, whether or not any feature column was read."""


# A version holds a feature comparably when its Arrow type is of the family of
# the contract's type: an int64 baseline is bucketed for a float64 column (the
# same numbers), a string one never for a bool (other values, a made-up score).
_FAMILY = {"int64": "number", "float64": "number", "string": "string", "bool": "bool"}


def _family(arrow_type: pa.DataType) -> str | None:
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "number"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    return "bool" if pa.types.is_boolean(arrow_type) else None


def comparable_features(
    schema: pa.Schema, contract: Contract, settings: Mapping[str, DriftSettings]
) -> dict[str, DriftSettings]:
    """The features of `settings` that `schema` holds with a comparable type.

    A feature the schema lacks (a column added to the contract later), or holds
    with a type of another family (a number the contract now calls a string),
    is left out.
    """
    types = {c.name: c.type for c in contract.columns}
    held = {f.name: _family(f.type) for f in schema}
    return {
        name: s
        for name, s in settings.items()
        if name in held and held[name] == _FAMILY.get(types.get(name, ""))
    }


def open_features(
    location: str,
    version: int,
    contract: Contract,
    settings: Mapping[str, DriftSettings] | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> FeatureSnapshot:
    """The features of `contract` (or only `settings`) as version `version` holds them.

    Features the version lacks, or holds with an incomparable type, are left
    out (see `comparable_features`); no data is read when none is left.

    Raises:
        TableNotFoundError: No table there, or no such version.
        StorageUnavailableError: The object store did not answer or refused
            (the offline store's, STORAGE_UNAVAILABLE).
    """
    table = _load(location, version, storage_options)
    schema = pa.schema(table.schema().to_arrow())
    wanted = contract.drift if settings is None else settings
    kept = comparable_features(schema, contract, wanted)
    with storage_unavailable(location):
        if not kept:  # none to read; the version may still hold rows
            return FeatureSnapshot(pa.Table.from_pydict({}), {}, _row_count(table))
        rows = read_delta(table, list(kept))
    return FeatureSnapshot(rows, kept, rows.num_rows)


def _row_count(table: DeltaTable) -> int:
    """Rows of the loaded version: the log's per-file counts, or (a file
    written without statistics) one column read."""
    added = pa.table(table.get_add_actions(flatten=True))
    if "num_records" in added.column_names and added["num_records"].null_count == 0:
        return sum(added["num_records"].to_pylist())
    first = pa.schema(table.schema().to_arrow()).field(0).name
    rows: int = read_delta(table, [first]).num_rows
    return rows


def table_versions(
    location: str, storage_options: Mapping[str, str] | None = None
) -> list[int]:
    """Versions of the Delta table at `location` still in its log that changed
    its data, oldest first: a VACUUM's or OPTIMIZE's own commits hold the
    rows of the version before them, and would only be profiled again."""
    with storage_unavailable(location):
        try:
            table = DeltaTable(location, storage_options=dict(storage_options or {}))
        except _DeltaTableNotFoundError as exc:
            raise TableNotFoundError(location) from exc
        return sorted(
            int(c["version"]) for c in table.history() if is_publish(c.get("operation"))
        )


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


def _query(rows: pa.Table, settings: Mapping[str, DriftSettings], sql: str) -> Any:
    con = duckdb.connect()
    try:
        con.register("snapshot", rows)
        with keyboard_interrupts():
            return con.execute(f"WITH t AS ({_clean(settings)}) {sql}").fetchall()
    finally:
        con.close()


def reference_from_snapshot(
    rows: pa.Table, version: int, settings: Mapping[str, DriftSettings]
) -> Reference:
    """Fix the buckets of every feature from version `version`'s rows.

    Numeric: the distinct equal-frequency cut points at `1/bins, 2/bins, ...`
    (DuckDB `quantile_disc`, exact), see `numeric_edges` for ties;
    categorical: the `top_k` most frequent categories (ties by value). Then
    each bucket's count in this version.
    """
    if not settings:
        return Reference(version)
    cuts = []
    for name, s in settings.items():
        if s.kind == "numeric":
            c, bins = _q(name), int(s.bins)
            probs = ", ".join(str(k / bins) for k in range(1, bins))
            cuts.append(
                f"quantile_disc({c}, [{probs}]), CASE WHEN count(DISTINCT {c}) <= "
                f"{bins} THEN list(DISTINCT {c}) FILTER (WHERE {c} IS NOT NULL) END, "
                f"max({c})"
            )
        else:
            cuts.append("NULL, NULL, NULL")
    if any(s.kind == "numeric" for s in settings.values()):
        (row,) = _query(rows, settings, "SELECT " + ", ".join(cuts) + " FROM t")
    else:  # no aggregate in the query: it would give one row per table row
        row = (None,) * len(cuts) * 3
    buckets: dict[str, ReferenceColumn] = {}
    for (name, s), at in zip(settings.items(), range(0, len(row), 3), strict=True):
        if s.kind == "numeric":
            cut, distinct, top = row[at : at + 3]
            edges = numeric_edges(cut or (), distinct, top, s.bins)
            buckets[name] = ReferenceColumn("numeric", edges=edges, bins=s.bins)
        else:
            top = _query(
                rows,
                {name: s},
                f"SELECT {_q(name)}, count(*) AS n FROM t WHERE {_q(name)} IS NOT NULL "
                f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT {int(s.top_k)}",
            )
            buckets[name] = ReferenceColumn(
                "categorical", categories=tuple(v for v, _ in top), top_k=s.top_k
            )
    counted = profile_dataset(rows, settings, Reference(version, buckets))
    return Reference(
        version,
        {c.feature: replace(buckets[c.feature], counts=c.counts) for c in counted},
    )


def numeric_edges(
    cuts: Sequence[float],
    distinct: Sequence[float] | None,
    top: float | None,
    bins: int,
) -> tuple[float, ...]:
    """A numeric feature's bucket edges from its baseline.

    The distinct equal-frequency cut points, when there are ``bins - 1`` of
    them. Fewer means ties merged them (a constant, a count that is mostly 1),
    and the buckets could not see most changes; then every distinct value is
    an edge when there are at most ``bins`` of them (one bucket per value), and
    an edge just above the baseline's maximum gives larger values a bucket of
    their own.

    Args:
        cuts: The equal-frequency cut points (with repeats).
        distinct: The baseline's distinct non-null values, when at most ``bins``.
        top: The baseline's maximum (None: no value).
        bins: The contract's ``bins``.
    """
    edges = {float(v) for v in cuts}
    if len(edges) >= bins - 1 or top is None:
        return tuple(sorted(edges))
    edges.update(float(v) for v in distinct or ())
    if math.isfinite(top):
        edges.add(math.nextafter(float(top), math.inf))
    return tuple(sorted(edges))


_SQL = {
    "count": "count({c})",
    "min": "min({c})",
    "max": "max({c})",
    "avg": "avg({c})",
    "std": "stddev_samp({c})",
}


def _sql(aggregate: Aggregate) -> str:
    col = _q(aggregate.feature)
    if aggregate.op == "ge":
        return f"count(*) FILTER (WHERE {col} >= CAST('{aggregate.arg!r}' AS DOUBLE))"
    if aggregate.op == "eq":
        return f"count(*) FILTER (WHERE {col} = {_literal(str(aggregate.arg))})"
    return _SQL[aggregate.op].format(c=col)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def profile_dataset(
    rows: pa.Table,
    settings: Mapping[str, DriftSettings],
    reference: Reference | None,
) -> tuple[ColumnProfile, ...]:
    """Profile every feature in `settings` over `rows` in one DuckDB scan.

    Buckets are the reference's (none without a reference).
    """
    if not settings:
        return ()
    plan = ProfilePlan.build(settings, reference)
    selects = ["count(*)", *(_sql(a) for a in plan.aggregates)]
    (row,) = _query(rows, settings, "SELECT " + ", ".join(selects) + " FROM t")
    return plan.read(int(row[0]), row[1:])
