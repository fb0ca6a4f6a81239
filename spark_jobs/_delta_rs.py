"""Delta commits through delta-rs, for object stores Spark has no file system for.

PySpark ships no S3 connector; ``build_spark_session`` adds Hadoop's S3A for
a project on S3, but a cluster may run without it. Where Spark cannot open a
location, the rows that passed the contract are collected
to the driver as Arrow and committed by delta-rs, with the same modes, the
same ``userMetadata`` stamp and the same conflict translation as Spark's
writes (see ``io``, the only caller).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError
from pyspark.sql import DataFrame

from featurestore.services.storage import StorageOptions, open_delta, read_delta
from featurestore.services.storage import is_delta_table as _is_delta
from featurestore.services.storage import to_delta_uri as _uri
from featurestore.spark_jobs.errors import WriteConflictError


def write(
    df: DataFrame,
    location: str,
    storage: StorageOptions,
    *,
    mode: str,
    stamp: str,
    partition_by: Sequence[str],
    replace_where: str | None,
    merge_schema: bool = False,
) -> None:
    """``io.write_delta`` through delta-rs (the batch passes through the driver)."""
    write_arrow(
        _nullable(df.toArrow()),
        location,
        storage,
        mode=mode,
        stamp=stamp,
        partition_by=partition_by,
        replace_where=replace_where,
        merge_schema=merge_schema,
    )


def write_arrow(
    rows: pa.Table,
    location: str,
    storage: StorageOptions,
    *,
    mode: str,
    stamp: str,
    partition_by: Sequence[str] = (),
    replace_where: str | None = None,
    merge_schema: bool = False,
) -> None:
    """Commit Arrow ``rows`` as they are (nullability kept), as ``write`` does."""
    whole = mode == "overwrite" and replace_where is None
    partitions = bool(partition_by) and (whole or not _is_delta(location, storage))
    uri = _uri(location)
    partitions_by = list(partition_by) if partitions else None
    options, commit = storage.for_location(location), _commit(stamp)
    evolve: Literal["merge"] | None = "merge" if merge_schema else None
    try:
        if mode == "overwrite":
            write_deltalake(
                uri,
                rows,
                mode="overwrite",
                schema_mode="overwrite" if whole else evolve,
                predicate=replace_where,
                partition_by=partitions_by,
                storage_options=options,
                commit_properties=commit,
            )
        else:
            write_deltalake(
                uri,
                rows,
                mode="append",
                schema_mode=evolve,
                partition_by=partitions_by,
                storage_options=options,
                commit_properties=commit,
            )
    except CommitFailedError as exc:
        raise WriteConflictError(location, _first_line(exc)) from exc


def merge(
    df: DataFrame,
    location: str,
    storage: StorageOptions,
    *,
    condition: str,
    stamp: str,
    update_when: str | None,
    insert_only: bool,
    merge_schema: bool = False,
) -> None:
    """``io.merge_delta`` through delta-rs; ``t``/``s`` alias target and source."""
    table: DeltaTable = open_delta(location, storage)
    builder = table.merge(
        _nullable(df.toArrow()),
        predicate=condition,
        source_alias="s",
        target_alias="t",
        merge_schema=merge_schema,
        commit_properties=_commit(stamp),
    )
    if not insert_only:
        builder = builder.when_matched_update_all(predicate=update_when)
    try:
        builder.when_not_matched_insert_all().execute()
    except CommitFailedError as exc:
        raise WriteConflictError(location, _first_line(exc)) from exc


def schema(location: str, storage: StorageOptions) -> pa.Schema:
    """Arrow schema of the Delta table at ``location``."""
    return pa.schema(open_delta(location, storage).schema().to_arrow())


def partition_columns(location: str, storage: StorageOptions) -> list[str]:
    """The partition columns of the Delta table at ``location``, in order."""
    return list(open_delta(location, storage).metadata().partition_columns)


def rows(location: str, storage: StorageOptions, columns: Sequence[str]) -> pa.Table:
    """The current rows of the Delta table at ``location``, only ``columns``."""
    return read_delta(open_delta(location, storage), list(columns))


def null_counts(
    location: str, storage: StorageOptions, columns: Sequence[str]
) -> dict[str, int]:
    """Nulls in each of ``columns`` over the table's current rows.

    From the data files' statistics (both engines write null counts for the
    first 32 columns); a column some file has no count for (a partition
    column, one past the indexed columns) is counted by scanning it alone.
    """
    table = open_delta(location, storage)
    actions = pa.table(table.get_add_actions(flatten=True))
    counts: dict[str, int] = {}
    unknown = []
    for column in columns:
        stat = f"null_count.{column}"
        if stat in actions.column_names and actions[stat].null_count == 0:
            counts[column] = int(pc.sum(actions[stat]).as_py() or 0)
        else:
            unknown.append(column)
    for column in unknown:  # contract column names: identifiers, quoted
        nulls = read_delta(table, [column], where=f'"{column}" IS NULL')
        counts[column] = nulls.num_rows
    return counts


def is_delta_table(location: str, storage: StorageOptions) -> bool:
    """Whether delta-rs finds a Delta table at ``location``."""
    return _is_delta(location, storage)


def history(
    location: str, storage: StorageOptions, limit: int | None
) -> list[dict[str, object]]:
    """The newest ``limit`` commits (all with None; delta-rs ``history``),
    newest first, or [] without a table."""
    if not _is_delta(location, storage):
        return []
    return list(open_delta(location, storage).history(limit))


def _nullable(rows: pa.Table) -> pa.Table:
    # Spark's Delta writer stores every field nullable; delta-rs keeps Arrow's
    # flags, and Spark marks a column computed with count() or coalesce() not
    # null. A column a merge-schema write adds NOT NULL would be missing from
    # every older file, and the next MERGE fails ("Non-nullable column ... is
    # missing from the physical schema"); the flag means nothing for a table.
    schema = pa.schema(
        [_nullable_field(f) for f in rows.schema], metadata=rows.schema.metadata
    )
    return rows if schema.equals(rows.schema) else rows.cast(schema)


def _nullable_field(field: pa.Field) -> pa.Field:
    kind = field.type
    if pa.types.is_struct(kind):
        kind = pa.struct(
            [_nullable_field(kind.field(i)) for i in range(kind.num_fields)]
        )
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        item = _nullable_field(kind.value_field)
        kind = pa.list_(item) if pa.types.is_list(kind) else pa.large_list(item)
    return field.with_type(kind).with_nullable(True)


def _commit(stamp: str) -> CommitProperties:
    # delta-rs merges custom_metadata into commitInfo: "userMetadata" lands
    # where Spark's userMetadata option puts it, so lineage reads both alike.
    return CommitProperties(custom_metadata={"userMetadata": stamp})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
