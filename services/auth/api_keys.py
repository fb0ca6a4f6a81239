"""Static API keys: a YAML file of argon2id hashes, each naming a principal and roles.

A key reads ``fsk_<id>_<secret>``. The id (not secret) selects one entry, so a
call costs at most one hash; the secret is compared only through argon2's
verification (constant time in the secret). Argon2id rather than scrypt: it is
the Password Hashing Competition winner and OWASP's first choice, and
argon2-cffi stores salt and cost parameters in the PHC string, so costs can be
raised later without a new file format. A verified key is remembered (by its
BLAKE2s digest) until the file changes, so the hot path hashes nothing.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from featurestore.services.auth._digest import token_digest
from featurestore.services.auth.errors import AuthConfigError, AuthenticationError
from featurestore.services.auth.principal import Principal

log = logging.getLogger(__name__)

PREFIX = "fsk"
# OWASP's argon2id floor (19 MiB, t=2, p=1): keys are 256-bit random, so the
# hash guards a stolen key file, not guessable passwords; a bigger cost would
# only make every bad-key probe dearer for the server.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_REMEMBERED = 4096


@dataclass(frozen=True)
class KeyEntry:
    """One line of the key file: the hash of a key and who it speaks for."""

    id: str
    hash: str
    principal: str
    roles: tuple[str, ...]


def new_key() -> tuple[str, str]:
    """A fresh key and its id: ``(fsk_<id>_<secret>, id)``."""
    key_id = secrets.token_hex(6)
    return f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}", key_id


def hash_key(key: str) -> str:
    """The argon2id PHC string stored in the key file for ``key``."""
    return _HASHER.hash(key)


def add_key(path: Path, principal: str, roles: list[str]) -> str:
    """Append a new key for ``principal`` to the file at ``path``; return the key.

    The file is rewritten atomically (a server reloads it on change) and kept
    readable by its owner only; it and its folder are created when missing.
    The key itself is stored nowhere.

    Raises:
        AuthConfigError: ``principal`` or a role is empty or padded with
            spaces, the file is not a key file, or it cannot be written.
    """
    _check_name(principal, "principal")
    for role in roles:
        _check_name(role, "role")
    if path.exists():
        _read_entries(path)  # refuse a file that is not a key file before
        # anything is created beside it (the lock file stays once made)
    key, key_id = new_key()
    entry = KeyEntry(key_id, hash_key(key), principal, tuple(roles))
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(path):
            entries = _read_entries(path) if path.exists() else []
            _write_private(path, _document([*entries, entry]))
    except OSError as exc:
        raise AuthConfigError(
            f"cannot write the API key file {path}: {exc.strerror or exc}"
        ) from exc
    return key


def _check_name(value: str, what: str) -> None:
    if not value or value != value.strip():
        raise AuthConfigError(
            f"{what} {value!r} is empty or starts or ends with spaces"
        )


def _document(entries: list[KeyEntry]) -> dict[str, object]:
    return {
        "keys": [
            {
                "id": e.id,
                "hash": e.hash,
                "principal": e.principal,
                "roles": list(e.roles),
            }
            for e in entries
        ]
    }


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s sibling ``.<name>.lock``.

    Adding a key reads, appends and rewrites the file: two writers at once
    would each drop the other's key. The lock file stays (removing it would
    let a waiting writer lock a file no one else sees).
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


class ApiKeyAuthenticator:
    """Verifies ``fsk_`` keys against a key file, re-read when it changes.

    The file is looked at (one ``stat``) at most every ``recheck_seconds``, so
    a revoked key stops working within that time.
    """

    def __init__(
        self,
        path: Path,
        recheck_seconds: float = 1.0,
        missing_grace_seconds: float = 10.0,
    ) -> None:
        self.path = path
        self.recheck_seconds = recheck_seconds
        self.missing_grace_seconds = missing_grace_seconds
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int, int] | None = None
        self._entries: dict[str, KeyEntry] = {}
        self._known: dict[bytes, Principal] = {}
        self._missing_since: float | None = None
        self._reload(starting=True)

    def authenticate(self, token: str) -> Principal:
        """The key's principal.

        Raises:
            AuthenticationError: malformed, unknown or wrong key.
        """
        now = time.monotonic()
        if now - self._checked >= self.recheck_seconds:
            self._checked = now
            self._reload()
        digest = token_digest(token)
        known = self._known.get(digest)
        if known is not None:
            return known
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            raise AuthenticationError("bearer token is not an fsk_ API key")
        entries = self._entries  # this version of the file, while argon2 runs
        entry = entries.get(parts[1])
        if entry is None:
            raise AuthenticationError(f"unknown API key id {parts[1][:16]!r}")
        try:
            _HASHER.verify(entry.hash, token)
        except (VerificationError, InvalidHashError) as exc:
            raise AuthenticationError(
                f"wrong secret for API key id {entry.id}"
            ) from exc
        principal = Principal(entry.principal, frozenset(entry.roles))
        with self._lock:
            # The file may have changed during the ~30 ms of argon2: a key it
            # revoked must neither pass now nor be remembered for later.
            if self._entries is not entries and self._entries.get(entry.id) != entry:
                raise AuthenticationError(f"API key id {entry.id} was just revoked")
            if len(self._known) >= _REMEMBERED:
                self._known.clear()
            self._known[digest] = principal
        return principal

    def _reload(self, starting: bool = False) -> None:
        """Re-read the file when it changed. At start a missing or malformed
        file is an error; later the last good keys stay while a file is being
        rewritten (a malformed one is logged), and a file gone for longer
        than ``missing_grace_seconds`` revokes every key until it is back."""
        try:
            info = self.path.stat()
        except OSError as exc:
            if starting:
                raise AuthConfigError(
                    f"API key file unreadable: {exc.strerror}"
                ) from exc
            self._gone()
            return
        self._missing_since = None
        if starting and info.st_mode & 0o077:
            # Hashes, not keys; still, who may use the API is nobody else's
            # business, and add-key writes 0600.
            log.warning(
                "API key file %s is readable or writable by other users (mode "
                "%o): chmod 600 it",
                self.path.name,
                info.st_mode & 0o777,
            )
        # ctime too: a rewrite keeping size and mtime (cp -p, rsync -a, a
        # store with fixed mtimes) still moves it; the inode for a rename.
        stamp = (info.st_ino, info.st_ctime_ns, info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return
        try:
            entries = {e.id: e for e in _read_entries(self.path)}
        except AuthConfigError as exc:
            if starting:
                raise
            log.error("%s: keeping the keys last read until it is fixed", exc)
            self._stamp = stamp  # logged once per version of the file
            return
        with self._lock:
            # A changed file may revoke keys: forget every verified key.
            self._entries, self._known, self._stamp = entries, {}, stamp

    def _gone(self) -> None:
        now = time.monotonic()
        if self._missing_since is None:
            self._missing_since = now
            log.warning(
                "API key file %s is gone: its keys stay valid for %gs (a "
                "rotation replacing it), then every key is refused",
                self.path.name,
                self.missing_grace_seconds,
            )
        if self._stamp is not None and (
            now - self._missing_since >= self.missing_grace_seconds
        ):
            with self._lock:
                self._entries, self._known, self._stamp = {}, {}, None
            log.error(
                "API key file %s is still gone: every key is refused until it is back",
                self.path.name,
            )


def _read_entries(path: Path) -> list[KeyEntry]:
    """The entries of a key file, every field checked: a hand edit that
    would be misread (roles a string, a principal a list, an id twice) is
    refused rather than turned into other roles or another principal.

    Raises:
        AuthConfigError: not a valid key file (never quoting a line of it:
            the line may hold a hash).
    """
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        # from None: YAML's error quotes the line, a key's hash with it.
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise _invalid(path, at) from None
    if not isinstance(document, dict):
        raise _invalid(path, ": not a mapping")
    items = document.get("keys")
    if not isinstance(items, list | None):
        raise _invalid(path, ": keys is not a list")
    entries, seen = [], set()
    for n, item in enumerate(items or (), start=1):
        entry = _entry(item)
        if entry is None:
            raise _invalid(
                path,
                f": entry {n} needs id, hash and principal as text and roles "
                "as a list of text",
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
    return KeyEntry(key_id, hashed, principal, tuple(roles))


def _invalid(path: Path, why: str) -> AuthConfigError:
    return AuthConfigError(
        f"API key file {path.name} is not a valid key file{why} "
        "(keys: [{id, hash, principal, roles}])"
    )
