"""The API key file: its entries read and checked, every change written one way."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from featurestore.services.auth.errors import AuthConfigError


@dataclass(frozen=True)
class KeyEntry:
    """One line of the key file: the hash of a key and who it speaks for."""

    id: str
    hash: str = field(repr=False)  # never in a log line or a traceback
    principal: str
    roles: tuple[str, ...]
    created: str | None = None
    """When the key was made (``YYYY-MM-DDTHH:MM:SSZ``); None in older files."""


def now_stamp() -> str:
    """The current UTC time as stored in ``created``.

    Fixed width (seconds, ``Z``): two files of the same keys are the same size.
    """
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_name(value: str, what: str) -> None:
    """Refuse an empty name or one padded with spaces.

    Raises:
        AuthConfigError: ``value`` is empty or starts or ends with spaces.
    """
    if not value or value != value.strip():
        raise AuthConfigError(
            f"{what} {value!r} is empty or starts or ends with spaces"
        )


def update_entries(
    path: Path,
    change: Callable[[list[KeyEntry]], list[KeyEntry]],
    create: bool = False,
) -> None:
    """Replace the entries of the file at ``path`` with ``change(entries)``.

    The one way the file is written: under an exclusive lock (each change
    reads, edits and rewrites the whole file: two writers at once would each
    drop the other's edit), replaced atomically (a server reloads it on
    change and must never read half a file) and readable by its owner only.
    A file that is not a key file is refused before anything is created
    beside it. ``change`` runs under the lock; what it raises leaves the
    file as it was.

    Args:
        path: the key file.
        change: the new entries from the current ones.
        create: make the file when missing (its folder must exist);
            otherwise a missing file is an error.

    Raises:
        AuthConfigError: the file is missing (and not ``create``), its folder
            is missing, it is not a key file, or it cannot be written.
    """
    if path.exists():
        read_entries(path)  # refuse a file that is not a key file before
        # anything is created beside it (the lock file stays once made)
    elif not create:
        raise _missing(path)
    elif not path.parent.is_dir():
        # Never made: a typo in the folder would leave a key file no server
        # reads, and the key printed would work nowhere.
        raise AuthConfigError(
            f"cannot create the API key file {path}: the folder {path.parent} "
            "does not exist (create it first)"
        )
    try:
        with _locked(path):
            if path.exists():
                entries = read_entries(path)
            elif create:
                entries = []
            else:  # removed since it was looked at: nothing to change
                raise _missing(path)
            changed = change(entries)
            ids = [e.id for e in changed]
            if len(set(ids)) != len(ids):  # never write what no server reads
                raise AuthConfigError("a new key id equals another: run it again")
            _write_private(path, _document(changed))
    except OSError as exc:
        raise AuthConfigError(
            f"cannot write the API key file {path}: {exc.strerror or exc}"
        ) from exc


def read_entries(path: Path) -> list[KeyEntry]:
    """The entries of a key file, every field checked: a hand edit that
    would be misread (roles a string, a principal a list, an id twice) is
    refused rather than turned into other roles or another principal.

    Raises:
        AuthConfigError: missing, unreadable, or not a valid key file (never
            quoting a line of it: the line may hold a hash).
    """
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise _missing(path) from None
    except OSError as exc:  # EACCES, EISDIR, EIO: the content is not the problem
        raise AuthConfigError(
            f"cannot read the API key file {path}: {exc.strerror or exc} "
            f"(errno {exc.errno})",
            file=str(path),
        ) from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        # from None: YAML's error quotes the line, a key's hash with it.
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise _invalid(path, at) from None
    if document is None or (
        isinstance(document, dict) and document.get("keys") is None
    ):
        # Empty, comments only or `keys:` alone: a truncated write (an
        # editor's half-done save) reads so, and must not revoke every key.
        # A file with no keys says so: `keys: []`, as revoke-key writes it.
        raise _invalid(
            path, ": no keys list (empty or cut short? no keys is `keys: []`)"
        )
    if not isinstance(document, dict):
        raise _invalid(path, ": not a mapping")
    items = document["keys"]
    if not isinstance(items, list):
        raise _invalid(path, ": keys is not a list")
    entries, seen = [], set()
    for n, item in enumerate(items, start=1):
        entry = _entry(item)
        if entry is None:
            raise _invalid(
                path,
                f": entry {n} needs id, hash and principal as text and roles "
                "as a list of text (created, when there, a time)",
            )
        if entry.id in seen:
            raise _invalid(path, f": id {entry.id!r} appears twice")
        seen.add(entry.id)
        entries.append(entry)
    return entries


def _entry(item: object) -> KeyEntry | None:
    """``item`` as an entry; None when a field is missing or of another type."""
    if not isinstance(item, dict):
        return None
    key_id, hashed, principal = (item.get(n) for n in ("id", "hash", "principal"))
    roles = item.get("roles") or []
    texts = isinstance(key_id, str) and isinstance(hashed, str)
    if not (texts and isinstance(principal, str) and key_id and hashed and principal):
        return None
    if not (isinstance(roles, list) and all(isinstance(r, str) for r in roles)):
        return None
    created = item.get("created")
    if isinstance(created, date):  # a hand edit's unquoted time or day
        created = created.isoformat()
    elif created is not None and not isinstance(created, str):
        return None
    return KeyEntry(key_id, hashed, principal, tuple(roles), created)


def _document(entries: list[KeyEntry]) -> dict[str, object]:
    def item(e: KeyEntry) -> dict[str, object]:
        fields = {"id": e.id, "hash": e.hash, "principal": e.principal}
        created = {} if e.created is None else {"created": e.created}
        return {**fields, "roles": list(e.roles), **created}

    return {"keys": [item(e) for e in entries]}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s sibling ``.<name>.lock``.

    The lock file stays (removing it would let a waiting writer lock a file
    no one else sees).
    """
    lock = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # releases the lock


def _write_private(path: Path, document: object) -> None:
    """Replace ``path`` atomically with ``document`` as YAML, mode 0600."""
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w") as out:  # mkstemp creates it 0600
            yaml.safe_dump(document, out, sort_keys=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _missing(path: Path) -> AuthConfigError:
    return AuthConfigError(f"no API key file at {path}", file=str(path))


def _invalid(path: Path, why: str) -> AuthConfigError:
    return AuthConfigError(
        f"API key file {path.name} is not a valid key file{why} "
        "(keys: [{id, hash, principal, roles, created}])"
    )
