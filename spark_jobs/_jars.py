"""The jar files Ivy resolved for a package set, recorded once and reused."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pyspark


def manifest_path(ivy_dir: Path, packages: str, excludes: str) -> Path:
    """The file in ``ivy_dir`` listing the jars of ``packages`` minus ``excludes``.

    Keyed on the exact package and exclude lists, and on PySpark's version:
    Spark's resolver leaves out Spark's own modules, so another Spark may
    resolve the same packages to other jars.
    """
    key = "\n".join((pyspark.__version__, packages, excludes))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return ivy_dir / f"featurestore-jars-{digest}.txt"


def recorded_jars(manifest: Path) -> list[str] | None:
    """The jar paths ``manifest`` lists; None when there is no such file, it
    lists nothing, or a jar it names is gone (the caller resolves again)."""
    try:
        jars = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if jars and all(os.path.isfile(jar) for jar in jars):
        return jars
    return None


def record_jars(manifest: Path, spark_jars: str) -> None:
    """Write the jars of ``spark_jars`` (the ``spark.jars`` Spark set after
    resolving packages: comma-separated ``file:`` URIs) to ``manifest``.

    Written to a temporary file and renamed, so a concurrent start reads the
    old list or the new one, never half of one. Nothing is written when an
    entry is not a local file; a manifest that cannot be written is skipped:
    the next start resolves again, as without one.
    """
    entries = [entry for entry in spark_jars.split(",") if entry]
    paths = [path for path in map(_local_path, entries) if path is not None]
    if not paths or len(paths) != len(entries):
        return
    # Not mkstemp: its file is private (0600), and an Ivy cache may be shared.
    temporary = manifest.with_name(f".{manifest.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text("".join(f"{path}\n" for path in paths), "utf-8")
        os.replace(temporary, manifest)
    except OSError:
        temporary.unlink(missing_ok=True)


def _local_path(uri: str) -> str | None:
    parsed = urlparse(uri)
    if parsed.scheme == "":
        return uri
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return url2pathname(parsed.path)
    return None
