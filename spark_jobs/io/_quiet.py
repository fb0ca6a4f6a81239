"""Spark's loggers that log what a write also raises, off while it runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyspark.sql import SparkSession

WRITE_FAILURE_LOGGERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
    "org.apache.spark.util.Utils",
    "org.apache.spark.sql.execution.datasources.FileFormatWriter",
    "org.apache.spark.sql.delta.files.DeltaFileFormatWriter",
)
"""Who logs a failed write task at ERROR with its whole Java stack (a full
disk: ~300 lines) before the driver raises the same error: publish reports it
in one line, anything it does not know propagates with that stack."""

_LOCK = threading.Lock()
_HOLDERS: dict[str, int] = {}
"""Logger name -> how many running writes turned it off; the first sets it
off, the last restores it, so concurrent writes never restore "off"."""
_SAVED: dict[str, Any] = {}
"""Logger name -> its own level before it was turned off (None: it had none)."""


@contextmanager
def loggers_off(spark: SparkSession, names: tuple[str, ...]) -> Iterator[None]:
    """Turn the driver's log4j loggers ``names`` off while the block runs.

    Each logger's own setting is restored after the last concurrent holder
    leaves (or removed, when it had none, so it follows the root level again).
    """
    log4j: Any = spark.sparkContext._jvm.org.apache.logging.log4j  # type: ignore[union-attr]
    with _LOCK:
        for name in names:
            if _HOLDERS.get(name, 0) == 0:
                _SAVED[name] = _own_level(log4j, name)
                log4j.core.config.Configurator.setLevel(name, log4j.Level.OFF)
            _HOLDERS[name] = _HOLDERS.get(name, 0) + 1
    try:
        yield
    finally:
        with _LOCK:
            for name in names:
                _HOLDERS[name] -= 1
                if _HOLDERS[name] == 0:
                    _restore(log4j, name, _SAVED.pop(name))


def _own_level(log4j: Any, name: str) -> Any:
    config = log4j.LogManager.getContext(False).getConfiguration()
    if not config.getLoggers().containsKey(name):
        return None
    return config.getLoggerConfig(name).getLevel()


def _restore(log4j: Any, name: str, level: Any) -> None:
    if level is not None:
        log4j.core.config.Configurator.setLevel(name, level)
        return
    context = log4j.LogManager.getContext(False)
    context.getConfiguration().removeLogger(name)
    context.updateLoggers()
