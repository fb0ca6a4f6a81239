"""Importing featurestore skips typeguard's instrumentation of Feast's classes only.

Each case runs in a fresh interpreter: the instrumentation happens while Feast
is imported, once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# A Feast Field with a description that is not a string: Feast's @typechecked
# __init__ refuses it; without the instrumentation it is accepted as given.
FEAST_CALL = """
import featurestore
from feast import Field
from feast.types import Int64
try:
    Field(name="x", dtype=Int64, description=5)
except Exception as exc:
    print("refused", type(exc).__name__)
else:
    print("accepted")
"""

# Someone else's @typechecked function in the same process keeps its checks.
OTHER_CALL = """
import featurestore
import feast
from typeguard import typechecked

@typechecked
def double(n: int) -> int:
    return 2 * n

try:
    double("x")
except Exception as exc:
    print("refused", type(exc).__name__)
else:
    print("accepted")
"""


def _run(code: str, folder: Path, **env: str) -> str:
    script = folder / "script.py"  # typeguard instruments from a source file
    script.write_text(code)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=120, check=True,
    )  # fmt: skip
    return proc.stdout.strip()


def test_feast_classes_are_not_instrumented_after_importing_featurestore(
    tmp_path: Path,
) -> None:
    assert _run(FEAST_CALL, tmp_path, FS_FEAST_TYPECHECKS="") == "accepted"


def test_fs_feast_typechecks_keeps_feasts_checks(tmp_path: Path) -> None:
    assert (
        _run(FEAST_CALL, tmp_path, FS_FEAST_TYPECHECKS="1") == "refused TypeCheckError"
    )


def test_other_typechecked_functions_keep_their_checks(tmp_path: Path) -> None:
    assert (
        _run(OTHER_CALL, tmp_path, FS_FEAST_TYPECHECKS="") == "refused TypeCheckError"
    )


# typeguard imported before featurestore: patched at once, not by the finder.
TYPEGUARD_FIRST = "import typeguard\n" + FEAST_CALL

LAZY = """
import sys
import featurestore
print("typeguard" in sys.modules)
"""


def test_feast_classes_are_not_instrumented_when_typeguard_came_first(
    tmp_path: Path,
) -> None:
    assert _run(TYPEGUARD_FIRST, tmp_path, FS_FEAST_TYPECHECKS="") == "accepted"


def test_importing_featurestore_does_not_import_typeguard(tmp_path: Path) -> None:
    # ~60-140 ms of every command's start-up, Feast-free ones included.
    assert _run(LAZY, tmp_path, FS_FEAST_TYPECHECKS="") == "False"
