"""Build Pandera (pandas backend) schemas from contracts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from featurestore.services.contracts import checks as _checks
from featurestore.services.contracts._pandera import pa
from featurestore.services.contracts._partitions import valid_directory
from featurestore.services.contracts.model import (
    Check,
    Column,
    Contract,
    InRange,
    RowCheck,
    StrLength,
)

if TYPE_CHECKING:
    import pandas as pd

PANDAS_DTYPES: dict[str, str] = {
    "int64": "Int64",
    "float64": "float64",
    "string": "object",
    "bool": "boolean",
    "timestamp": "datetime64[us, UTC]",
    "date": "object",
}
"""The pandas dtype each contract type has after `verdict.to_pandas`."""


def _builtin(check: Check) -> pa.Check:
    args: Any = check.args
    if isinstance(args, InRange):
        return pa.Check.in_range(
            args.min_value, args.max_value, args.include_min, args.include_max
        )
    if isinstance(args, StrLength):
        return pa.Check.str_length(args.min_value, args.max_value)
    factory: Callable[[Any], pa.Check] = getattr(pa.Check, check.name)
    return factory(list(args) if isinstance(args, tuple) else args)


def build_check(check: Check) -> pa.Check:
    """Return the Pandera check for one contract column check."""
    if check.custom:
        spec = _checks.column_check(check.name)
        return pa.Check(spec.fn, name=spec.name, error=spec.name)
    return _builtin(check)


def _not_empty(values: pd.Series) -> pd.Series:
    return values != ""


def _valid_directory(column: str) -> Callable[[pd.Series], pd.Series]:
    def check(values: pd.Series) -> pd.Series:
        # Partition columns hold few distinct values: judge each once. A set,
        # not Series.unique(): pandas' string hashing stops at a NUL, so
        # unique() takes "\0x" and "" for one value.
        invalid = [v for v in set(values.dropna()) if not valid_directory(column, v)]
        return ~values.isin(invalid)

    return check


def column_checks(contract: Contract, column: Column) -> list[pa.Check]:
    """The Pandera checks of one column: its own, in contract order, then for a
    string partition column `partition_not_empty` and `partition_path_valid`
    (check numbers ``len(column.checks)`` and one more)."""
    checks = [build_check(c) for c in column.checks]
    if column.name in contract.string_partitions:
        checks += [
            pa.Check(_not_empty, name=_checks.PARTITION_NOT_EMPTY,
                     error=_checks.PARTITION_NOT_EMPTY),
            pa.Check(_valid_directory(column.name),
                     name=_checks.PARTITION_PATH_VALID,
                     error=_checks.PARTITION_PATH_VALID),
        ]  # fmt: skip
    return checks


def build_row_check(row: RowCheck) -> pa.Check:
    """Return the dataframe-level Pandera check for one contract row check."""
    spec = _checks.row_check(row.name)
    columns = row.columns

    def _run(frame: pd.DataFrame) -> pd.Series:
        return spec.fn(frame, columns)

    return pa.Check(_run, name=row.name, error=f"{row.name}({row.reason_column})")


def build_pandas_schema(
    contract: Contract, *, check_dtypes: bool = True
) -> pa.DataFrameSchema:
    """Build the Pandera `DataFrameSchema` enforcing `contract` on pandas frames.

    Column checks keep the contract's order, so a failure case's `check_number`
    is the index into `Column.checks` (past its end: `partition_not_empty` and
    `partition_path_valid`, see `column_checks`); the same holds for row checks and
    `Contract.row_checks`. Primary-key uniqueness is not part of the schema
    (it is batch-global; see `verdict.duplicate_key_mask`).

    Args:
        contract: The contract.
        check_dtypes: Also check each column's pandas dtype (see `PANDAS_DTYPES`).
            `verdict.row_reasons` passes False: it checks Arrow types instead.

    Returns:
        A strict schema: extra columns fail, order is free.
    """
    columns = {
        col.name: pa.Column(
            PANDAS_DTYPES[col.type] if check_dtypes else None,
            checks=column_checks(contract, col),
            nullable=col.nullable,
            required=True,
        )
        for col in contract.columns
    }
    return pa.DataFrameSchema(
        columns,
        checks=[build_row_check(r) for r in contract.row_checks],
        strict=True,
        name=f"{contract.name}@{contract.version}",
    )
