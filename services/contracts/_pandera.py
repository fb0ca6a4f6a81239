"""Pandera, imported without the side effects it has where PySpark is installed.

``import pandera`` (any submodule) runs ``external_config`` when PySpark is
importable: it imports ``pyspark.pandas`` (0.6-0.9 s here, ~4.4 s in a fresh
Spark Python worker, which every ``mapInArrow`` worker pays once) and sets
``SPARK_LOCAL_IP=127.0.0.1`` and ``PYARROW_IGNORE_TIMEZONE=1`` for the
whole process. The first would make a driver that imports the contracts
before starting its session bind to localhost, unreachable from a cluster's
executors; with the second, pyarrow builds timestamp arrays from tz-aware
datetimes by their wall-clock time, silently shifting instants (seen: New
York entity times moved 5 h in the Spark and DuckDB joins). We use
Pandera's pandas backend only, so ``pyspark.pandas`` is hidden while Pandera
imports (its typing module then leaves out the pandas-on-Spark types, which
we never use) and both variables are put back as they were.
"""

from __future__ import annotations

import os
import sys

_ENVIRONMENT = ("SPARK_LOCAL_IP", "PYARROW_IGNORE_TIMEZONE")


def _import_quietly() -> None:
    saved = {name: os.environ.get(name) for name in _ENVIRONMENT}
    hide = "pyspark.pandas" not in sys.modules
    if hide:
        sys.modules["pyspark.pandas"] = None  # type: ignore[assignment]
    try:
        import pandera.errors
        import pandera.pandas  # noqa: F401
    finally:
        if hide and sys.modules.get("pyspark.pandas", 0) is None:
            del sys.modules["pyspark.pandas"]
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_import_quietly()

import pandera.errors as errors  # noqa: E402
import pandera.pandas as pa  # noqa: E402

__all__ = ["errors", "pa"]
