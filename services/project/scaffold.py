"""scaffold(): write a new, working project from the packaged templates."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from featurestore.services.project.errors import (
    DirectoryNotEmptyError,
    InvalidProjectNameError,
)

_TEMPLATES = "templates"
_SUFFIX = ".tmpl"
_DOTTED = {"feastignore": ".feastignore"}
NEXT_STEPS = (
    ("featurestore run example", "raw Parquet -> contract check -> Delta table"),
    ("featurestore contracts check-feast", ""),
    ("feast apply", ""),
    ("featurestore materialize --incremental", "Delta -> online store, up to now"),
    ("featurestore serve", ""),
)
"""What to run in a new project, in order (its README and ``init`` say so)."""


def next_steps_text(indent: str = "    ") -> str:
    """``NEXT_STEPS`` as an indented block, comments aligned."""
    width = max(len(command) for command, _ in NEXT_STEPS) + 3
    return "\n".join(
        f"{indent}{command:<{width}}# {why}".rstrip() if why else f"{indent}{command}"
        for command, why in NEXT_STEPS
    )


SAMPLE_ROWS = 400
"""Rows of the sample raw dataset (data/raw/purchases)."""


_PROJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
"""Feast's rule for a SQLite store (no hyphen), ASCII, and a letter first: the
name starts SQLite table names Feast writes unquoted."""


def scaffold(directory: Path, project: str | None = None) -> str:
    """Write a new project into ``directory``: configs, contract, views, job, data.

    The project runs as is: ``featurestore run example`` publishes the sample
    data under the contract, then ``feast apply`` and ``featurestore
    materialize`` serve it. The folder is created when missing.

    Args:
        directory: An empty or missing folder.
        project: The Feast project name; by default the folder's name
            (letters, digits and underscores kept). It prefixes the online
            tables and the keys in a Redis online store, so two projects
            sharing one Redis need different names.

    Returns:
        The Feast project name written.

    Raises:
        DirectoryNotEmptyError: ``directory`` exists and holds anything.
        InvalidProjectNameError: ``project`` is not ``[A-Za-z][A-Za-z0-9_]*``.
        OSError: ``directory`` cannot be created or written (the command
            line reports it in one line).
    """
    directory = Path(directory)
    if project is not None and not _PROJECT_NAME.fullmatch(project):
        raise InvalidProjectNameError(project)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise DirectoryNotEmptyError(str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    name = project or project_name(directory)
    _copy(resources.files(__package__).joinpath(_TEMPLATES), directory, name)
    write_sample_purchases(directory / "data" / "raw" / "purchases")
    return name


def project_name(directory: Path) -> str:
    """A Feast project name from a folder name: ``[A-Za-z0-9_]``, a letter first."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", directory.resolve().name).strip("_")
    return name if name[:1].isalpha() else f"project_{name}"


def _copy(source: Traversable, target: Path, name: str) -> None:
    for entry in source.iterdir():
        if entry.is_dir():
            if entry.name != "__pycache__":
                (target / entry.name).mkdir()
                _copy(entry, target / entry.name, name)
            continue
        if not entry.name.endswith(_SUFFIX):
            continue
        stem = entry.name.removesuffix(_SUFFIX)
        text = (
            entry.read_text(encoding="utf-8")
            .replace("{{project}}", name)
            .replace("{{next_steps}}", next_steps_text())
        )
        (target / _DOTTED.get(stem, stem)).write_text(text, encoding="utf-8")


def write_sample_purchases(folder: Path, rows: int = SAMPLE_ROWS) -> None:
    """Write a small raw purchases dataset (Parquet) ending today, seeded.

    Columns: ``purchase_id``, ``customer_id`` (1-20), ``amount`` (>= 0) and
    ``event_time`` (UTC, the last 14 days).
    """
    rng = random.Random(7)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    seconds = sorted((rng.randrange(14 * 86_400) for _ in range(rows)), reverse=True)
    table = pa.table(
        {
            "purchase_id": pa.array(range(1, rows + 1), pa.int64()),
            "customer_id": pa.array([rng.randint(1, 20) for _ in range(rows)]),
            "amount": pa.array(
                [round(rng.gammavariate(2.0, 20.0), 2) for _ in range(rows)]
            ),
            "event_time": pa.array(
                [end - timedelta(seconds=s) for s in seconds],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-00000.parquet")
