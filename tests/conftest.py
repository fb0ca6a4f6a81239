"""Shared fixtures: one Spark session for the whole run, data folders per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# What the Makefile passes, for a bare `pytest` in the checkout: the Delta jars
# cached in .cache/ivy and the front `make front` built (not the user's cache).
_CHECKOUT = Path(__file__).resolve().parents[1]
os.environ.setdefault("FS_IVY_DIR", str(_CHECKOUT / ".cache" / "ivy"))
os.environ.setdefault(
    "FS_FRONT_BINARY", str(_CHECKOUT / ".cache" / "go" / "bin" / "fs-front")
)

# No hypothesis example may fail for being slow: speed is measured in
# benchmarks/, never asserted in a test, and the 200 ms default deadline made
# a correctness test fail once when the machine paused (a CI run, 255 ms).
settings.register_profile("featurestore", deadline=None)
settings.load_profile("featurestore")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local[2] SparkSession with Delta and S3A, shared by every Spark test."""
    from featurestore.spark_jobs.session import build_spark_session

    session = build_spark_session("tests", "local[2]", shuffle_partitions=2, s3a=True)
    yield session
    session.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data root (raw/ and features/ go below it)."""
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real S3-compatible server (moto, its own process) on 127.0.0.1."""
    from tests.s3_harness import start

    server = start(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()
