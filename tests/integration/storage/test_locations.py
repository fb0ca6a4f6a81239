"""The project config is the one source of table locations, on a running server too.

The registry holds table references (``featurestore://customer_stats``), not
the paths of the day ``feast apply`` ran: ``$FS_DATA_DIR`` and
featurestore.yaml's ``data_dir`` decide where a server reads, when it reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from featurestore.services.client import FeatureStoreClient
from featurestore.services.project import Project
from featurestore.services.server.app import RunningServer, create_server
from featurestore.services.server.settings import ServerSettings
from tests.integration.serving._repo import customer_rows
from tests.integration.storage._project import (
    apply,
    featurestore_yaml,
    write_project,
    write_tables,
)
from tests.integration.storage.test_s3_serving import _entities

pytestmark = [pytest.mark.integration]


def _scaled(factor: float) -> pa.Table:
    rows = customer_rows()
    spend = pc.multiply(rows.column("spend"), factor)
    return rows.set_column(rows.schema.get_field_index("spend"), "spend", spend)


def _spend(client: FeatureStoreClient) -> list[float | None]:
    table = client.get_historical_features(_entities(), ["customer_stats:spend"]).table
    return table.column("spend").to_pylist()


@pytest.fixture
def applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repo applied while its data_dir was ``applied-data`` (spend x1)."""
    monkeypatch.delenv("FS_DATA_DIR", raising=False)
    repo = write_project(tmp_path, str(tmp_path / "applied-data"))
    write_tables(Project.load(repo), customers=_scaled(1.0))
    apply(repo)
    for name, factor in (("moved-data", 100.0), ("edited-data", 7.0)):
        write_tables(
            Project.load(repo, env={"FS_DATA_DIR": str(tmp_path / name)}),
            customers=_scaled(factor),
        )
    return repo


@pytest.fixture
def served(applied: Path) -> Iterator[FeatureStoreClient]:
    running: RunningServer = create_server(
        ServerSettings(repo_path=applied), "127.0.0.1:0"
    )
    with FeatureStoreClient(f"127.0.0.1:{running.port}", timeout=60) as client:
        yield client
    running.stop(0)


def test_fs_data_dir_decides_where_a_server_reads_not_feast_apply(
    applied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = _without_server(applied)
    monkeypatch.setenv("FS_DATA_DIR", str(tmp_path / "moved-data"))
    running = create_server(ServerSettings(repo_path=applied), "127.0.0.1:0")
    try:
        with FeatureStoreClient(f"127.0.0.1:{running.port}", timeout=60) as client:
            moved = _spend(client)
    finally:
        running.stop(0)
    assert [v * 100 if v is not None else None for v in baseline] == moved
    assert any(v is not None for v in moved)


def test_an_edited_featurestore_yaml_takes_effect_on_the_running_server(
    applied: Path, tmp_path: Path, served: FeatureStoreClient
) -> None:
    before = _spend(served)
    (applied / "featurestore.yaml").write_text(
        featurestore_yaml(str(tmp_path / "edited-data"))
    )
    after = _spend(served)
    assert [v * 7 if v is not None else None for v in before] == after
    assert any(v is not None for v in after)


def _without_server(repo: Path) -> list[float | None]:
    from featurestore.services.offline import HistoricalRequest, get_historical_features

    store = apply(repo)
    request = HistoricalRequest(entity=_entities(), features=["customer_stats:spend"])
    return get_historical_features(store, request).table.column("spend").to_pylist()
