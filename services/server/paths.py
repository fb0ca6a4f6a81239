"""Where a client string may become a server path: confined roots, checked names.

One rule for every request field naming a server-side location: the value is
resolved first (relative to the root, symlinks followed, ``..`` collapsed),
then must lie inside a configured root, compared by path components (so
``/data/entities2`` is not inside ``/data/entities``). URIs (``s3://bucket/p``)
are confined by normalised prefix; a ``..`` or ``.`` segment in one is refused,
as object stores do not collapse them. Refusals name the setting, never the
resolved server path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from featurestore.services.server.errors import PermissionDeniedError, RequestError
from featurestore.services.server.settings import ServerSettings

MAX_PATH_CHARS = 4096
MAX_COMPONENT_BYTES = 255
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_uri(value: str) -> bool:
    """True for ``scheme://...`` (a resolved ``file://`` path is local: False)."""
    return bool(_SCHEME.match(value))


@dataclass(frozen=True)
class PathPolicy:
    """The roots entity_rows_path may read under and output_path may write under.

    Attributes:
        enabled: False refuses every server-side path (``server_paths``).
        read_roots: Entity roots (``entity_roots``), local paths or URIs.
        write_root: The training-set root (``training_set_root``).
    """

    enabled: bool
    read_roots: tuple[str, ...]
    write_root: str

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> PathPolicy:
        """The policy the settings describe (defaults inside ``data_dir``)."""
        return cls(
            settings.server_paths,
            tuple(settings.entity_read_roots),
            settings.training_set_write_root,
        )

    @property
    def write_root_resolved(self) -> str:
        """The training-set root itself, resolved as output paths are."""
        return _unparse(_root(self.write_root))

    def resolve_read(self, value: str, field: str = "entity_rows_path") -> str:
        """Where ``value`` points, if inside an entity root.

        Raises:
            RequestError: empty, too long, a NUL byte (INVALID_PATH).
            PermissionDeniedError: paths are off (SERVER_PATHS_DISABLED) or the
                path is outside every root (PATH_OUTSIDE_ROOT).
        """
        return self._resolve(value, field, self.read_roots, "entity_roots")

    def check_read_files(
        self, files: Iterable[str], field: str = "entity_rows_path"
    ) -> None:
        """Refuse a read whose files are not all inside an entity root.

        ``resolve_read`` confines the path asked for; a folder under a root
        may still hold a symlink to a file elsewhere, and a Delta log may name
        data files by absolute path. The files a read opens are checked too.

        Raises:
            PermissionDeniedError: a file outside every root (PATH_OUTSIDE_ROOT).
        """
        bases = [_root(root) for root in self.read_roots]
        for file in files:
            target = _location(file, self.read_roots[0])
            if not any(_inside(target, base, False) for base in bases):
                raise _outside(field, "entity_roots")

    def resolve_write(self, value: str, field: str = "output_path") -> str:
        """Where ``value`` points, if strictly inside the training-set root.

        Raises:
            RequestError: empty, too long, a NUL byte (INVALID_PATH).
            PermissionDeniedError: paths are off, or the path is outside the
                root or is the root itself (PATH_OUTSIDE_ROOT).
        """
        return self._resolve(
            value, field, (self.write_root,), "training_set_root", strict=True
        )

    def _resolve(
        self,
        value: str,
        field: str,
        roots: tuple[str, ...],
        setting: str,
        strict: bool = False,
    ) -> str:
        if not self.enabled:
            raise PermissionDeniedError(
                f"{field} is refused: this server takes no server-side paths "
                "(setting server_paths); send the rows inline or read the stream",
                reason="SERVER_PATHS_DISABLED",
                field=field,
                setting="server_paths",
            )
        _check_syntax(value, field)
        target = _location(value, roots[0])
        for root in roots:
            base = _root(root)
            if _inside(target, base, strict):
                return _unparse(target)
        raise _outside(field, setting, strict)


def _outside(field: str, setting: str, strict: bool = False) -> PermissionDeniedError:
    # strict (outputs): the root itself is refused too; say so, as "." or ""
    # inside the root reads as the root and is no place for a training set.
    where = "a path under it, not the root itself" if strict else "a path under it"
    return PermissionDeniedError(
        f"{field} is outside the server's allowed root (setting {setting}): "
        f"give {where}",
        reason="PATH_OUTSIDE_ROOT",
        field=field,
        setting=setting,
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_syntax(value: str, field: str) -> None:
    # Control characters (NUL, line breaks, tabs, DEL) are legal in POSIX
    # names but no training set needs one, and a name travels on: into the
    # manifest, the console's listing and its download header.
    if not value or len(value) > MAX_PATH_CHARS or _CONTROL.search(value):
        raise RequestError(
            field,
            f"{field} must be 1-{MAX_PATH_CHARS} characters without control "
            "characters (NUL, line breaks, tabs)",
            reason="INVALID_PATH",
        )
    if any(len(p.encode()) > MAX_COMPONENT_BYTES for p in value.split("/")):
        raise RequestError(
            field,
            f"{field} has a component over {MAX_COMPONENT_BYTES} bytes",
            reason="INVALID_PATH",
        )


@dataclass(frozen=True)
class _Location:
    """A resolved place: ``scheme`` "" for the local file system."""

    scheme: str
    bucket: str
    parts: tuple[str, ...]
    escapes: bool = False
    """A URI with a ``.``/``..`` segment: inside nothing."""


def _location(value: str, root: str) -> _Location:
    match = _SCHEME.match(value)
    if match and match.group(1).lower() != "file":
        split = urlsplit(value)
        segments = [s for s in split.path.split("/") if s]
        return _Location(
            split.scheme.lower(),
            split.netloc,
            tuple(segments),
            escapes=any(s in (".", "..") for s in segments),
        )
    if match:  # file://host/path: the local path
        value = urlsplit(value).path or "/"
    elif _SCHEME.match(root) and not value.startswith("/"):
        # A relative path under a URI root.
        base = _root(root)
        joined = [s for s in value.split("/") if s]
        return _Location(
            base.scheme,
            base.bucket,
            (*base.parts, *joined),
            escapes=base.escapes or any(s in (".", "..") for s in joined),
        )
    local_root = urlsplit(root).path if _SCHEME.match(root) else root
    full = os.path.join(local_root, value)  # an absolute value stays itself
    return _Location("", "", PurePosixPath(os.path.realpath(full)).parts)


def _root(root: str) -> _Location:
    # A root is resolved as itself, not joined to itself: a relative one
    # (settings make them absolute; PathPolicy built in code need not) was
    # "training/training", inside which no output ever was.
    return _location(root, "")


def _inside(target: _Location, root: _Location, strict: bool) -> bool:
    if target.escapes or root.escapes:
        return False
    if (target.scheme, target.bucket) != (root.scheme, root.bucket):
        return False
    n = len(root.parts)
    if strict and len(target.parts) <= n:
        return False
    return target.parts[:n] == root.parts


def _unparse(location: _Location) -> str:
    if not location.scheme:
        return str(PurePosixPath(*location.parts))
    return f"{location.scheme}://{location.bucket}/" + "/".join(location.parts)
