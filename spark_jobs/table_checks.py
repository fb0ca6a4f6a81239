"""A contract against the rows a Delta table (and its quarantine) already holds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.services.contracts import (
    Contract,
    SchemaMismatchError,
    check_arrow_schema,
    row_reasons,
)
from featurestore.services.contracts.compat import NARROWING_CHECK_KINDS, Change
from featurestore.spark_jobs.errors import ContractViolationError, Reason


def check_table_schema(
    contract: Contract,
    table: pa.Schema,
    location: str,
    partition_columns: Sequence[str],
    null_counts: Callable[[list[str]], Mapping[str, int]],
    check_failures: Callable[[], Mapping[str, int]] | None = None,
) -> None:
    """Refuse a contract whose columns the table's rows cannot hold as they are.

    For publishes that keep the table's rows (every mode but ``overwrite``):
    a column the contract adds joins the schema with null in every older row,
    so it must be nullable in the contract; a column the contract requires
    (``nullable: false``) must hold no null in the table's rows (a contract
    made stricter than the rows already published); the contract's
    ``partition_by`` must be how the table is partitioned (Delta keeps a
    table's partitioning: rows appended under another would skip the
    partition checks of the columns really used); a column both have must
    keep its type. int64 -> float64 is refused too: Delta changes a stored
    column's type only through its type-widening table feature, a protocol upgrade
    every reader of the table must support; without it the engines disagree
    (Spark refuses the write, delta-rs casts the batch to the table's type),
    and a float64 contract over int64 rows is not what the table holds. An
    ``overwrite`` rewrites every row and takes any contract. Columns the
    contract dropped stay in the table (new rows hold null there). Likewise a
    check the contract added or tightened must pass on the table's rows
    (``check_failures``, asked only when the types agree: see
    ``stored_check_failures``).

    Args:
        contract: The contract the batch was validated against.
        table: Arrow schema of the existing table.
        location: The table, for the message.
        partition_columns: The table's partition columns, in order.
        null_counts: Nulls in the table's rows of each column named.
        check_failures: The table's rows failing each check the contract
            made stricter, by ``column:check`` (None: no check to ask about).

    Raises:
        ContractViolationError: SCHEMA_MISMATCH; metadata ``required_added``
            (columns), ``nulls_in_required`` (``col=count`` pairs),
            ``checks_failed`` (``col:check=count`` pairs),
            ``partitioning`` (``table:contract`` column lists),
            ``wrong_types`` (``col=contract:table`` pairs).
    """
    problems: dict[str, str] = {}
    try:
        check_arrow_schema(contract, table, allow_extra=True)
    except SchemaMismatchError as exc:
        problems = exc.metadata
    missing = set(filter(None, problems.get("missing", "").split(",")))
    required = [c.name for c in contract.columns if not c.nullable]
    held = [name for name in required if name in table.names]
    nulls = {name: n for name, n in null_counts(held).items() if n} if held else {}
    wrong_types = problems.get("wrong_types", "")
    failing = check_failures() if check_failures and not wrong_types else {}
    found = {
        k: v
        for k, v in {
            "required_added": ",".join(n for n in required if n in missing),
            "nulls_in_required": ",".join(f"{k}={v}" for k, v in nulls.items()),
            "checks_failed": ",".join(f"{k}={v}" for k, v in failing.items() if v),
            "partitioning": _partitioning(contract, partition_columns),
            "wrong_types": wrong_types,
        }.items()
        if v
    }
    if not found:
        return
    label = f"{contract.name}@{contract.version}"
    text = "; ".join(f"{k}: {v}" for k, v in found.items())
    fix = "publish with mode overwrite to rewrite it"
    if "checks_failed" in found:
        fix += (
            ", or fix those stored rows first (republish them passing), "
            "or loosen the check in a new contract version"
        )
    raise ContractViolationError(
        Reason.SCHEMA_MISMATCH,
        f"{location}: contract {label} changes the table's schema in a way its "
        f"rows cannot keep ({text}); {fix}; nothing published",
        contract=label,
        table=location,
        **found,
    )


def check_quarantine_schema(
    contract: Contract, quarantine: pa.Schema, location: str
) -> None:
    """Refuse failing rows the quarantine table cannot hold as they are.

    The quarantine table keeps the rows of every contract version; a new one
    that changes a column's type would have its failing rows cast to the
    type an earlier contract gave the column (Delta's MERGE casts: -2.5
    stored as -2), or fail inside Spark when no cast exists. Columns the
    contract adds join the table; only changed types are refused, before
    anything is written.

    Raises:
        ContractViolationError: SCHEMA_MISMATCH; metadata ``wrong_types``
            (``col=contract:quarantine`` pairs) and ``quarantine``.
    """
    try:
        check_arrow_schema(contract, quarantine, allow_extra=True)
    except SchemaMismatchError as exc:
        wrong = exc.metadata.get("wrong_types", "")
    else:
        wrong = ""
    if not wrong:
        return
    label = f"{contract.name}@{contract.version}"
    raise ContractViolationError(
        Reason.SCHEMA_MISMATCH,
        f"{location} holds rows failed under an earlier contract with other "
        f"column types than {label} ({wrong}): its failing rows cannot be kept "
        "there unchanged. Move that quarantine table aside (it keeps the earlier "
        "rows), then run again; nothing was published",
        contract=label,
        quarantine=location,
        wrong_types=wrong,
    )


def _partitioning(contract: Contract, table: Sequence[str]) -> str:
    if list(contract.partition_by) == list(table):
        return ""
    return f"{','.join(table) or '-'}:{','.join(contract.partition_by) or '-'}"


def narrowed_checks(
    contract: Contract, held: Collection[str], changes: Sequence[Change] | None
) -> Contract | None:
    """``contract`` cut down to the checks a stored row may newly fail.

    Those the ``changes`` from the table's earlier contract added, tightened
    or changed (``NARROWING_CHECK_KINDS``), or every check when the earlier
    contract is unknown (None), on the columns the table holds (``held``; an
    added column is null in every stored row, and a null fails no check of a
    nullable column). Nullability is ``check_table_schema``'s, and the
    partition checks go with the partitioning it compares: all columns are
    nullable here and none is a partition.

    Returns:
        A contract holding only those checks and their columns, or None when
        there is no check to run.
    """
    narrowed = (
        None
        if changes is None
        else {(c.column, c.check) for c in changes if c.kind in NARROWING_CHECK_KINDS}
    )

    def kept(column: str, check: str) -> bool:
        return narrowed is None or (column, check) in narrowed

    rows = tuple(
        r
        for r in contract.row_checks
        if all(c in held for c in r.columns) and kept(r.reason_column, r.name)
    )
    wanted = {c for r in rows for c in r.columns}
    columns = []
    for col in contract.columns:
        checks = tuple(c for c in col.checks if kept(col.name, c.name))
        if col.name in held and (checks or col.name in wanted):
            columns.append(col.model_copy(update={"checks": checks, "nullable": True}))
    if not columns:
        return None
    return contract.model_copy(
        update={"columns": tuple(columns), "row_checks": rows, "partition_by": ()}
    )


_STORED_BATCH_ROWS = 65_536
"""Stored rows judged at a time: bounds the pandas copy Pandera works on."""


def stored_check_failures(checks: Contract, rows: pa.Table) -> dict[str, int]:
    """Count the stored ``rows`` failing each check of ``checks`` (one pass).

    Args:
        checks: The checks to run (``narrowed_checks``).
        rows: The table's rows, at least the columns of ``checks``.

    Returns:
        Failing rows by ``column:check``, in contract order; passing checks
        are left out.

    Raises:
        ContractViolationError: SCHEMA_MISMATCH when a check cannot run on
            its stored column (CHECK_NOT_RUNNABLE in ``metadata["problem"]``).
    """
    counts: Counter[str] = Counter()
    try:
        for batch in rows.to_batches(max_chunksize=_STORED_BATCH_ROWS):
            failed = pc.list_flatten(row_reasons(checks, batch))
            if len(failed):
                labels = pc.binary_join_element_wise(
                    failed.field("column"), failed.field("check"), ":"
                )
                for item in pc.value_counts(labels).to_pylist():
                    counts[item["values"]] += item["counts"]
    except SchemaMismatchError as exc:
        raise ContractViolationError(
            Reason.SCHEMA_MISMATCH,
            f"judging the stored rows: {exc}",
            problem=exc.reason.value,
            **exc.metadata,
        ) from exc
    order = [f"{c.name}:{k.name}" for c in checks.columns for k in c.checks]
    order += [f"{r.reason_column}:{r.name}" for r in checks.row_checks]
    return {label: counts[label] for label in order if counts[label]}
