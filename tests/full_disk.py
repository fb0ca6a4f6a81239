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
        # ENOSPC ends the loop: the disk is full.
        with open(mount / "filler", "wb", buffering=0) as out, suppress(OSError):
            while True:
                out.write(b"\0" * 4096)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
