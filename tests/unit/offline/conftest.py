"""Fixtures for the offline-store unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

# The project is not installed into the venv and pytest's rootdir insertion
# only adds the test folder, so make `services` importable from the repo root.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
