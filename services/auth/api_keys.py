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

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from featurestore.services.auth._digest import token_digest
from featurestore.services.auth._file_mode import warn_if_open_to_others
from featurestore.services.auth._key_file import (
    KeyEntry,
    check_name,
    now_stamp,
    read_entries,
    update_entries,
)
from featurestore.services.auth.errors import (
    AuthConfigError,
    AuthenticationError,
    KeyNotFoundError,
)
from featurestore.services.auth.principal import Principal

log = logging.getLogger(__name__)

PREFIX = "fsk"
# OWASP's argon2id floor (19 MiB, t=2, p=1): keys are 256-bit random, so the
# hash guards a stolen key file, not guessable passwords; a bigger cost would
# only make every bad-key probe dearer for the server.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_REMEMBERED = 4096


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown of a key: never its hash, never its secret."""

    id: str
    """The ``<id>`` of ``fsk_<id>_<secret>``."""
    principal: str
    roles: tuple[str, ...]
    created: str | None
    """When it was made (UTC, ``YYYY-MM-DDTHH:MM:SSZ``); None if not stored."""


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
    check_name(principal, "principal")
    for role in roles:
        check_name(role, "role")
    key, key_id = new_key()
    entry = KeyEntry(key_id, hash_key(key), principal, tuple(roles), now_stamp())
    update_entries(path, lambda entries: [*entries, entry], create=True)
    return key


def list_keys(path: Path) -> list[ApiKeyInfo]:
    """The keys of the file at ``path``, in file order.

    Raises:
        AuthConfigError: the file is missing or not a key file.
    """
    return [_info(entry) for entry in read_entries(path)]


def revoke_key(path: Path, key_id: str) -> ApiKeyInfo:
    """Remove the key ``key_id`` from the file at ``path``; return what it was.

    Servers reading the file refuse the key once they see the change (they
    look at the file about once a second).

    Raises:
        KeyNotFoundError: no key has that id (the file is left as it was).
        AuthConfigError: ``key_id`` is a whole key, or the file is missing,
            not a key file, or cannot be written.
    """
    _check_key_id(key_id)
    revoked: list[KeyEntry] = []

    def without(entries: list[KeyEntry]) -> list[KeyEntry]:
        revoked.extend(e for e in entries if e.id == key_id)
        if not revoked:
            raise KeyNotFoundError(key_id, str(path))
        return [e for e in entries if e.id != key_id]

    update_entries(path, without)
    return _info(revoked[0])


def rotate_key(path: Path, key_id: str) -> tuple[str, ApiKeyInfo]:
    """Replace the key ``key_id`` with a new one for the same principal and roles.

    The new key has a new id (an id names one secret, ever: a server log's
    "unknown API key id" then tells a caller still on the old key from a
    wrong secret), takes the old entry's place in the file, and the old key
    stops working as a revoked one does.

    Returns:
        The new key (stored nowhere: show it once) and what the file holds of it.

    Raises:
        KeyNotFoundError: no key has that id (the file is left as it was).
        AuthConfigError: ``key_id`` is a whole key, or the file is missing,
            not a key file, or cannot be written.
    """
    _check_key_id(key_id)
    key, new_id = new_key()
    hashed = hash_key(key)  # ~30 ms: before the lock, not under it
    made: list[KeyEntry] = []

    def rotated(entries: list[KeyEntry]) -> list[KeyEntry]:
        for n, old in enumerate(entries):
            if old.id == key_id:
                made.append(
                    KeyEntry(new_id, hashed, old.principal, old.roles, now_stamp())
                )
                return [*entries[:n], made[0], *entries[n + 1 :]]
        raise KeyNotFoundError(key_id, str(path))

    update_entries(path, rotated)
    return key, _info(made[0])


def _check_key_id(key_id: str) -> None:
    # A whole key given for its id would be echoed in "no key with id ...":
    # refuse it without quoting it.
    if key_id.startswith(f"{PREFIX}_"):
        raise AuthConfigError(
            f"a whole key was given where its id is wanted: the id is the part "
            f"between '{PREFIX}_' and the next '_' (list-keys shows the ids)"
        )


def _info(entry: KeyEntry) -> ApiKeyInfo:
    return ApiKeyInfo(entry.id, entry.principal, entry.roles, entry.created)


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
        if starting:
            # Hashes, not keys; still, who may use the API is nobody else's
            # business, and add-key writes 0600.
            warn_if_open_to_others(self.path, info.st_mode, "API key file")
        # ctime too: a rewrite keeping size and mtime (cp -p, rsync -a, a
        # store with fixed mtimes) still moves it; the inode for a rename.
        stamp = (info.st_ino, info.st_ctime_ns, info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return
        try:
            entries = {e.id: e for e in read_entries(self.path)}
        except AuthConfigError as exc:
            if starting:
                raise
            log.error("%s: keeping the keys last read until it is fixed", exc)
            self._stamp = stamp  # logged once per version of the file
            return
        if not entries:  # `keys: []`: revoke-key of the last key writes it
            log.warning(
                "API key file %s holds no keys: every API key is refused",
                self.path.name,
            )
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
