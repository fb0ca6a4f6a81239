"""Which version a table's buckets and baseline scores come from, and its buckets.

The reference is the contract's drift baseline: a pinned Delta version, or
the version of this table a training-set manifest read. Without one it is the
version the table's profiles started from (the first profiled version with
rows, or the version a first profile was compared with), never an empty one.
Its buckets (equal-frequency edges, top-k categories) and its own counts on
them are computed from its snapshot (DuckDB) for the contract's `bins` and
`top_k`, then carried in every later profile row with those two settings; a
contract that changes them gets buckets made anew. Rows written before the
settings were recorded are checked once against the snapshot (kept as they
are when it can no longer be read).

A feature the reference version lacks (a column the contract added later), or
holds with a type of another family, has no buckets: the reference leaves it
out, and the profile rows record that with empty ``reference_counts``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurestore.services.contracts import Contract
from featurestore.services.contracts.drift import DriftSettings
from featurestore.services.monitoring.assess import Reference, ReferenceColumn
from featurestore.services.monitoring.errors import (
    BaselineNotFoundError,
    TableNotFoundError,
)
from featurestore.services.monitoring.snapshot import (
    open_features,
    reference_from_snapshot,
)
from featurestore.services.offline.errors import StorageUnavailableError


def manifest_version(contract: Contract, manifest: Path) -> int:
    """The version of `contract`'s table that a training-set manifest read.

    Raises:
        BaselineNotFoundError: Unreadable manifest, or it read no such table.
    """
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        reads = data["tables"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BaselineNotFoundError(
            contract.name, f"cannot read manifest {manifest.name}: {exc}"
        ) from exc
    if not isinstance(reads, list) or not all(isinstance(r, dict) for r in reads):
        raise BaselineNotFoundError(
            contract.name, f"manifest {manifest.name}: 'tables' is not a list of reads"
        )
    for read in reads:
        named = str(read.get("contract") or "").split("@")[0]
        if contract.name in (named, Path(str(read.get("path", ""))).name):
            version = read.get("version")
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise BaselineNotFoundError(
                    contract.name,
                    f"manifest {manifest.name}: the {contract.name} table's version "
                    f"is {version!r}, not a Delta version (an integer >= 0)",
                )
            return version
    raise BaselineNotFoundError(
        contract.name, f"manifest {manifest.name} read no {contract.name} table"
    )


def baseline_version(
    contract: Contract, repo: Path, rows: list[dict[str, Any]]
) -> int | None:
    """The reference version of `contract`'s table (None: no version yet).

    Args:
        contract: The table's contract (its drift baseline).
        repo: Project folder; a relative manifest path is resolved against it.
        rows: The profile table's rows so far.
    """
    baseline = contract.drift_block.baseline
    if baseline is not None and baseline.version is not None:
        return baseline.version
    if baseline is not None and baseline.training_set is not None:
        path = Path(baseline.training_set)
        return manifest_version(contract, path if path.is_absolute() else repo / path)
    # Never an empty version: its buckets would be one [-inf, inf) bucket
    # with no rows, and no version could drift from it.
    filled = [r for r in rows if r["row_count"]]
    if not filled:
        return None
    oldest = min(filled, key=lambda r: (int(r["table_version"]), r["profiled_at"]))
    started = oldest["reference_version"]
    if started is None or _empty(rows, int(started)):
        return int(oldest["table_version"])
    return int(started)


def _empty(rows: list[dict[str, Any]], version: int) -> bool:
    """Whether the profile rows of ``version`` say it had no rows."""
    own = [r for r in rows if int(r["table_version"]) == version]
    return bool(own) and not any(r["row_count"] for r in own)


@dataclass
class _Stored:
    """What the profile rows already say about the reference's buckets."""

    found: dict[str, ReferenceColumn] = field(default_factory=dict)
    """Buckets made for the current settings."""
    lacking: set[str] = field(default_factory=set)
    """Features the reference version is known to lack (no buckets)."""
    unrecorded: dict[str, ReferenceColumn] = field(default_factory=dict)
    """Buckets of rows written before the settings were recorded with them."""
    other: set[str] = field(default_factory=set)
    """Features whose stored buckets were made for other bins or top_k."""


def _stored(
    rows: list[dict[str, Any]], version: int, settings: Mapping[str, DriftSettings]
) -> _Stored:
    """The buckets rows carry from `version`, and the features it is known to lack.

    A row of the same kind keyed to `version` with no reference counts records
    that `version` has no buckets for its feature (it lacks the column); the
    newest row of a feature decides. Rows whose buckets were made for other
    settings (`bins`, `top_k`: a contract changed them) are passed over: the
    buckets are made again for the new ones.
    """
    out = _Stored()
    for row in sorted(rows, key=lambda r: r["profiled_at"]):
        name, setting = row["feature"], settings.get(row["feature"])
        if row["reference_version"] != version or setting is None:
            continue
        if row["kind"] != setting.kind:
            continue  # the column changed kind since: its old buckets do not apply
        counts = tuple(row["reference_counts"] or ())
        if not counts:
            out.lacking.add(name)
            out.found.pop(name, None)
            out.unrecorded.pop(name, None)
            continue
        column = ReferenceColumn(
            row["kind"],
            tuple(row["edges"] or ()),
            tuple(row["categories"] or ()),
            counts,
            bins=row.get("bins"),
            top_k=row.get("top_k"),
        )
        made_for = column.made_for(setting)
        if made_for is False:
            out.other.add(name)
            continue
        (out.found if made_for else out.unrecorded)[name] = column
        out.lacking.discard(name)
    return out


def resolve_reference(
    contract: Contract,
    location: str,
    rows: list[dict[str, Any]],
    *,
    repo: Path,
    storage_options: Mapping[str, str] | None = None,
    fallback: int | None = None,
) -> Reference | None:
    """The reference of the table at `location`, its buckets and counts.

    Args:
        contract: The table's contract.
        location: Feature table location.
        rows: The profile table's rows so far.
        repo: Project folder (for a relative manifest path).
        storage_options: Object-storage options for delta-rs.
        fallback: The version to start from when nothing names one (a
            publish passes the table's current version; None: no reference).

    Returns:
        None when there is no reference yet: no version named, or the version
        the profiles would start from has no rows (the first version with
        rows starts them).

    Raises:
        BaselineNotFoundError: The baseline names a version that cannot be
            read or has no rows.
    """
    version = baseline_version(contract, repo, rows)
    baseline = contract.drift_block.baseline
    pinned = baseline is not None and (
        baseline.version is not None or baseline.training_set is not None
    )
    version = fallback if version is None else version
    if version is None:
        return None
    settings = contract.drift
    stored = _stored(rows, version, settings)
    found = stored.found
    settled = found.keys() | stored.lacking
    todo = {n: s for n, s in settings.items() if n not in settled}
    if todo:
        try:
            snapshot = open_features(location, version, contract, todo, storage_options)
        except (TableNotFoundError, StorageUnavailableError) as exc:
            if todo.keys() <= stored.unrecorded.keys():
                # Only buckets of unknown settings, and no baseline to check
                # them against (vacuumed): keep what the table is scored on.
                found.update(stored.unrecorded)
                return Reference(version, {n: found[n] for n in settings if n in found})
            if isinstance(exc, StorageUnavailableError):
                raise
            raise BaselineNotFoundError(
                contract.name, _unreadable(contract, version, todo, stored.other)
            ) from exc
        if snapshot.row_count == 0:  # not: no feature left to read (added later)
            if pinned:
                raise BaselineNotFoundError(
                    contract.name,
                    f"version {version} of {contract.name} has no rows: pin a "
                    "version with rows (drift.baseline)",
                )
            return None  # not yet: the first version with rows starts it
        computed = reference_from_snapshot(snapshot.rows, version, snapshot.settings)
        found.update(computed.columns)
    return Reference(version, {n: found[n] for n in settings if n in found})


def _unreadable(
    contract: Contract,
    version: int,
    todo: Mapping[str, DriftSettings],
    other: set[str],
) -> str:
    """Why the buckets of `todo` cannot be made from `version`."""
    message = f"version {version} of {contract.name} cannot be read"
    changed = [n for n in todo if n in other]
    if not changed:
        return message
    asked = ", ".join(
        f"{n} ({'bins' if todo[n].kind == 'numeric' else 'top_k'} "
        f"{todo[n].bins if todo[n].kind == 'numeric' else todo[n].top_k})"
        for n in changed
    )
    return (
        f"{message} to make the buckets the drift settings now ask for: {asked}; "
        "pin a readable baseline (drift.baseline) or keep the old settings"
    )
