"""Feature commits this process started: what an interrupted run published."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession

from featurestore.spark_jobs.errors import SparkJobError
from featurestore.spark_jobs.io import committed_version


@dataclass
class FeatureCommit:
    """One publish's feature commit, from just before its write."""

    table: str
    """The table as the caller named it (a name, or its location)."""
    location: str
    run_id: str
    stamp: dict[str, Any]
    """The commit's ``userMetadata``: how its version is found in the log."""
    since: int | None
    """The table's version before the write (None: no table before it)."""
    spark: SparkSession
    profiles: bool
    """Whether the publish writes a profile after the commit."""
    version: int | None = None
    looked_up: bool = False
    """The publish itself looked its version up (``version`` is the answer)."""
    profiled: bool = False
    sequence: int = 0


@dataclass(frozen=True)
class Outcome:
    """What became of one feature commit when its run was interrupted."""

    commit: FeatureCommit
    version: int | None
    """Its version, None when nothing landed."""
    unknown: str = ""
    """Why whether it landed is unknown (its log could not be read)."""


_SEQUENCE = itertools.count(1)
_STARTED: deque[FeatureCommit] = deque(maxlen=64)  # a long session keeps the last
_LOCK = threading.Lock()


def start(commit: FeatureCommit) -> FeatureCommit:
    """Note ``commit`` before its write; the publish fills in the rest."""
    with _LOCK:
        commit.sequence = next(_SEQUENCE)
        _STARTED.append(commit)
    return commit


def mark() -> int:
    """A point to ask ``since`` from: commits started later are after it."""
    with _LOCK:
        return _STARTED[-1].sequence if _STARTED else 0


def since(point: int) -> list[Outcome]:
    """The commits started after ``point`` and whether each landed.

    A commit its publish did not look up (interrupted in its write or right
    after it) is looked up now by its stamp: a Delta commit is all or
    nothing, so the log says whether it landed.
    """
    with _LOCK:
        started = [c for c in _STARTED if c.sequence > point]
    return [_outcome(c) for c in started]


def _outcome(commit: FeatureCommit) -> Outcome:
    if commit.looked_up:
        return Outcome(commit, commit.version)
    try:
        version = committed_version(
            commit.spark, commit.location, commit.stamp, since=commit.since
        )
    except SparkJobError as exc:  # the store did not answer
        return Outcome(commit, None, unknown=f"[{exc.reason}] {exc}")
    return Outcome(commit, version)
