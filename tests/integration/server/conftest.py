"""A real feature repo for server tests: Delta tables, feast apply, a server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest
from deltalake import write_deltalake

from featurestore.services.server.app import create_server
from featurestore.services.server.settings import ServerSettings
from tests.integration.server._served import (
    NOW,
    REPO,
    ServedRepo,
    customer_spend_rows,
    feast_cli,
    merchant_risk_rows,
)


@pytest.fixture(scope="session")
def served_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedRepo]:
    """Copy feature_repo, write Delta tables, run the real feast CLI, start a server."""
    root = tmp_path_factory.mktemp("served")
    repo, data = root / "feature_repo", root / "data"
    shutil.copytree(
        REPO / "feature_repo", repo, ignore=shutil.ignore_patterns("__pycache__")
    )
    write_deltalake(str(data / "features" / "customer_spend"), customer_spend_rows())
    write_deltalake(str(data / "features" / "merchant_risk"), merchant_risk_rows())
    env = {**os.environ, "FS_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}
    feast_cli("apply", repo=repo, env=env)
    end = (NOW + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    start = (NOW - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    feast_cli("materialize", start, end, repo=repo, env=env)
    settings = ServerSettings(
        repo_path=repo,
        contracts_dir=REPO / "feature_repo" / "contracts",
        data_dir=data,
        max_online_entity_rows=50,
        registry_refresh_seconds=1.0,
    )
    server = create_server(settings, "127.0.0.1:0")
    address = f"127.0.0.1:{server.port}"
    channel = grpc.insecure_channel(address)
    try:
        yield ServedRepo(repo, data, server, address, channel)
    finally:
        channel.close()
        server.stop(0)
