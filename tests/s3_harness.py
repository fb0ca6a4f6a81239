"""A real S3-compatible server on 127.0.0.1: moto's server mode in its own process.

moto (Apache-2.0, pure Python, pinned in the dev extra) speaks the S3 REST
API over HTTP, so delta-rs and pyarrow reach it exactly as they reach AWS,
through an endpoint URL. It runs as a child process, not a thread: delta-rs
holds the GIL while it waits for HTTP answers, so an in-process server would
never answer it. Not MinIO, whose AGPL licence the project does not take.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port, stop_process

ACCESS_KEY = "fs-test-access"
SECRET_KEY = "fs-test-secret-d41d8cd98f00b204"
"""Distinctive, so a test can assert it appears in no message."""
REGION = "us-east-1"
BUCKET = "featurestore-test"


@dataclass
class S3Server:
    """The running server: its endpoint, one bucket, the options to reach it."""

    process: subprocess.Popen[bytes]
    endpoint: str
    bucket: str = BUCKET

    def options(self, *, inline_secret: bool = True) -> dict[str, str]:
        """delta-rs storage options for this endpoint (credentials included)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY if inline_secret else "${FS_TEST_S3}",
        }

    def prefix(self, name: str = "t") -> str:
        """A fresh ``s3://bucket/<name>-<random>`` root for one test."""
        return f"s3://{self.bucket}/{name}-{uuid.uuid4().hex[:8]}"

    def keys(self, prefix: str) -> list[str]:
        """Keys under ``s3://bucket/<prefix>``, listed without delta-rs."""
        import pyarrow.fs as pafs

        fs = pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region=REGION,
            endpoint_override=self.endpoint,
            scheme="http",
        )
        selector = pafs.FileSelector(
            f"{self.bucket}/{prefix}", recursive=True, allow_not_found=True
        )
        return sorted(
            info.path.removeprefix(f"{self.bucket}/")
            for info in fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        )

    def stop(self) -> None:
        """Terminate the server process."""
        stop_process(self.process)


def start(log_dir: Path, timeout: float = 30.0) -> S3Server:
    """Start moto's server on a free port, create the bucket, return it.

    Raises:
        RuntimeError: the server did not answer within ``timeout`` seconds
            (its log is quoted).
    """
    port = free_port()
    log = log_dir / "moto.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false"},
        )
    server = S3Server(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(
                    f"moto server did not start: {log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.1)
    request = urllib.request.Request(f"{server.endpoint}/{server.bucket}", method="PUT")
    urllib.request.urlopen(request, timeout=5).close()
    return server
