"""Table locations as strings: a local path, ``file://`` or an object-store URI.

``pathlib`` folds ``s3://bucket/x`` into ``s3:/bucket/x``, so no location is
ever a ``Path``: this module joins, classifies and translates them as text.
delta-rs and pyarrow name S3 ``s3://``; Hadoop's S3A file system (Spark)
names it ``s3a://``.
"""

from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import unquote, urlsplit

__all__ = [
    "ObjectUriError",
    "absolute",
    "check_object_uri",
    "is_local",
    "is_uri",
    "join",
    "local_path",
    "scheme",
    "to_delta_uri",
    "to_spark_uri",
    "unreadable_because",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
# Hadoop's name for a scheme, where it differs from delta-rs / pyarrow's.
_SPARK_NAMES = {"s3": "s3a"}
_DELTA_NAMES = {"s3a": "s3", "s3n": "s3"}


class ObjectUriError(ValueError):
    """An object-store URI with an empty, ``.`` or ``..`` path segment.

    Object stores take a key as it is written: ``s3://b/a//x`` is no
    ``s3://b/a/x`` and ``s3://b/a/../x`` no ``s3://b/x``, so such a URI names
    none of the places it seems to (pyarrow refuses the first with
    ``ArrowInvalid``, and joins the second as a key with ``..`` in it).

    Attributes:
        reason: ``INVALID_URI``.
        metadata: ``uri``, the location as given.
    """

    def __init__(self, location: str, problem: str) -> None:
        super().__init__(
            f"{location} has {problem}, which object-store URIs may not hold "
            "(a key is taken as written, nothing is collapsed): remove it"
        )
        self.reason = "INVALID_URI"
        self.metadata = {"uri": location}


def check_object_uri(location: str) -> str:
    """``location`` itself, once it names an object by its own key: a local
    path, or a URI without an empty, ``.`` or ``..`` segment (one trailing
    ``/`` is allowed). Every object-store location a user gives goes through
    here before a store is asked (``StorageOptions.filesystem``,
    ``open_delta``, ``is_delta_table``).

    Raises:
        ObjectUriError: such a segment (or no bucket).
    """
    if is_local(location):
        return location
    split = urlsplit(location)
    segments = [split.netloc, *split.path.split("/")[1:]]
    if split.path.endswith("/"):
        segments.pop()  # "s3://b/prefix/": a prefix, as written
    if "" in segments:
        raise ObjectUriError(location, "an empty path segment (//)")
    dots = next((s for s in segments if s in (".", "..")), None)
    if dots is not None:
        raise ObjectUriError(location, f"a '{dots}' path segment")
    return location


def scheme(location: str) -> str:
    """The URI scheme in lower case (``s3``, ``file``), ``""`` for a plain path.

    A one-letter "scheme" is a Windows drive (``C://``), not a URI.
    """
    match = _SCHEME.match(location)
    return match.group(1).lower() if match else ""


def is_uri(location: str) -> bool:
    """True when ``location`` has a scheme (``file://`` included)."""
    return bool(scheme(location))


def is_local(location: str) -> bool:
    """True for a plain path or a ``file://`` URI."""
    return scheme(location) in ("", "file")


def local_path(location: str) -> str:
    """The file-system path of a local location (``file://`` stripped).

    Raises:
        ValueError: ``location`` is on an object store.
    """
    kind = scheme(location)
    if kind == "":
        return location
    if kind != "file":
        raise ValueError(f"not a local location (scheme {kind}://)")
    return unquote(urlsplit(location).path) or "/"


def join(root: str, *parts: str) -> str:
    """Join ``parts`` onto ``root``: ``/`` for URIs, the OS separator for paths."""
    if is_uri(root):
        clean = [p.strip("/") for p in parts if p.strip("/")]
        return "/".join([root.rstrip("/"), *clean])
    return os.path.join(root, *parts)


def absolute(location: str, base: str | os.PathLike[str] | None = None) -> str:
    """``location`` with a relative local path anchored at ``base`` (or the cwd).

    URIs and absolute paths are returned as given (``~`` expanded); a relative
    path is joined to ``base`` and resolved (``..`` and symlinks).
    """
    if is_uri(location):
        return location
    path = os.path.expanduser(location)
    if os.path.isabs(path):
        return path
    anchor = os.fspath(base) if base is not None else os.getcwd()
    return os.path.realpath(os.path.join(anchor, path))


def to_spark_uri(location: str) -> str:
    """The location as Spark / Hadoop name it: ``s3://`` becomes ``s3a://``.

    A relative local path becomes absolute: Spark resolves it against the
    JVM's working directory, which is not Python's after an ``os.chdir``.
    """
    kind = scheme(location)
    if not kind:
        return absolute(location)
    if kind in _SPARK_NAMES:
        return _SPARK_NAMES[kind] + location[len(kind) :]
    return location


def to_delta_uri(location: str) -> str:
    """The location as delta-rs / pyarrow name it: ``s3a://`` becomes ``s3://``.

    ``file://`` becomes the plain path, so every local table has one name.
    """
    kind = scheme(location)
    if kind == "file":
        return posixpath.normpath(local_path(location))
    if kind in _DELTA_NAMES:
        return _DELTA_NAMES[kind] + location[len(kind) :]
    return location


def unreadable_because(location: str) -> str:
    """Why a read of ``location`` failed when the store raised ``OSError``, in
    words safe to show a caller: a local table lost a file, a remote store did
    not answer. Never the storage options (they may hold credentials).
    """
    if is_local(location):
        return (
            "a file of the table is missing or unreadable (removed outside Delta, "
            "or its permissions changed)"
        )
    return (
        "the object store did not answer or refused "
        "(check storage_options in featurestore.yaml)"
    )
