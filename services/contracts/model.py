"""Typed, strictly parsed contract model: Contract, Column, Check and RowCheck."""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timedelta
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from featurestore.services.contracts import checks as _checks
from featurestore.services.contracts._duration import parse_duration
from featurestore.services.contracts._semver import Version
from featurestore.services.contracts._yaml import dump_yaml, format_error, load_yaml
from featurestore.services.contracts.drift import (
    DriftBlock,
    DriftSettings,
    profile_kind,
    resolve,
)
from featurestore.services.contracts.sla import FreshnessSla, SlaProperty, split_element

ColumnType = Literal["int64", "float64", "string", "bool", "timestamp", "date"]
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr | datetime | date

_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NUMERIC_TYPES = frozenset({"int64", "float64"})
_STRING_ONLY = frozenset({"str_matches", "str_length"})
# Partition values are exact: no float (NaN, -0.0) and no timestamp (zones).
_PARTITION_TYPES = frozenset({"string", "int64", "date", "bool"})
PARTITION_NAME_MAX = 128
"""Longest `partition_by` column name: ``name=value`` directories must fit 255
bytes (see `_partitions.SEGMENT_MAX_BYTES`), so leave room for the value."""
_SCALAR = TypeAdapter(Scalar)
_SCALARS = TypeAdapter(tuple[Scalar, ...])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InRange(_Strict):
    """Arguments of `in_range`: bounds, inclusive unless told otherwise."""

    min_value: StrictInt | StrictFloat
    max_value: StrictInt | StrictFloat
    include_min: StrictBool = True
    include_max: StrictBool = True

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_value > self.max_value:
            raise ValueError("in_range min_value is greater than max_value")
        return self


class StrLength(_Strict):
    """Arguments of `str_length`: inclusive bounds, at least one given."""

    min_value: StrictInt | None = Field(default=None, ge=0)
    max_value: StrictInt | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.min_value is None and self.max_value is None:
            raise ValueError("str_length needs min_value or max_value")
        if (
            self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise ValueError("str_length min_value is greater than max_value")
        return self


_LOWER_BOUNDS = frozenset({"greater_than", "greater_than_or_equal_to"})
_UPPER_BOUNDS = frozenset({"less_than", "less_than_or_equal_to"})


def _no_nan(name: str, values: tuple[Any, ...]) -> None:
    # NaN compares false with everything: every non-null value would fail.
    if any(isinstance(v, float) and math.isnan(v) for v in values):
        raise ValueError(f"{name}: NaN is no value to compare with")


def _passable(name: str, lower: Any, upper: Any) -> None:
    # A lower bound of +inf or an upper bound of -inf lets no finite value pass.
    if lower == math.inf or upper == -math.inf:
        raise ValueError(f"{name}: an infinite bound that no finite value passes")


def _parse_check_args(name: str, raw: Any) -> Any:
    if name in _checks.COMPARISON_CHECKS:
        value = _SCALAR.validate_python(raw)
        _no_nan(name, (value,))
        _passable(
            name,
            value if name in _LOWER_BOUNDS else None,
            value if name in _UPPER_BOUNDS else None,
        )
        return value
    if name in ("isin", "notin"):
        values = _SCALARS.validate_python(raw)
        if not values:
            raise ValueError(f"{name} needs at least one value")
        _no_nan(name, values)
        return values
    if name == "in_range":
        bounds = InRange.model_validate(raw)
        _no_nan(name, (bounds.min_value, bounds.max_value))
        _passable(name, bounds.min_value, bounds.max_value)
        return bounds
    if name == "str_length":
        return StrLength.model_validate(raw)
    if not isinstance(raw, str):
        raise ValueError("str_matches needs a regular expression string")
    try:
        re.compile(raw)
    except re.error as exc:
        raise ValueError(f"str_matches: invalid regex {raw!r}: {exc}") from exc
    return raw


class Check(_Strict):
    """One column check: a built-in Pandera check or a registered custom one.

    In YAML a check is a one-key mapping, `greater_than: 0`, `custom: finite`
    (registered) or `check: mypkg.checks:positive_amount` (imported where the
    check runs, see `checks.column_check`).
    """

    name: str
    """Pandera check name, a custom check's registered name or its reference."""
    args: Any = None
    """Parsed arguments: a scalar, a tuple, `InRange`, `StrLength` or a regex."""
    custom: bool = False
    """True for a custom check (`custom: <name>` or `check: <module:function>`)."""

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "name" in data:
            return data
        if len(data) != 1:
            raise ValueError("a check is a mapping with exactly one key")
        ((name, raw),) = data.items()
        if name in ("check", "custom") and isinstance(raw, str):
            if _checks.is_reference(raw):
                _checks.column_check(raw)  # imported now: a bad one fails the load
                return {"name": raw, "custom": True}
            if name == "check":
                raise ValueError(f"check {raw!r} is not of the form module:function")
        if name == "custom":
            if raw not in _checks.column_check_names():
                known = ", ".join(_checks.column_check_names())
                raise ValueError(f"unknown custom check {raw!r} (known: {known})")
            return {"name": raw, "custom": True}
        if name not in _checks.BUILTIN_CHECKS:
            raise ValueError(f"unknown check {name!r}")
        return {"name": name, "args": _parse_check_args(name, raw)}

    def to_yaml_obj(self) -> dict[str, Any]:
        """Return the check in its YAML form, a one-key mapping."""
        if self.custom:
            return {"check" if _checks.is_reference(self.name) else "custom": self.name}
        args = self.args
        if isinstance(args, BaseModel):
            args = args.model_dump(exclude_defaults=True)
        elif isinstance(args, tuple):
            args = list(args)
        return {self.name: args}


def _fits(column_type: str, value: Any) -> bool:
    if column_type in _NUMERIC_TYPES:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if column_type == "timestamp":
        return isinstance(value, datetime) and value.tzinfo is not None
    if column_type == "date":
        return isinstance(value, date) and not isinstance(value, datetime)
    expected = {"string": str, "bool": bool}[column_type]
    return isinstance(value, expected)


def _check_values(check: Check) -> tuple[Any, ...]:
    if isinstance(check.args, InRange):
        return (check.args.min_value, check.args.max_value)
    if isinstance(check.args, tuple):
        return check.args
    return (check.args,)


class Column(_Strict):
    """One column of a contract."""

    name: str = Field(pattern=_IDENTIFIER)
    """Column name, as in the Delta table and the Arrow batches."""
    type: ColumnType
    """Logical type; timestamps are tz-aware UTC, microsecond precision."""
    nullable: StrictBool
    """Whether nulls (and float NaN) are allowed."""
    description: StrictStr = ""
    """Free text for readers of the contract."""
    checks: tuple[Check, ...] = ()
    """Checks every non-null value must pass."""

    @model_validator(mode="after")
    def _checks_fit_type(self) -> Self:
        seen: set[str] = set()
        for check in self.checks:
            if check.name in seen:
                raise ValueError(f"check {check.name!r} appears twice")
            seen.add(check.name)
            self._check_fits(check)
        return self

    def _check_fits(self, check: Check) -> None:
        if check.custom:
            allowed = _checks.column_check(check.name).types
            if self.type not in allowed:
                raise ValueError(f"custom check {check.name!r} needs {sorted(allowed)}")
        elif check.name in _STRING_ONLY:
            if self.type != "string":
                raise ValueError(f"{check.name} applies to string columns only")
        elif not all(_fits(self.type, v) for v in _check_values(check)):
            raise ValueError(f"{check.name} value does not fit type {self.type}")
        elif self.type == "bool" and check.name not in ("equal_to", "not_equal_to"):
            raise ValueError(f"{check.name} does not apply to bool columns")


class RowCheck(_Strict):
    """A multi-column check; YAML form `- <name or module:function>: [columns]`."""

    name: str
    """Registered row check name (see `checks.row_check_names()`)."""
    columns: tuple[str, ...]
    """The columns it reads, in order."""

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "name" in data:
            return data
        if len(data) != 1:
            raise ValueError("a row check is a mapping with exactly one key")
        ((name, columns),) = data.items()
        return {"name": name, "columns": columns}

    @model_validator(mode="after")
    def _registered(self) -> Self:
        if _checks.is_reference(self.name):
            _checks.row_check(self.name)  # imported now: a bad one fails the load
        elif self.name not in _checks.row_check_names():
            known = ", ".join(_checks.row_check_names())
            raise ValueError(f"unknown row check {self.name!r} (known: {known})")
        spec = _checks.row_check(self.name)
        if len(self.columns) < spec.min_columns:
            raise ValueError(f"{self.name} needs at least {spec.min_columns} columns")
        return self

    @property
    def reason_column(self) -> str:
        """The `column` value of this check's row reasons: columns comma-joined."""
        return ",".join(self.columns)

    def to_yaml_obj(self) -> dict[str, Any]:
        """Return the row check in its YAML form."""
        return {self.name: list(self.columns)}


class CustomProperty(_Strict):
    """One ODCS `customProperties` entry; `drift` is parsed, others kept as is."""

    property: StrictStr = Field(min_length=1)
    """Property name; `drift` holds a `DriftBlock`."""
    value: Any = None
    """The value; a `DriftBlock` for `drift`."""
    description: StrictStr | None = None
    """Free text for readers of the contract."""

    @model_validator(mode="before")
    @classmethod
    def _parse_drift(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("property") == "drift":
            value = data.get("value")
            if not isinstance(value, DriftBlock):
                return {**data, "value": DriftBlock.model_validate(value or {})}
        return data

    def __hash__(self) -> int:
        # Contracts are hashed (cache keys); a value may be a dict or a list.
        return hash(json.dumps(self.to_yaml_obj(), sort_keys=True, default=str))

    def to_yaml_obj(self) -> dict[str, Any]:
        """Return the entry in its YAML form."""
        value = self.value
        if isinstance(value, DriftBlock):
            value = value.to_yaml_obj()
        data: dict[str, Any] = {"property": self.property, "value": value}
        if self.description is not None:
            data["description"] = self.description
        return data


class Contract(_Strict):
    """A data contract for one dataset version, parsed from one YAML file."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """Dataset name; equals the folder name under the contracts root."""
    version: StrictStr
    """Semantic version, without build metadata; equals the file name without
    `.yaml`."""
    owner: StrictStr = Field(min_length=1)
    """Team or address answerable for the dataset."""
    description: StrictStr = ""
    """Free text for readers of the contract."""
    entity_keys: tuple[str, ...] = Field(min_length=1)
    """Entity key columns; primary key is these plus `event_timestamp`."""
    event_timestamp: StrictStr
    """Column holding the event time (UTC)."""
    created_timestamp: StrictStr
    """Column holding the row's creation time; the newest wins on duplicates."""
    freshness: StrictStr | None = None
    """Maximum age of the newest event, e.g. `7d`, `36h`, `90m`; the short form
    of an `slaProperties` latency entry (give one of the two)."""
    max_failure_ratio: StrictFloat | StrictInt = Field(ge=0, le=1)
    """Share of failing rows a batch may have and still publish."""
    min_rows: StrictInt | None = Field(default=None, ge=0)
    """Fewest rows a batch may have and still publish, counted before the
    verdict (failing rows count; `max_failure_ratio` judges them). A smaller
    batch is refused whole on every publish mode: nothing is written, nothing
    quarantined. None (absent): no minimum."""
    columns: tuple[Column, ...] = Field(min_length=1)
    """Every column of the dataset; no others are allowed when publishing."""
    row_checks: tuple[RowCheck, ...] = ()
    """Multi-column checks by registered name."""
    keys: tuple[str, ...] = Field(default=(), min_length=1)
    """Row key columns; with `event_timestamp` they identify one row (the
    primary key: duplicates fail, `merge` publishes upsert on it). Must include
    every entity key. Default: `entity_keys`."""
    partition_by: tuple[str, ...] = ()
    """Delta partition columns (string, int64, date or bool), in order; a
    `replace_partitions` publish replaces the partitions its rows fall in. An
    empty string in a string partition column fails `partition_not_empty`
    (Delta would store it as null), a value whose directory cannot be created
    (over 255 bytes escaped, or a NUL) `partition_path_valid`."""
    sla_properties: tuple[SlaProperty, ...] = Field(default=(), alias="slaProperties")
    """ODCS v3.1 SLA entries: `latency` (alias `freshness`) and `frequency`."""
    custom_properties: tuple[CustomProperty, ...] = Field(
        default=(), alias="customProperties"
    )
    """ODCS custom properties; `drift` configures drift scoring."""

    @model_validator(mode="before")
    @classmethod
    def _default_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "keys" not in data and "entity_keys" in data:
            return {**data, "keys": data["entity_keys"]}
        return data

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        build = Version.parse(value).build
        if build:
            # `+` is also no file name a lookup (--version) accepts.
            raise ValueError(
                f"build metadata (+{build}) is not allowed: semver gives it no "
                "precedence, so versions differing only in it are ambiguous; "
                f"use {value.removesuffix(f'+{build}')}"
            )
        return value

    @field_validator("freshness")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate columns: {', '.join(dupes)}")
        if len(set(self.entity_keys)) != len(self.entity_keys):
            raise ValueError("entity_keys repeat a column")
        if self.event_timestamp in self.entity_keys:
            raise ValueError("event_timestamp must not be an entity key")
        self._keys_fit()
        if self.created_timestamp in self.primary_key:
            raise ValueError("created_timestamp must not be part of the primary key")
        for key in self.primary_key:
            self._require(key, "primary key", nullable=False)
        for field in (self.event_timestamp, self.created_timestamp):
            self._require(field, "timestamp field", nullable=False, type_="timestamp")
        for row in self.row_checks:
            self._row_check_fits(row)
        self._sla_fits()
        self._drift_fits()
        return self

    def _sla_fits(self) -> None:
        kinds = [p.kind for p in self.sla_properties]
        latency = [p for p in self.sla_properties if p.is_latency]
        if len(latency) > 1 or kinds.count("frequency") > 1:
            raise ValueError("slaProperties repeat a property")
        if (self.freshness is None) == (not latency):
            raise ValueError(
                "give the freshness SLA once: freshness, or an slaProperties "
                "latency entry"
            )
        for prop in self.sla_properties:
            if prop.element is None:
                continue
            table, column = split_element(prop.element)
            if table != self.name:
                raise ValueError(f"element {prop.element!r} names another table")
            if prop.is_latency:
                self._require(
                    column, "latency element", nullable=True, type_="timestamp"
                )
            elif column not in self.column_names:
                raise ValueError(f"element column {column!r} is not among columns")

    def _drift_fits(self) -> None:
        blocks = [p for p in self.custom_properties if p.property == "drift"]
        if len(blocks) > 1:
            raise ValueError("customProperties repeat drift")
        watched = self.drift
        for name in self.drift_block.columns:
            if name not in watched:
                raise ValueError(
                    f"drift column {name!r} is not a feature column "
                    "(int64, float64, string or bool; not a key or timestamp)"
                )

    def _keys_fit(self) -> None:
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("keys repeat a column")
        if self.event_timestamp in self.keys:
            raise ValueError("event_timestamp must not be in keys (it is implied)")
        missing = [k for k in self.entity_keys if k not in self.keys]
        if missing:
            raise ValueError(f"keys must include every entity key: {missing}")
        if len(set(self.partition_by)) != len(self.partition_by):
            raise ValueError("partition_by repeats a column")
        for name in self.partition_by:
            col = next((c for c in self.columns if c.name == name), None)
            if col is None:
                raise ValueError(f"partition_by column {name!r} is not among columns")
            if col.type not in _PARTITION_TYPES:
                raise ValueError(
                    f"partition_by column {name!r} must be string, int64, date or bool"
                )
            if len(name) > PARTITION_NAME_MAX:
                raise ValueError(
                    f"partition_by column {name[:24]!r}... is longer than "
                    f"{PARTITION_NAME_MAX} characters: each of its partition "
                    "directories (name=value) must fit 255 bytes"
                )

    def _require(
        self, name: str, role: str, *, nullable: bool, type_: str | None = None
    ) -> None:
        col = next((c for c in self.columns if c.name == name), None)
        if col is None:
            raise ValueError(f"{role} column {name!r} is not among columns")
        if col.nullable and not nullable:
            raise ValueError(f"{role} column {name!r} must not be nullable")
        if type_ is not None and col.type != type_:
            raise ValueError(f"{role} column {name!r} must have type {type_}")

    def _row_check_fits(self, row: RowCheck) -> None:
        spec = _checks.row_check(row.name)
        types = set()
        for name in row.columns:
            col = next((c for c in self.columns if c.name == name), None)
            if col is None:
                raise ValueError(f"row check {row.name}: unknown column {name!r}")
            if col.type not in spec.types:
                raise ValueError(f"row check {row.name}: column {name!r} type")
            types.add("number" if col.type in _NUMERIC_TYPES else col.type)
        if len(types) > 1:
            raise ValueError(f"row check {row.name}: columns mix incomparable types")

    def too_few_rows(self, rows: int) -> bool:
        """Whether a batch of `rows` rows is below `min_rows` (never without one)."""
        return self.min_rows is not None and rows < self.min_rows

    @property
    def semver(self) -> Version:
        """The parsed version."""
        return Version.parse(self.version)

    @property
    def freshness_delta(self) -> timedelta:
        """The maximum age of the newest event (`freshness_sla.max_age`)."""
        return self.freshness_sla.max_age

    @property
    def freshness_sla(self) -> FreshnessSla:
        """The freshness SLA, from `freshness` or the `slaProperties` entries."""
        latency = next((p for p in self.sla_properties if p.is_latency), None)
        frequency = next(
            (p.duration for p in self.sla_properties if p.kind == "frequency"),
            None,
        )
        if latency is None:
            assert self.freshness is not None  # checked when parsed
            return FreshnessSla(
                parse_duration(self.freshness), self.event_timestamp, frequency
            )
        column = self.event_timestamp
        if latency.element is not None:
            column = split_element(latency.element)[1]
        return FreshnessSla(latency.duration, column, frequency)

    @property
    def drift_block(self) -> DriftBlock:
        """The drift block as written (defaults when the contract has none)."""
        for prop in self.custom_properties:
            if prop.property == "drift" and isinstance(prop.value, DriftBlock):
                return prop.value
        return DriftBlock()

    @property
    def drift(self) -> dict[str, DriftSettings]:
        """Resolved drift settings per feature column, in contract order.

        Feature columns are the int64, float64, string and bool columns that
        are neither a key nor a timestamp field.
        """
        block = self.drift_block
        skip = {*self.primary_key, self.created_timestamp}
        out: dict[str, DriftSettings] = {}
        for col in self.columns:
            kind = profile_kind(col.type)
            if kind is not None and col.name not in skip:
                out[col.name] = resolve(block, col.name, kind)
        return out

    @property
    def primary_key(self) -> tuple[str, ...]:
        """Row keys (default: the entity keys), then the event timestamp; unique."""
        return (*self.keys, self.event_timestamp)

    @property
    def string_partitions(self) -> tuple[str, ...]:
        """`partition_by` columns of type string: `""` there fails
        `partition_not_empty` (Delta would store it as null), a value whose
        partition directory cannot be created `partition_path_valid`."""
        return tuple(
            c.name
            for c in self.columns
            if c.name in self.partition_by and c.type == "string"
        )

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in contract order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """Return the column called `name` (KeyError if none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_yaml_obj(self) -> dict[str, Any]:
        """Return the contract as plain data in the YAML file's shape."""
        data = self.model_dump(
            exclude={
                "columns",
                "row_checks",
                "keys",
                "partition_by",
                "sla_properties",
                "custom_properties",
            }
        )
        if self.freshness is None:
            del data["freshness"]
        if self.min_rows is None:
            del data["min_rows"]
        if self.sla_properties:
            data["slaProperties"] = [
                p.model_dump(exclude_none=True, by_alias=True)
                for p in self.sla_properties
            ]
        data["entity_keys"] = list(self.entity_keys)
        if self.keys != self.entity_keys:
            data["keys"] = list(self.keys)
        if self.partition_by:
            data["partition_by"] = list(self.partition_by)
        data["columns"] = []
        for col in self.columns:
            entry = col.model_dump(exclude={"checks"})
            if col.checks:
                entry["checks"] = [c.to_yaml_obj() for c in col.checks]
            data["columns"].append(entry)
        if self.row_checks:
            data["row_checks"] = [r.to_yaml_obj() for r in self.row_checks]
        if self.custom_properties:
            data["customProperties"] = [p.to_yaml_obj() for p in self.custom_properties]
        return data

    def to_yaml(self) -> str:
        """Serialise to YAML that `parse_contract` reads back to an equal model."""
        return dump_yaml(self.to_yaml_obj())


def parse_contract(text: str, source: str = "<string>") -> Contract:
    """Parse contract YAML text into a `Contract`.

    Args:
        text: The YAML document.
        source: File name used in error messages and metadata.

    Returns:
        The validated contract.

    Raises:
        ContractFormatError: The YAML is invalid or a field is wrong; the
            message is one line naming `source` and the field.
    """
    data = load_yaml(text, source)
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        raise format_error(exc, data, source) from None
