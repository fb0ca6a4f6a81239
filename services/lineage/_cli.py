"""Command line: `history <table>` prints one line per Delta version, newest first."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from featurestore.services.lineage.errors import LineageError
from featurestore.services.lineage.history import (
    VersionRecord,
    resolve_table,
    table_history,
)
from featurestore.services.project import Project, ProjectError, ProjectNotFoundError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m featurestore.services.lineage",
        description="Show which job, run and contract produced each table version.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    history = sub.add_parser("history", help="versions of a Delta table, newest first")
    history.add_argument("table", help="feature table name or path of a Delta table")
    history.add_argument(
        "--data-dir",
        default=None,
        help="data root holding features/, a path or URI (default: the "
        "project's data_dir)",
    )
    history.add_argument("--limit", type=int, default=None, help="newest N only")
    history.add_argument("--json", action="store_true", help="one JSON array")
    return parser


def _summary(validation: Mapping[str, Any] | None) -> str:
    if validation is None:
        return "-"
    counts = " ".join(
        f"{key}={validation[key]}"
        # A quarantine commit says "passed" (and "refused" when nothing was
        # published): only the feature table's commit says "published".
        for key in ("rows_in", "published", "passed", "quarantined", "refused")
        if key in validation
    )
    reasons = validation.get("by_reason")
    if isinstance(reasons, Mapping) and reasons:
        counts += " by_reason=" + ",".join(f"{k}:{v}" for k, v in reasons.items())
    return counts or "-"


def format_record(record: VersionRecord) -> str:
    """Return the one-line text form of a version record."""
    stamp = record.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return "\t".join(
        [
            f"v{record.version}",
            stamp,
            record.operation,
            f"job={record.job or '-'}",
            f"run={record.run_id or '-'}",
            f"mode={record.mode or '-'}",
            f"contract={record.contract or '-'}",
            _summary(record.validation),
        ]
    )


def history_of(
    table: str,
    data_dir: str | None = None,
    limit: int | None = None,
    repo: Path | None = None,
) -> list[VersionRecord]:
    """Versions of ``table`` (name, path or URI) with the project's storage options.

    The project is ``repo`` when given (it must exist), else found as
    ``Project.discover`` finds it; without one, a path or URI is still read
    (object stores then take their credentials from the ``AWS_*`` environment)
    and a bare name is found under ``data_dir``, else ``$FS_DATA_DIR``.

    Raises:
        LineageError: no table there, the object store did not answer, or a
            bare name and neither a project nor data_dir (PROJECT_NOT_FOUND).
        ProjectConfigError: the project's featurestore.yaml is malformed.
    """
    try:
        project: Project | None = Project.discover(repo)
    except ProjectNotFoundError:
        if repo is not None:
            raise
        project = None
    # Outside a project $FS_DATA_DIR is the root still, as the help says
    # (inside one, Project applies it).
    fallback = os.environ.get("FS_DATA_DIR") or None
    root = data_dir or (project.data_dir if project is not None else fallback)
    storage = project.storage_options if project is not None else None
    return table_history(resolve_table(table, root), limit, storage)


def _history(args: argparse.Namespace, out: TextIO) -> int:
    records = history_of(args.table, args.data_dir, args.limit)
    if args.json:
        json.dump([r.to_json_obj() for r in records], out, indent=2)
        out.write("\n")
    else:
        for record in records:
            out.write(format_record(record) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return 0 on success, 2 on errors (one line on stderr)."""
    args = _parser().parse_args(argv)
    try:
        return _history(args, sys.stdout)
    except (LineageError, ProjectError) as exc:
        sys.stderr.write(f"error: {exc.reason.value}: {exc}\n")
        return 2
