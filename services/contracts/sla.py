"""ODCS v3.1 `slaProperties`: the freshness (latency) SLA and the publish cadence.

A contract says how old its newest event may get either the short way,
`freshness: 7d`, or as ODCS tooling reads it::

    slaProperties:
      - property: latency          # alias: freshness
        value: 7
        unit: d                    # m, h or d
        element: customer_spend.event_timestamp
      - property: frequency        # expected publish cadence (optional)
        value: 1
        unit: d

Both forms resolve to one `FreshnessSla`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from featurestore.services.contracts._duration import check_seconds

SlaPropertyName = Literal["latency", "freshness", "frequency"]
SlaUnit = Literal["m", "h", "d"]

_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


class SlaProperty(BaseModel):
    """One ODCS `slaProperties` entry this project understands."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SlaPropertyName = Field(alias="property")
    """ODCS `property`: `latency` (alias `freshness`): maximum age of the newest event;
    `frequency`: how often a new version is expected."""
    value: StrictInt = Field(gt=0)
    """Amount of `unit`s."""
    unit: SlaUnit
    """Minutes, hours or days."""
    element: StrictStr | None = None
    """`<table>.<column>` the property applies to; for latency the event-time
    column (default: the contract's `event_timestamp`)."""
    driver: StrictStr | None = None
    """ODCS driver (`regulatory`, `analytics`, `operational`), kept as is."""
    description: StrictStr | None = None
    """Free text for readers of the contract."""

    @model_validator(mode="after")
    def _at_most_10000_years(self) -> Self:
        check_seconds(self._seconds, f"{self.value}{self.unit}")
        return self

    @property
    def _seconds(self) -> int:
        return self.value * _UNIT_SECONDS[self.unit]

    @property
    def duration(self) -> timedelta:
        """`value` times `unit`."""
        return timedelta(seconds=self._seconds)

    @property
    def is_latency(self) -> bool:
        """Whether this entry is the freshness SLA (`latency` or `freshness`)."""
        return self.kind in ("latency", "freshness")


@dataclass(frozen=True)
class FreshnessSla:
    """How fresh a table must stay, resolved from either contract form."""

    max_age: timedelta
    """The newest event may be at most this old."""
    event_time: str
    """Column holding the event time the age is measured on."""
    frequency: timedelta | None = None
    """Expected publish cadence, when the contract states one."""

    def to_json_obj(self) -> dict[str, object]:
        """Return the SLA as JSON-ready data (durations in seconds)."""
        return {
            "max_age_seconds": self.max_age.total_seconds(),
            "event_time": self.event_time,
            "frequency_seconds": None
            if self.frequency is None
            else self.frequency.total_seconds(),
        }


def split_element(element: str) -> tuple[str, str]:
    """Split `<table>.<column>`; ValueError when it is not of that form."""
    table, dot, column = element.partition(".")
    if not dot or not table or not column or "." in column:
        raise ValueError(f"element {element!r} is not of the form <table>.<column>")
    return table, column
