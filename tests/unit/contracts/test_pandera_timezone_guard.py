"""Importing the contracts (so pandera) must not change how Spark or pyarrow act."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import featurestore.services.contracts
from featurestore.services.contracts import build_pandas_schema  # loads pandera
import pyarrow as pa
from datetime import datetime, UTC
from zoneinfo import ZoneInfo
local = datetime(2024, 3, 10, tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
print(pa.array([local], pa.timestamp("us", tz="UTC")).to_pylist()[0].isoformat())
"""


def _fresh_output(script: str, unset: str) -> str:
    """What ``script`` prints in a fresh interpreter with ``unset`` not in its env."""
    env = {k: v for k, v in os.environ.items() if k != unset}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_pandera_import_leaves_pyarrow_timezones_alone() -> None:
    out = _fresh_output(SCRIPT, unset="PYARROW_IGNORE_TIMEZONE")
    # pandera alone would set PYARROW_IGNORE_TIMEZONE=1 and give 19:00 here.
    assert out == "2024-03-10T00:00:00+00:00"


SIDE_EFFECTS = """
import os, sys
import featurestore.services.contracts.verdict  # loads pandera
print(os.environ.get("SPARK_LOCAL_IP"), "pyspark.pandas" in sys.modules)
import pyspark.pandas  # still importable by whoever wants it
"""


def test_pandera_import_leaves_spark_settings_alone() -> None:
    out = _fresh_output(SIDE_EFFECTS, unset="SPARK_LOCAL_IP")
    # pandera alone would set SPARK_LOCAL_IP=127.0.0.1 (a driver on a cluster
    # would bind to localhost) and import pyspark.pandas (seconds per worker).
    assert out == "None False"
