"""Refuse column values the online store would not hold as the table holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast.value_type import ValueType

from featurestore.services.offline.errors import FeatureColumnTypeError

if TYPE_CHECKING:
    from feast import FeatureView

_INT_RANGES = {
    ValueType.INT32: (-(2**31), 2**31 - 1),
    ValueType.INT64: (-(2**63), 2**63 - 1),
}
"""What a ``ValueProto`` int32_val / int64_val holds: wider integers wrap."""


@dataclass(frozen=True)
class _Unfit:
    """Values of a column its value type cannot hold, and what to do."""

    values: str
    fix: str
    detail: dict[str, str] = field(default_factory=dict)


def check_values_fit(
    fv: FeatureView,
    table: pa.Table,
    path: str,
    source_names: dict[str, str] | None = None,
) -> None:
    """Check that the online store can hold every join key and feature value
    of ``table`` (read from ``path``) as the table holds it.

    ``check_column_types`` accepts any integer width for INT32 and a float64
    for FLOAT; here their values are checked (one min/max pass each): an
    int64 beyond INT32's range would be read back wrapped, a float64 beyond
    float32's would be infinity. UNIX_TIMESTAMP join keys must be whole
    seconds, as Feast's entity key holds them and a client can send them: a
    fraction would be cut, merging entities or making up keys. Float32
    rounding and sub-second feature timestamps are Feast's rules, kept.

    Raises:
        FeatureColumnTypeError: A column with values that do not fit (view,
            column, value type and the values quoted).
    """
    names = source_names or {}
    fields = [
        *((key, "join_key") for key in fv.entity_columns),
        *((feature, "feature") for feature in fv.features),
    ]
    for fld, role in fields:
        column = names.get(fld.name, fld.name)
        if column not in table.column_names:
            continue
        values = table.column(column)
        expected = fld.dtype.to_value_type()
        unfit = _unfit(values, expected, role)
        if unfit is not None:
            raise FeatureColumnTypeError(
                column, str(values.type), expected.name, path=path, view=fv.name,
                role=role, values=unfit.values, fix=unfit.fix, detail=unfit.detail,
            )  # fmt: skip


def _unfit(values: pa.ChunkedArray, expected: ValueType, role: str) -> _Unfit | None:
    if expected in _INT_RANGES and pa.types.is_integer(values.type):
        return _beyond_int_range(values, expected, role)
    if expected is ValueType.FLOAT and pa.types.is_floating(values.type):
        return _beyond_float32(values)
    if (
        expected is ValueType.UNIX_TIMESTAMP
        and role == "join_key"
        and pa.types.is_timestamp(values.type)
    ):
        return _fractional_seconds(values)
    return None


def _beyond_int_range(
    values: pa.ChunkedArray, expected: ValueType, role: str
) -> _Unfit | None:
    low, high = _INT_RANGES[expected]
    least, most = _min_max(values)
    if least is None or (low <= least and most <= high):
        return None
    if expected is ValueType.INT32:
        wider = (
            "declare the entity's value_type INT64"
            if role == "join_key"
            else "declare the feature Int64"
        )
        fix = f"{wider} (then feast apply) or republish the column within that range"
    else:
        fix = "republish the column within that range"
    return _Unfit(
        f"with values from {least} to {most}, outside {expected.name}'s range "
        f"{low} to {high}",
        fix,
        {"min": str(least), "max": str(most)},
    )


def _beyond_float32(values: pa.ChunkedArray) -> _Unfit | None:
    # Infinities stay infinities; only finite values can overflow.
    least, most = _min_max(values.filter(pc.is_finite(values)))
    if least is None:
        return None
    with np.errstate(over="ignore"):
        overflows = np.isinf(np.array([least, most], np.float32)).any()
    if not overflows:
        return None
    return _Unfit(
        f"with values from {least!r} to {most!r}, beyond FLOAT's range "
        f"(±{float(np.finfo(np.float32).max)!r}; they would be read as infinity)",
        "declare the feature Float64 (then feast apply) or republish the column "
        "within that range",
        {"min": repr(least), "max": repr(most)},
    )


def _fractional_seconds(values: pa.ChunkedArray) -> _Unfit | None:
    if values.type.unit == "s":
        return None
    fractional = pc.not_equal(pc.floor_temporal(values, unit="second"), values)
    count = pc.sum(fractional).as_py() or 0
    if not count:
        return None
    example = pc.cast(values.filter(fractional)[0], pa.string()).as_py()
    return _Unfit(
        f"with {count} value(s) holding a fraction of a second, such as {example}; "
        "UNIX_TIMESTAMP keys are whole seconds (no client can send a fractional "
        "one, and cutting it would merge entities or make up keys)",
        "republish the column truncated to whole seconds, or key the entity by "
        "another value type (then feast apply)",
        {"count": str(count), "example": example},
    )


def _min_max(values: pa.ChunkedArray) -> tuple[Any, Any]:
    found = pc.min_max(values)
    return found["min"].as_py(), found["max"].as_py()
