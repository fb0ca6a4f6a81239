"""The jar files Ivy resolved for a package set, recorded once and reused."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse
from urllib.request import url2pathname

import pyspark
from pyspark import SparkConf
from pyspark.errors import PySparkRuntimeError
from pyspark.java_gateway import launch_gateway

LOCK_FILE = "featurestore-jars.lock"
"""Held (``flock``) while Ivy resolves into the folder: Ivy does not lock its
cache, and Spark copies the jars it resolved into one shared ``jars`` folder."""

# Java stack frames ("\tat org.apache...", "\t... 12 more") say nothing a
# user can act on; Ivy's reason is in the lines around them.
_STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


def manifest_path(ivy_dir: Path, packages: str, excludes: str) -> Path:
    """The file in ``ivy_dir`` listing the jars of ``packages`` minus ``excludes``.

    Keyed on the exact package and exclude lists, and on PySpark's version:
    Spark's resolver leaves out Spark's own modules, so another Spark may
    resolve the same packages to other jars.
    """
    key = "\n".join((pyspark.__version__, packages, excludes))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return ivy_dir / f"featurestore-jars-{digest}.txt"


def log_path(manifest: Path) -> Path:
    """The file that keeps Ivy's output of the resolution for ``manifest``."""
    return manifest.with_suffix(".log")


def resolve_jars(ivy_dir: Path, packages: str, excludes: str) -> str | None:
    """Have Ivy resolve ``packages`` (minus ``excludes``) into ``ivy_dir``, in
    a JVM of its own whose output goes to :func:`log_path`, not the terminal;
    record the jars (:func:`record_jars`).

    One resolution at a time per Ivy folder, across processes: a start that
    waited for another one takes the jars it recorded.

    Returns:
        ``spark.jars`` for those jars (comma-separated), or None when the JVM
        exited first (Ivy's reason is at the end of the log).

    Raises:
        OSError: ``ivy_dir`` or the log cannot be written.
    """
    manifest = manifest_path(ivy_dir, packages, excludes)
    ivy_dir.mkdir(parents=True, exist_ok=True)
    with _resolving(ivy_dir):
        jars = recorded_jars(manifest)
        if jars is not None:
            return ",".join(jars)
        conf = SparkConf(loadDefaults=False).setAll(
            [("spark.jars.packages", packages), ("spark.jars.ivy", str(ivy_dir))]
            + ([("spark.jars.excludes", excludes)] if excludes else [])
        )
        with log_path(manifest).open("wb") as log:
            spark_jars = _resolve_in_jvm(conf, log)
        if spark_jars is not None:
            record_jars(manifest, spark_jars)
        return spark_jars


def _resolve_in_jvm(conf: SparkConf, log: BinaryIO) -> str | None:
    """Start Spark's launcher with ``conf``'s packages, output to ``log``;
    ``spark.jars`` as it resolved them, None when it exited first.

    Only the Py4J gateway: SparkSubmit resolves the packages before it starts
    the gateway's JVM, and hands it ``spark.jars`` as a system property. No
    SparkContext is needed, so none is started.
    """
    try:
        # popen_kwargs: PySpark's documented way to take the JVM's output.
        gateway = launch_gateway(  # type: ignore[no-untyped-call]
            conf, popen_kwargs={"stdout": log, "stderr": subprocess.STDOUT}
        )
    except PySparkRuntimeError as exc:
        if exc.getCondition() != "JAVA_GATEWAY_EXITED":
            raise
        return None
    try:
        spark_jars = gateway.jvm.java.lang.System.getProperty("spark.jars")
    finally:
        gateway.shutdown()
        # The gateway's JVM exits when its stdin closes.
        gateway.proc.stdin.close()
        gateway.proc.wait()
    return str(spark_jars or "")


@contextmanager
def _resolving(ivy_dir: Path) -> Iterator[None]:
    """Hold :data:`LOCK_FILE` in ``ivy_dir``; say so when another process has it.

    An ``flock``, as ``_commit_lock`` takes: the kernel releases it when this
    process dies, so a killed first run never blocks the next one.
    """
    lock = os.open(ivy_dir / LOCK_FILE, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"waiting for another process fetching Spark jars into {ivy_dir}",
                file=sys.stderr,
                flush=True,
            )
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # releases the lock


def log_tail(log: Path, lines: int = 20) -> list[str]:
    """The last ``lines`` lines of ``log`` that are neither blank nor Java
    stack frames (Ivy's reason: "unresolved dependency", "Connection refused")."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    kept = [
        line
        for line in text.splitlines()
        if line.strip() and not _STACK_FRAME.match(line)
    ]
    return kept[-lines:]


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
