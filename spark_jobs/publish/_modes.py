"""How passing rows reach the table: one writer per publish mode."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from pyspark.sql import DataFrame

from featurestore.services.contracts import Contract
from featurestore.spark_jobs.io import (
    delta_columns,
    is_delta_table,
    merge_delta,
    same_value,
    write_delta,
)
from featurestore.spark_jobs.publish._partitions import partition_predicate

# One logger for the package, named as before the split (users and tests
# configure it as featurestore.spark_jobs.publish).
log = logging.getLogger(__package__)

PublishMode = Literal["overwrite", "append", "merge", "replace_partitions"]
"""How passing rows reach the table; see :func:`publish`."""


def _overwrite(
    contract: Contract, rows: DataFrame, location: str, stamp: dict[str, Any]
) -> None:
    write_delta(
        rows,
        location,
        mode="overwrite",
        metadata=stamp,
        partition_by=contract.partition_by,
    )


def _append(
    contract: Contract, rows: DataFrame, location: str, stamp: dict[str, Any]
) -> None:
    write_delta(
        rows,
        location,
        mode="append",
        metadata=stamp,
        partition_by=contract.partition_by,
        merge_schema=True,
    )


def _merge(
    contract: Contract, rows: DataFrame, location: str, stamp: dict[str, Any]
) -> None:
    if not is_delta_table(rows, location):
        # A racing creator makes this a conflict; the retry then merges.
        _append(contract, rows, location, stamp)
        return
    key, held = set(contract.primary_key), delta_columns(rows.sparkSession, location)
    changed = [
        f"NOT {same_value(c, held)}" for c in contract.column_names if c not in key
    ]
    created = contract.created_timestamp
    merge_delta(
        rows,
        location,
        on=contract.primary_key,
        metadata=stamp,
        update_when=f"s.`{created}` >= t.`{created}` AND ({' OR '.join(changed)})"
        if changed
        else "FALSE",
        merge_schema=True,
    )


def _replace_partitions(
    contract: Contract, rows: DataFrame, location: str, stamp: dict[str, Any]
) -> None:
    columns = list(contract.partition_by)
    values = [tuple(r) for r in rows.select(*columns).distinct().collect()]
    if not values:
        log.info("%s: no passing rows, no partition replaced", location)
        return
    write_delta(
        rows,
        location,
        mode="overwrite",
        metadata=stamp,
        partition_by=columns,
        replace_where=partition_predicate(columns, values),
        merge_schema=True,
    )


WRITERS: dict[str, Callable[[Contract, DataFrame, str, dict[str, Any]], None]] = {
    "overwrite": _overwrite,
    "append": _append,
    "merge": _merge,
    "replace_partitions": _replace_partitions,
}
