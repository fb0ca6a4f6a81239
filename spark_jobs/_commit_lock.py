"""One writer at a time commits to a local Delta table, across processes.

Spark's Delta log store on a local file system checks that the next commit
file does not exist and then renames onto it; rename(2) replaces, so two
processes committing the same version at once can both succeed and one
commit is lost (Delta serialises only the writers inside one JVM). delta-rs
commits locally with a hard link, which refuses an existing name, but a Spark
writer racing it still replaces its commit. So every commit this package
makes to a local table holds an ``flock`` on a file inside the table's
folder: the kernel releases it when the holder's file closes or its process
dies, so a killed job never leaves the table locked. Object stores follow
their own rules (see the README: one driver per S3 table).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from featurestore.services.storage import is_local, local_path

log = logging.getLogger(__name__)

LOCK_FILE = "_featurestore_commit.lock"
"""The lock's file, in the table's folder: it moves and goes with the table,
and every name of the folder (relative, symlinked) locks the same file. A
leading ``_`` hides it from Delta (VACUUM in Spark and delta-rs skip such
files), Spark's and Arrow's file listings; no ``_delta_log`` is made, so the
folder is no Delta table until a commit makes it one."""

_HELD = threading.local()


def lock_path(location: str) -> str:
    """The lock file of the local table at ``location``."""
    return os.path.join(local_path(location), LOCK_FILE)


@contextmanager
def committing(location: str) -> Iterator[None]:
    """Hold the commit lock of the table at ``location`` (local tables only).

    Waits for a writer that holds it, saying so once (WARNING). Re-entrant in
    one thread: a commit nested in another to the same table does not wait
    for itself. The lock file stays (removing it would let a waiting writer
    lock a file no one else sees).
    """
    if not is_local(location):
        yield
        return
    path = os.path.realpath(lock_path(location))
    held: set[str] = _HELD.__dict__.setdefault("paths", set())
    if path in held:
        yield
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Each open is its own open file description: flock excludes threads of
    # this process too, not only other processes. Read-only: flock needs no
    # write access, so another user's writer locks a file it did not create.
    lock = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another writer's commit to %s", location)
            fcntl.flock(lock, fcntl.LOCK_EX)
        held.add(path)
        try:
            yield
        finally:
            held.discard(path)
    finally:
        os.close(lock)  # releases the lock
