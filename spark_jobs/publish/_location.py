"""Where a publish writes: a bare table name or a location, and its quarantine."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from featurestore.services.storage import absolute, is_uri, join
from featurestore.spark_jobs.errors import ConfigError
from featurestore.spark_jobs.paths import default_data_root

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TableLocation:
    """Where a publish writes: the feature table and its quarantine table."""

    table: str
    """Feature table path or URI."""
    quarantine: str
    """Quarantine table path or URI."""


def resolve_table(
    table: str | os.PathLike[str], data_root: str | os.PathLike[str] | None = None
) -> TableLocation:
    """Locate ``table``: a bare name, or a path / URI used as is.

    A bare name (letters, digits, underscores) lives under the data root as
    ``<root>/features/<name>``; anything else is a location used as is
    (``s3://bucket/x`` keeps its double slash), except that a relative local
    path is made absolute. The quarantine table is the sibling
    ``<location>_quarantine``.

    Args:
        table: Name or location of the feature table.
        data_root: Root for bare names (default: ``$FS_DATA_DIR`` or ``./data``).

    Returns:
        The feature and quarantine table locations, as strings.
    """
    text = os.fspath(table)
    if not text:
        raise ConfigError("table is empty")
    if _NAME.match(text):
        root = os.fspath(data_root) if data_root is not None else None
        text = join(root or default_data_root(), "features", text)
    if not is_uri(text):
        # Spark resolves a relative path against the JVM's working directory,
        # which is not Python's after an os.chdir: anchor it here.
        text = absolute(text)
    return TableLocation(text, f"{text.rstrip('/')}_quarantine")
