"""A real full filesystem for tests: a 1 MiB tmpfs mounted in a tmp folder."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """``folder`` mounted as a 1 MiB tmpfs (unmounted on exit); skips the test
    when mounting is not permitted (CI runs as root, where it is)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until its filesystem is full; the file."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    # A byte-sized write can still fit in the last page: fill that too.
    with filler.open("ab", buffering=0) as out:
        try:
            while True:
                out.write(b"\0")
        except OSError:
            pass
    assert os.statvfs(folder).f_bavail == 0
    return filler
