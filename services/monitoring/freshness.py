"""Freshness of a feature table: newest event time, newest commit, SLA verdict."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFoundError

from featurestore.services.lineage.errors import TableUnreadableError
from featurestore.services.lineage.history import newest_publish
from featurestore.services.offline.errors import (
    StorageUnavailableError,
    storage_unavailable,
)
from featurestore.services.storage import delta_error_detail, is_local, read_delta

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from feast import FeatureView

    from featurestore.services.contracts import ContractRegistry
    from featurestore.services.contracts.sla import FreshnessSla
    from featurestore.services.project import Project

__all__ = [
    "Freshness",
    "FreshnessVerdict",
    "judge_newest_event",
    "newest_event_time",
    "table_freshness",
    "view_freshness",
]

log = logging.getLogger(__name__)

FreshnessVerdict = Literal["ok", "late", "unknown"]
"""ok: within the SLA; late: data too old or no publish within the cadence;
unknown: no SLA, no table, no rows, or a Delta log that cannot be read."""


@dataclass(frozen=True)
class Freshness:
    """How fresh one table is at ``checked_at``."""

    view: str
    """Feature view (or table) name."""
    path: str
    """Delta table location."""
    event_time_column: str
    """The column the newest event time is taken from."""
    checked_at: datetime
    """The instant ages are measured against (UTC)."""
    verdict: FreshnessVerdict
    """ok, late or unknown (see ``FreshnessVerdict``)."""
    reason: str
    """One line saying why, e.g. ``newest event 9d old > max age 7d``."""
    version: int | None = None
    """Delta version of the newest publish (``is_publish``: a VACUUM or
    OPTIMIZE commit after it holds the same rows); None when there is no
    table, or no publish among the newest ``lineage.PUBLISH_LOOKBACK`` commits."""
    newest_event_time: datetime | None = None
    """Largest event time in the latest version; None when it has no rows."""
    newest_commit_time: datetime | None = None
    """Time of the newest publish (or, none among the newest
    ``lineage.PUBLISH_LOOKBACK`` commits, of the oldest of them: the publish
    is older)."""
    max_age: timedelta | None = None
    """The SLA's maximum age, if any."""
    frequency: timedelta | None = None
    """The SLA's publish cadence, if any."""

    @property
    def age(self) -> timedelta | None:
        """How far the newest event time lags ``checked_at``."""
        if self.newest_event_time is None:
            return None
        return self.checked_at - self.newest_event_time

    @property
    def ok(self) -> bool:
        """True only for an ``ok`` verdict."""
        return self.verdict == "ok"

    def to_json_obj(self) -> dict[str, Any]:
        """JSON-ready mapping: times in ISO 8601, spans in seconds."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat().replace("+00:00", "Z")

        def secs(d: timedelta | None) -> float | None:
            return None if d is None else d.total_seconds()

        return {
            "view": self.view,
            "path": self.path,
            "event_time_column": self.event_time_column,
            "checked_at": iso(self.checked_at),
            "verdict": self.verdict,
            "reason": self.reason,
            "version": self.version,
            "newest_event_time": iso(self.newest_event_time),
            "newest_commit_time": iso(self.newest_commit_time),
            "age_seconds": secs(self.age),
            "max_age_seconds": secs(self.max_age),
            "frequency_seconds": secs(self.frequency),
        }


def table_freshness(
    view: str,
    path: str,
    event_time_column: str,
    sla: FreshnessSla | None,
    *,
    now: datetime | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> Freshness:
    """Judge the Delta table at ``path`` against ``sla``.

    Reads the Delta log only: the newest event time is the largest ``max``
    statistic of the column over the latest version's files (Delta keeps
    timestamp statistics at millisecond precision, so it may be up to 1 ms
    early); only files without statistics are scanned, that column alone.
    The SLA's ``frequency`` is judged against the newest publish: the newest
    commit that changed the rows, not a VACUUM or OPTIMIZE after it (a table
    whose job stopped is late even while nightly maintenance commits).

    Args:
        view: Name reported with the result.
        path: Table location.
        event_time_column: The event time column.
        sla: The promise to judge against (the contract's); None gives
            ``unknown``.
        now: The instant to measure against (default: now, UTC).
        storage_options: Object-store options (the project's).

    Raises:
        StorageUnavailableError: The object store did not answer or refused
            (the offline store's, STORAGE_UNAVAILABLE); a missing table is
            judged ``unknown``.
        TableUnreadableError: delta-rs cannot read the table's log (a corrupt
            commit file): TABLE_UNREADABLE, as ``featurestore lineage`` says.
    """
    now = now or datetime.now(UTC)
    unjudged = Freshness(
        view=view,
        path=path,
        event_time_column=event_time_column,
        checked_at=now,
        verdict="unknown",
        reason="no Delta table",
        max_age=sla.max_age if sla else None,
        frequency=sla.frequency if sla else None,
    )
    with storage_unavailable(path):
        try:
            table = DeltaTable(path, storage_options=dict(storage_options or {}))
            version, commit = _newest_publish(table, path)
            newest = newest_event_time(table, event_time_column)
        except _DeltaTableNotFoundError:
            return unjudged
        except DeltaError as exc:  # a corrupt commit file, a gap in the log
            raise TableUnreadableError(path, delta_error_detail(exc)) from exc
    verdict, reason = _judge(now, newest, commit, sla)
    return replace(
        unjudged,
        verdict=verdict,
        reason=reason,
        version=version,
        newest_event_time=newest,
        newest_commit_time=commit,
    )


def _judge(
    now: datetime, newest: datetime | None, commit: datetime, sla: FreshnessSla | None
) -> tuple[FreshnessVerdict, str]:
    if sla is None:
        return "unknown", "no freshness SLA (no contract for this table)"
    if sla.frequency is not None and now - commit > sla.frequency:
        return "late", (
            f"no publish for {span(now - commit)} > frequency {span(sla.frequency)}"
        )
    return judge_newest_event(now, newest, sla.max_age)


def judge_newest_event(
    now: datetime, newest: datetime | None, max_age: timedelta
) -> tuple[FreshnessVerdict, str]:
    """The verdict and reason for a newest event time against a max age.

    The one rule for freshness: ``monitor freshness`` applies it to a table,
    a publish (``spark_jobs.validate``) to its batch. A newest event more than
    ``FUTURE_TOLERANCE`` ahead of ``now`` is ``unknown``, never ``ok``.
    """
    if newest is None:
        return "unknown", "the table has no rows"
    age = now - newest
    if -age > FUTURE_TOLERANCE:
        # A job's clock or time zone is off: an age below zero would pass any
        # max age and hide a table that stopped updating.
        return "unknown", (
            f"newest event {span(-age)} in the future (more than "
            f"{span(FUTURE_TOLERANCE)} ahead): check the job's clock and time zone"
        )
    if age > max_age:
        return "late", f"newest event {span(age)} old > max age {span(max_age)}"
    if age < timedelta(0):  # ahead of now, within the clock-skew tolerance
        return "ok", (
            f"newest event {span(-age)} ahead of now (clock skew up to "
            f"{span(FUTURE_TOLERANCE)} is allowed) <= max age {span(max_age)}"
        )
    return "ok", f"newest event {span(age)} old <= max age {span(max_age)}"


FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far ahead of now the newest event may be (clock skew between hosts)
before freshness is ``unknown`` rather than judged."""


def span(delta: timedelta) -> str:
    """A short human span: 9d4h, 3h12m, 5m, 42s (negative: in the future)."""
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours}h" if hours else f"{sign}{days}d"
    if hours:
        return f"{sign}{hours}h{minutes}m" if minutes else f"{sign}{hours}h"
    if minutes:
        return f"{sign}{minutes}m{secs}s" if secs else f"{sign}{minutes}m"
    return f"{sign}{secs}s"


def _newest_publish(table: DeltaTable, path: str) -> tuple[int | None, datetime]:
    """The newest publish's version and commit time; without one among the
    commits searched (``lineage.newest_publish``), None and the oldest
    searched commit's time: the publish is at least that old."""
    search = newest_publish(table)
    if search is None:  # a log without commits: delta-rs opens none such
        raise TableUnreadableError(path, "the Delta log has no commits")
    if search.publish is None:
        return None, search.oldest.timestamp
    return search.publish.version, search.publish.timestamp


def newest_event_time(table: DeltaTable, column: str) -> datetime | None:
    """The largest value of ``column`` in the table's loaded version.

    From the files' ``max`` statistics; when a file with non-null values has
    none (statistics off for the column), the column is read instead. None
    when there are no rows or no non-null values.
    """
    actions = pa.table(table.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return None
    names = actions.column_names
    stat, nulls = f"max.{column}", f"null_count.{column}"
    if stat in names and nulls in names:
        lacking = pc.and_kleene(
            pc.is_null(actions[stat]),
            pc.invert(pc.equal(actions[nulls], actions["num_records"])),
        )
        if not pc.any(pc.fill_null(lacking, True)).as_py():
            return _utc(pc.max(actions[stat]).as_py())
    return _utc(pc.max(read_delta(table, [column])[column]).as_py())


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def view_freshness(
    view: FeatureView,
    project: Project | Path | str | None,
    contracts: ContractRegistry | None,
    *,
    now: datetime | None = None,
    storage_options: Mapping[str, str] | None = None,
    broken_contract: Literal["raise", "unknown"] = "unknown",
    unreadable: Literal["raise", "unknown"] = "unknown",
    unavailable: Literal["raise", "unknown"] | None = None,
) -> Freshness:
    """Judge the Delta table behind a Feast feature view against its contract.

    The contract is the one the view's ``contract`` tag names (latest
    version); its ``freshness_sla`` (max age, event time column, publish
    frequency) applies. Without one, the source's timestamp field is read
    and the verdict is ``unknown``. ``project`` locates the view's table: the
    project itself (its data root applied), or the Feast repo it is loaded from.

    A tag naming no contract (none of that name, or no valid contract name) is
    ``unknown``, the reason naming the tag's value and its problem. A contract
    that exists but cannot be read (invalid YAML or field) is never taken for
    no contract: with ``broken_contract="unknown"`` (a list of views) the
    verdict is ``unknown`` and the reason names the contract and its error;
    with ``"raise"`` the ``ContractError`` propagates.

    A table whose Delta log cannot be read is likewise never taken for no
    table: with ``unreadable="unknown"`` (a list of views: the others are
    still judged) the verdict is ``unknown``, the reason starts with
    TABLE_UNREADABLE, and a warning names the table; with ``"raise"`` the
    ``TableUnreadableError`` propagates.

    A local table with a file that cannot be read (removed, or its permissions
    changed) is that table's damage, not a store that is down: with
    ``unavailable="unknown"`` (default: as ``unreadable``) the verdict is
    ``unknown``, the reason starts with STORAGE_UNAVAILABLE and names the view's
    table, never its location; with ``"raise"`` a ``StorageUnavailableError``
    naming the view propagates. An object store that does not answer fails
    every view alike: its ``StorageUnavailableError`` always propagates.

    Raises:
        ContractError: The view's contract cannot be read, with
            ``broken_contract="raise"``.
        TableUnreadableError: The table's Delta log cannot be read, with
            ``unreadable="raise"``.
        StorageUnavailableError: The object store did not answer or refused,
            or a local table's file cannot be read with
            ``unavailable="raise"``.
    """
    from featurestore.services.contracts import ContractError, ContractErrorReason
    from featurestore.services.contracts.feast_link import CONTRACT_TAG
    from featurestore.services.offline._views import delta_path
    from featurestore.services.offline.errors import UnsupportedSourceError

    source = view.batch_source
    contract, broken = None, ""
    name = view.tags.get(CONTRACT_TAG)
    if name and contracts is not None:
        try:
            contract = contracts.get(name)
        except ContractError as exc:
            # The tag is wrong, not a contract: the view is judged on its own.
            if exc.reason == ContractErrorReason.CONTRACT_NOT_FOUND:
                # Not "no contract for this table": the view names one.
                broken = f"the view's contract {name!r} does not exist: no SLA"
            elif exc.reason == ContractErrorReason.INVALID_NAME:
                broken = (
                    f"the view's contract tag {name[:130]!r} is no contract name "
                    f"({exc}): no SLA"
                )
            else:
                if broken_contract == "raise":
                    raise
                # Judged without its SLA it would read "no contract", and an
                # alert on the SLA would never fire: say the contract is bad.
                broken = f"contract {name!r} cannot be read: {exc.reason.value}: {exc}"
    sla = contract.freshness_sla if contract else None
    column = sla.event_time if sla else ""
    try:
        if source is None:
            raise UnsupportedSourceError(view.name, "feature view has no batch source")
        column = column or source.timestamp_field
        path = delta_path(source, project)
    except UnsupportedSourceError as exc:
        return Freshness(
            view=view.name,
            path="",
            event_time_column=column,
            checked_at=now or datetime.now(UTC),
            verdict="unknown",
            reason=str(exc),
        )
    try:
        judged = table_freshness(
            view.name, path, column, sla, now=now, storage_options=storage_options
        )
    except StorageUnavailableError as exc:
        if not is_local(path):  # the store is down: no view can be judged
            raise
        # The view's name, not the table's location: the error reaches clients.
        damaged = StorageUnavailableError(path, view.name)
        if (unavailable or unreadable) == "raise":
            raise damaged from exc.__cause__
        log.warning("freshness of %s: %s: %s", view.name, damaged.reason.value, exc)
        return Freshness(
            view=view.name,
            path=path,
            event_time_column=column,
            checked_at=now or datetime.now(UTC),
            verdict="unknown",
            reason=f"{damaged.reason.value}: {damaged}",
            max_age=sla.max_age if sla else None,
            frequency=sla.frequency if sla else None,
        )
    except TableUnreadableError as exc:
        if unreadable == "raise":
            raise
        log.warning("freshness of %s: %s: %s", view.name, exc.reason.value, exc)
        table = path.rstrip("/").rsplit("/", 1)[-1]
        detail = exc.metadata["detail"]
        return Freshness(
            view=view.name,
            path=path,
            event_time_column=column,
            checked_at=now or datetime.now(UTC),
            verdict="unknown",
            # The table's name, not its location: the reason reaches clients.
            reason=f"{exc.reason.value}: cannot read the Delta log of {table}: "
            f"{detail}",
            max_age=sla.max_age if sla else None,
            frequency=sla.frequency if sla else None,
        )
    return replace(judged, reason=broken) if broken else judged
