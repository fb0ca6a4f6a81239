"""A real full file system for tests: a small tmpfs filled to its last byte."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest


@contextmanager
def full_tmpfs(mount: Path) -> Iterator[Path]:
    """Mount a 1 MiB tmpfs at ``mount`` (created), fill it, unmount after.

    Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped.
    """
    mount.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.strip()}")
    try:
        fill(mount)
        yield mount
    finally:
        # Lazy: a JVM whose write failed there may hold the file open until
        # its garbage collector runs; the mount goes now, its memory then.
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def fill(mount: Path, name: str = "filler") -> None:
    """Write ``mount/name`` until the file system is full (again, after a
    test freed room by removing the filler to set something up)."""
    # ENOSPC ends the loop: the disk is full.
    with open(mount / name, "wb", buffering=0) as out, suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
