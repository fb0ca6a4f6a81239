"""Row verdicts on Arrow data: the one rule set shared by Spark jobs and the service.

Semantics, identical on every path:

* Float NaN counts as null (as in pandas and Pandera): it fails `not_nullable`
  in a non-nullable column and passes every other check.
* Null values pass every column check and row check; only `not_nullable` sees them.
* Each failing (column, check) pair is reported once per row, in contract order:
  per column `not_nullable` then its checks (then `partition_not_empty` and
  `partition_path_valid` for a string `partition_by` column), then the row
  checks, then `duplicate_key`. One failing check never hides another.
* An empty string in a string `partition_by` column fails `partition_not_empty`:
  Delta stores that partition value as null, so the row cannot be published as
  it is (see `checks.PARTITION_NOT_EMPTY`). A value whose partition directory
  cannot be created (over 255 bytes escaped, or a NUL) fails
  `partition_path_valid`: the write would fail for the whole batch.
* Extra columns are a schema error when publishing (`check_arrow_schema`), but
  `row_reasons` ignores them so clients may send wider rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from featurestore.services.contracts._pandera import errors as pandera_errors
from featurestore.services.contracts.checks import (
    DUPLICATE_KEY,
    NOT_NULLABLE,
    PARTITION_NOT_EMPTY,
    PARTITION_PATH_VALID,
)
from featurestore.services.contracts.errors import (
    ContractErrorReason,
    SchemaMismatchError,
)
from featurestore.services.contracts.schema import build_pandas_schema

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandera.pandas

    from featurestore.services.contracts.model import Contract

REASON_TYPE = pa.struct([("column", pa.string()), ("check", pa.string())])
"""Arrow type of one failure reason."""
REASONS_TYPE = pa.list_(REASON_TYPE)
"""Arrow type of `row_reasons` output: one list of reasons per row."""

ARROW_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}
"""The Arrow type a contract type is read as (a CSV's columns, for one);
``check_arrow_schema`` accepts these and the variants it names."""
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "+00:00", "Z", "utc"})
_INT_MAPPER = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
_EPOCH = date(1970, 1, 1)
_DATE_MIN_DAYS = (date.min - _EPOCH).days
_DATE_MAX_DAYS = (date.max - _EPOCH).days
_DATE_RANGE = f"{date.min.isoformat()}..{date.max.isoformat()}"

# Pandera's lazy validation concatenates its failure-case frames, some of them
# all-NA (a row-level check has no column value), and pandas >= 2.1 warns
# about that on every failing batch: pandera's own call, not one of ours. Set
# once here (warnings.catch_warnings per call is not thread-safe, and the
# server judges batches on several threads); nothing else is hidden.
warnings.filterwarnings(
    "ignore",
    message="The behavior of DataFrame concatenation with empty or all-NA entries",
    category=FutureWarning,
    module=r"pandera\.backends\.pandas\.error_formatters",
)


def _type_ok(contract_type: str, arrow_type: pa.DataType) -> bool:
    t = pa.types
    if contract_type == "timestamp":
        return bool(t.is_timestamp(arrow_type) and arrow_type.tz in _UTC_NAMES)
    if contract_type == "string":
        return bool(
            t.is_string(arrow_type)
            or t.is_large_string(arrow_type)
            or t.is_string_view(arrow_type)
        )
    checks = {
        "int64": t.is_int64,
        "float64": t.is_float64,
        "bool": t.is_boolean,
        "date": t.is_date32,
    }
    return bool(checks[contract_type](arrow_type))


def check_arrow_schema(
    contract: Contract, schema: pa.Schema, *, allow_extra: bool = False
) -> None:
    """Check that an Arrow schema carries the contract's columns with its types.

    Types are compared as Arrow types: int64, float64, string (also
    large_string and string_view), bool, timestamp of any unit with a UTC
    zone, date32. Arrow field nullability is not compared.

    Args:
        contract: The contract.
        schema: The schema of the batch or table.
        allow_extra: Accept columns the contract lacks. False when publishing.

    Raises:
        SchemaMismatchError: SCHEMA_MISMATCH; metadata `missing`, `extra`,
            `wrong_types` (`col=expected:actual` pairs), `duplicated`.
    """
    names = list(schema.names)
    missing = [c.name for c in contract.columns if c.name not in names]
    extra = [] if allow_extra else [n for n in names if n not in contract.column_names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    wrong = [
        f"{c.name}={c.type}:{schema.field(c.name).type}"
        for c in contract.columns
        if c.name in names
        and c.name not in duplicated
        and not _type_ok(c.type, schema.field(c.name).type)
    ]
    problems = {
        "missing": ",".join(missing),
        "extra": ",".join(extra),
        "wrong_types": ",".join(wrong),
        "duplicated": ",".join(duplicated),
    }
    problems = {k: v for k, v in problems.items() if v}
    if problems:
        label = f"{contract.name}@{contract.version}"
        text = "; ".join(f"{k}: {v}" for k, v in problems.items())
        naive = [
            c.name
            for c in contract.columns
            if c.type == "timestamp"
            and c.name in names
            and pa.types.is_timestamp(schema.field(c.name).type)
            and schema.field(c.name).type.tz is None
        ]
        if naive:  # the one mistake the pair does not explain
            text += f" ({', '.join(naive)}: a timestamp without a time zone; send UTC)"
        raise SchemaMismatchError(
            f"schema does not match contract {label}: {text}",
            reason=ContractErrorReason.SCHEMA_MISMATCH,
            metadata={"contract": label, **problems},
        )


def _dates_fit(table: pa.Table) -> None:
    # date32 spans millions of years; datetime.date, which pandas makes of
    # it, years 1 to 9999 only (an OverflowError, a bug to the caller).
    for name, type_ in zip(table.column_names, table.schema.types, strict=True):
        if not pa.types.is_date32(type_):
            continue
        days = pc.min_max(table.column(name).cast(pa.int32()))
        low, high = days["min"].as_py(), days["max"].as_py()
        if low is not None and (low < _DATE_MIN_DAYS or high > _DATE_MAX_DAYS):
            raise SchemaMismatchError(
                f"column {name} holds a date outside {_DATE_RANGE} "
                "(years 1 to 9999), the range of a contract date",
                reason=ContractErrorReason.SCHEMA_MISMATCH,
                metadata={"column": name, "range": _DATE_RANGE},
            )


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Convert Arrow data to the pandas frame the Pandera schema expects.

    int64 and bool become nullable extension dtypes so nulls keep their type;
    timestamps keep their unit and zone; dates are `datetime.date` objects.

    Raises:
        SchemaMismatchError: SCHEMA_MISMATCH; a date column holds a date
            outside years 1 to 9999 (metadata `column`, `range`).
    """
    _dates_fit(table)
    return table.to_pandas(types_mapper=_INT_MAPPER.get, ignore_metadata=True)


@dataclass(frozen=True)
class _ReasonCodes:
    """Every possible (column, check) reason of a contract, in report order."""

    columns: list[str]
    checks: list[str]
    nullable_code: dict[str, int]
    check_code: dict[tuple[str, int], int]
    row_code: dict[int, int]
    duplicate_code: int


@lru_cache(maxsize=64)
def _codes(contract: Contract) -> _ReasonCodes:
    columns: list[str] = []
    checks: list[str] = []
    nullable: dict[str, int] = {}
    per_check: dict[tuple[str, int], int] = {}
    for col in contract.columns:
        nullable[col.name] = len(columns)
        columns.append(col.name)
        checks.append(NOT_NULLABLE)
        for number, check in enumerate(col.checks):
            per_check[(col.name, number)] = len(columns)
            columns.append(col.name)
            checks.append(check.name)
        if col.name in contract.string_partitions:  # see schema.column_checks
            for number, name in enumerate(
                (PARTITION_NOT_EMPTY, PARTITION_PATH_VALID), len(col.checks)
            ):
                per_check[(col.name, number)] = len(columns)
                columns.append(col.name)
                checks.append(name)
    rows: dict[int, int] = {}
    for number, row in enumerate(contract.row_checks):
        rows[number] = len(columns)
        columns.append(row.reason_column)
        checks.append(row.name)
    columns.append(",".join(contract.primary_key))
    checks.append(DUPLICATE_KEY)
    return _ReasonCodes(columns, checks, nullable, per_check, rows, len(columns) - 1)


@lru_cache(maxsize=64)
def _schema(contract: Contract) -> pandera.pandas.DataFrameSchema:
    return build_pandas_schema(contract, check_dtypes=False)


def _as_table(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    return batch


def _failure_cases(contract: Contract, frame: pd.DataFrame) -> pd.DataFrame | None:
    try:
        _schema(contract).validate(frame, lazy=True, inplace=True)
    except pandera_errors.SchemaErrors as exc:
        return exc.failure_cases
    return None


def _code_of(
    codes: _ReasonCodes, context: str, column: str, check: str, number: float
) -> int:
    if context == "DataFrameSchema" and number == number:  # not NaN
        return codes.row_code[int(number)]
    if check == NOT_NULLABLE:
        return codes.nullable_code[column]
    return codes.check_code[(column, int(number))]


def _failure_pairs(
    contract: Contract, table: pa.Table
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return (row index, reason code) arrays for every check failure."""
    frame = to_pandas(table.select(list(contract.column_names)))
    cases = _failure_cases(contract, frame)
    empty = np.zeros(0, dtype=np.int64)
    if cases is None or cases.empty:
        return empty, empty
    codes = _codes(contract)
    cases = cases.assign(check_number=cases["check_number"].astype("float64"))
    keys = ["schema_context", "column", "check", "check_number"]
    rows, found = [], []
    for (context, column, check, number), group in cases.groupby(keys, dropna=False):
        index = group["index"]
        try:
            code = _code_of(codes, str(context), str(column), str(check), float(number))
        except KeyError:
            code = -1
        if code < 0 or index.isna().any():
            label = f"{contract.name}@{contract.version}"
            raise SchemaMismatchError(
                f"check {check} of contract {label} could not run on column "
                f"{column}: fix the contract's check",
                reason=ContractErrorReason.CHECK_NOT_RUNNABLE,
                metadata={
                    "contract": label,
                    "column": str(column),
                    "check": str(check),
                },
            )
        rows.append(index.to_numpy(dtype=np.int64))
        found.append(np.full(len(index), code, dtype=np.int64))
    return np.concatenate(rows), np.concatenate(found)


def _build_reasons(
    n_rows: int,
    codes: _ReasonCodes,
    rows: npt.NDArray[np.int64],
    found: npt.NDArray[np.int64],
) -> pa.ListArray:
    width = len(codes.columns)
    # One sort gives row order, then contract order, and drops repeated pairs.
    pairs = np.unique(rows * width + found)
    rows, found = pairs // width, pairs % width
    offsets = np.zeros(n_rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=offsets[1:])
    take = pa.array(found, type=pa.int64())
    values = pa.StructArray.from_arrays(
        [
            pa.array(codes.columns, pa.string()).take(take),
            pa.array(codes.checks, pa.string()).take(take),
        ],
        fields=list(REASON_TYPE),
    )
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=REASONS_TYPE)


def row_reasons(contract: Contract, batch: pa.RecordBatch | pa.Table) -> pa.ListArray:
    """Return why each row fails the contract; an empty list means it passes.

    Runs the contract's Pandera schema (lazy) on a pandas conversion and maps
    the failure cases back to rows. Primary-key uniqueness is not checked here
    (it needs the whole dataset); see `duplicate_key_mask` and `table_reasons`.

    Args:
        contract: The contract.
        batch: Arrow data with at least the contract's columns; extras ignored.

    Returns:
        A `list<struct<column: string, check: string>>` array, one entry per
        input row. `check` is `not_nullable`, the Pandera check name (e.g.
        `greater_than_or_equal_to`), the custom check's name,
        `partition_not_empty`, `partition_path_valid`, or a row check's name
        with `column` the comma-joined columns.

    Raises:
        SchemaMismatchError: Columns are missing or have the wrong Arrow type
            (SCHEMA_MISMATCH); a check cannot run on its column
            (CHECK_NOT_RUNNABLE).
    """
    table = _as_table(batch)
    check_arrow_schema(contract, table.schema, allow_extra=True)
    if table.num_rows == 0:
        return pa.array([], type=REASONS_TYPE)
    rows, found = _failure_pairs(contract, table)
    return _build_reasons(table.num_rows, _codes(contract), rows, found)


def duplicate_key_mask(contract: Contract, table: pa.Table) -> pa.BooleanArray:
    """Mark rows that lose primary-key de-duplication.

    Among rows sharing a primary key (entity keys + event timestamp; nulls
    compare equal), the row reads would pick is kept (the point-in-time tie
    rule of `services.offline.join`): the greatest `created_timestamp` (a
    null created time ranks lowest), then the greatest tuple of the other
    contract columns in contract order, nulls lowest and NaN highest (the
    order of DuckDB, which the reads use, and of Spark), exactly as the Spark
    jobs rank them (`spark_jobs.validate`). Rows still tied are equal on
    every compared column; the first in input order is kept. Every other row
    is True in the mask and fails `duplicate_key`.

    Args:
        contract: The contract.
        table: The whole dataset or request, not a single Spark partition.

    Returns:
        A boolean array, True for rows to reject.

    Raises:
        SchemaMismatchError: a date column holds a date outside years 1 to
            9999 (as `row_reasons` refuses it).
    """
    table = _as_table(table)
    _dates_fit(table)
    key = list(contract.primary_key)
    ranked = [
        c.name
        for c in contract.columns
        if c.name not in key and c.name in table.column_names
    ]
    if contract.created_timestamp in ranked:  # ranked first
        ranked.remove(contract.created_timestamp)
        ranked.insert(0, contract.created_timestamp)
    frame = pd.DataFrame(
        {name: _order_codes(table.column(name)) for name in [*key, *ranked]}
    )
    frame["__pos"] = np.arange(len(frame))
    ordered = frame.sort_values(
        [*ranked, "__pos"],
        ascending=[*([False] * len(ranked)), True],
        kind="stable",
    )
    losers = ordered["__pos"].to_numpy()[ordered.duplicated(subset=key, keep="first")]
    mask = np.zeros(len(frame), dtype=bool)
    mask[losers] = True
    return pa.array(mask, type=pa.bool_())


def _order_codes(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Values as numbers in the order reads and Spark compare them: null 0
    (below every value, all nulls one number), then values ascending, NaN
    above every number, strings by their bytes; equal values one number.

    pandas groups values before comparing several columns, treats NaN as
    null, and its string hashing stops at a NUL ("a\\0b" and "a" would be
    one value); Arrow's ranks have none of these.
    """
    if _type_ok("string", column.type):
        column = column.cast(pa.large_binary())
    column = column.combine_chunks()
    # Arrow ranks NaN above every number and nulls above NaN: nulls become 0.
    ranks = pc.rank(column, sort_keys="ascending", tiebreaker="dense")
    codes = np.asarray(ranks.to_numpy(zero_copy_only=False), dtype=np.int64)
    codes[pc.is_null(column).to_numpy(zero_copy_only=False)] = 0
    return codes


def table_reasons(contract: Contract, table: pa.RecordBatch | pa.Table) -> pa.ListArray:
    """Return `row_reasons` plus `duplicate_key` reasons, for a whole table."""
    table = _as_table(table)
    check_arrow_schema(contract, table.schema, allow_extra=True)
    if table.num_rows == 0:
        return pa.array([], type=REASONS_TYPE)
    codes = _codes(contract)
    rows, found = _failure_pairs(contract, table)
    dup_rows = np.flatnonzero(
        duplicate_key_mask(contract, table).to_numpy(zero_copy_only=False)
    )
    rows = np.concatenate([rows, dup_rows.astype(np.int64)])
    found = np.concatenate([found, np.full(len(dup_rows), codes.duplicate_code)])
    return _build_reasons(table.num_rows, codes, rows, found)


@dataclass(frozen=True)
class ValidationSummary:
    """Counts over a `row_reasons` array."""

    rows: int
    """Rows validated."""
    passed: int
    """Rows with no reason."""
    failed: int
    """Rows with at least one reason."""
    counts: dict[str, int] = field(default_factory=dict)
    """Rows failing each `column:check`, keys sorted."""

    @property
    def failure_ratio(self) -> float:
        """Share of failing rows; 0.0 for no rows."""
        return self.failed / self.rows if self.rows else 0.0

    def within(self, max_failure_ratio: float) -> bool:
        """Whether the failure ratio is at most `max_failure_ratio`."""
        return self.failure_ratio <= max_failure_ratio

    def publishable(self, contract: Contract) -> bool:
        """Whether a publish of these rows would pass `contract`'s batch rules:
        the failure ratio within `max_failure_ratio` and at least `min_rows`
        rows (what the job's gate enforces)."""
        return self.within(contract.max_failure_ratio) and not contract.too_few_rows(
            self.rows
        )


def summarize(reasons: pa.ListArray | pa.ChunkedArray) -> ValidationSummary:
    """Count rows, passes, failures and failures by `column:check`."""
    if isinstance(reasons, pa.ChunkedArray):
        reasons = reasons.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(reasons), 0)
    failed = int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)
    flat = reasons.flatten()
    keys = pc.binary_join_element_wise(flat.field("column"), flat.field("check"), ":")
    counts = {
        str(item["values"]): int(item["counts"])
        for item in pc.value_counts(keys).to_pylist()
    }
    return ValidationSummary(
        rows=len(reasons),
        passed=len(reasons) - failed,
        failed=failed,
        counts=dict(sorted(counts.items())),
    )
