"""The drift block of a contract (ODCS `customProperties`) and its per-column settings.

In YAML::

    customProperties:
      - property: drift
        value:
          metric: psi              # psi | js (Jensen-Shannon distance, base 2)
          warn: 0.1                # score at or above: warn
          fail: 0.2                # score at or above: fail (blocks with on_drift)
          bins: 10                 # equal-frequency buckets from the baseline
          top_k: 10                # categorical columns: baseline top-k + other
          baseline: {version: 3}   # or {training_set: path/to/manifest.json}
          on_drift: warn           # warn | block
          columns:
            spend_24h: {metric: js, fail: 0.3}
            count_1h: {enabled: false}

Every feature column (not a key, not a timestamp) is watched with these
settings, or the defaults when the contract has no drift block.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

DriftMetric = Literal["psi", "js"]
"""Population stability index, or Jensen-Shannon distance (base 2, in [0, 1])."""
OnDrift = Literal["warn", "block"]
"""What a `fail` verdict does to the publish."""
ProfileKind = Literal["numeric", "categorical"]
"""Numeric columns get bucket edges, categorical ones top-k categories."""

DEFAULT_WARN = 0.1
DEFAULT_FAIL = 0.2
DEFAULT_BINS = 10
DEFAULT_TOP_K = 10
MAX_BINS = 100

_KINDS: dict[str, ProfileKind] = {
    "int64": "numeric",
    "float64": "numeric",
    "string": "categorical",
    "bool": "categorical",
}
Threshold = StrictFloat | StrictInt


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftBaseline(_Strict):
    """What drift is measured against, besides the previous version.

    YAML: `{version: 3}` (a pinned Delta version of the table), or
    `{training_set: path}` (a training-set manifest from GetHistoricalFeatures:
    the table version the model was trained on).
    """

    version: StrictInt | None = Field(default=None, ge=0)
    """Pinned Delta version of the feature table."""
    training_set: StrictStr | None = Field(default=None, min_length=1)
    """Path of a training-set manifest (JSON) pinning the table's version."""

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.version is None) == (self.training_set is None):
            raise ValueError("baseline needs exactly one of version, training_set")
        return self


def _ordered(warn: float | None, fail: float | None) -> None:
    if warn is not None and fail is not None and warn > fail:
        raise ValueError("drift warn is greater than fail")


class ColumnDrift(_Strict):
    """Per-column overrides of the table's drift settings."""

    metric: DriftMetric | None = None
    warn: Threshold | None = Field(default=None, ge=0)
    fail: Threshold | None = Field(default=None, ge=0)
    bins: StrictInt | None = Field(default=None, ge=2, le=MAX_BINS)
    top_k: StrictInt | None = Field(default=None, ge=1, le=MAX_BINS)
    on_drift: OnDrift | None = None
    enabled: StrictBool = True
    """False: the column is profiled but not scored."""

    @model_validator(mode="after")
    def _thresholds(self) -> Self:
        _ordered(self.warn, self.fail)
        return self


class DriftBlock(_Strict):
    """The table's drift settings as written in the contract."""

    metric: DriftMetric = "psi"
    warn: Threshold = Field(default=DEFAULT_WARN, ge=0)
    fail: Threshold = Field(default=DEFAULT_FAIL, ge=0)
    bins: StrictInt = Field(default=DEFAULT_BINS, ge=2, le=MAX_BINS)
    top_k: StrictInt = Field(default=DEFAULT_TOP_K, ge=1, le=MAX_BINS)
    baseline: DriftBaseline | None = None
    on_drift: OnDrift = "warn"
    columns: Mapping[str, ColumnDrift] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _thresholds(self) -> Self:
        _ordered(self.warn, self.fail)
        return self

    def __hash__(self) -> int:
        # Contracts are hashed (cache keys); `columns` is a dict.
        return hash(json.dumps(self.to_yaml_obj(), sort_keys=True))

    def to_yaml_obj(self) -> dict[str, Any]:
        """Return the block in its YAML form (defaults left out)."""
        data = self.model_dump(exclude_defaults=True, exclude={"columns"})
        if self.columns:
            data["columns"] = {
                name: col.model_dump(exclude_defaults=True)
                for name, col in self.columns.items()
            }
        return data


@dataclass(frozen=True)
class DriftSettings:
    """The resolved drift settings of one feature column."""

    column: str
    """Feature column name."""
    kind: ProfileKind
    """Numeric (buckets) or categorical (top-k plus other)."""
    metric: DriftMetric
    warn: float
    """A score at or above this is a warning."""
    fail: float
    """A score at or above this fails; with `on_drift: block` it refuses the publish."""
    bins: int
    """Equal-frequency buckets (numeric), ±inf at the ends, nulls apart."""
    top_k: int
    """Categories kept (categorical); the rest count as `other`."""
    on_drift: OnDrift
    enabled: bool = True
    """False: profiled, not scored."""

    def to_json_obj(self) -> dict[str, object]:
        """Return the settings as JSON-ready data."""
        return {
            "column": self.column,
            "kind": self.kind,
            "metric": self.metric,
            "warn": self.warn,
            "fail": self.fail,
            "bins": self.bins,
            "top_k": self.top_k,
            "on_drift": self.on_drift,
            "enabled": self.enabled,
        }


def profile_kind(column_type: str) -> ProfileKind | None:
    """Profile kind of a contract column type (None: not profiled)."""
    return _KINDS.get(column_type)


def resolve(block: DriftBlock, column: str, kind: ProfileKind) -> DriftSettings:
    """Apply `column`'s overrides from `block` onto the table settings."""
    over = block.columns.get(column, ColumnDrift())
    warn = float(over.warn if over.warn is not None else block.warn)
    fail = float(over.fail if over.fail is not None else block.fail)
    if warn > fail:
        raise ValueError(f"drift column {column!r}: warn {warn} is greater than {fail}")
    return DriftSettings(
        column=column,
        kind=kind,
        metric=over.metric or block.metric,
        warn=warn,
        fail=fail,
        bins=over.bins or block.bins,
        top_k=over.top_k or block.top_k,
        on_drift=over.on_drift or block.on_drift,
        enabled=over.enabled,
    )
