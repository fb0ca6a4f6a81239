"""The console's training-set download names no table location, and the replay
it tells the user to run (through the service, by pins) rebuilds the set."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from featurestore.services.server.app import create_server
from featurestore.services.server.settings import ServerSettings
from tests.integration.ui._console import Browserless

pytestmark = [
    pytest.mark.spark,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]

NAME = "fraud/train.parquet"
DEFAULT_ADDRESS = '"127.0.0.1:6566"'


def test_the_download_names_no_location_and_its_replay_rebuilds_the_set(
    open_console, console_project, tmp_path, monkeypatch
):
    # The download carried each table's path on the server, which
    # GetHistoricalFeatures answers have not since 4feec80; and the page said
    # to run `featurestore training-set --replay` on it, which needs them.
    client = Browserless(open_console)
    download = client.request(f"/training-sets/manifest?name={NAME}")
    assert download.status == 200
    tables = json.loads(download.body)["tables"]
    assert tables and [t["path"] for t in tables] == [""] * len(tables)
    assert str(console_project.data) not in download.body
    page = client.request("/training-sets").body
    card = next(
        c
        for c in page.split('class="card training-set"')
        if f"<code>{NAME}</code>" in c
    )
    code = html.unescape(re.search(r'<pre class="replay">(.*?)</pre>', card, re.S)[1])
    assert code.count(DEFAULT_ADDRESS) == 1  # where the service runs: ours

    # Run it as the page says: the downloaded manifest under its file name,
    # the set's entity rows in ENTITIES.parquet, against a running service.
    stored = pq.read_table(console_project.data / "training_sets" / NAME)
    entities = stored.select(["customer_id", "merchant_id", "event_timestamp"])
    pq.write_table(entities, tmp_path / "ENTITIES.parquet")
    (tmp_path / "train.parquet.manifest.json").write_text(download.body)
    monkeypatch.setenv("FS_DATA_DIR", str(console_project.data))
    server = create_server(
        ServerSettings(repo_path=console_project.repo), "127.0.0.1:0"
    )
    try:
        ours = f'"127.0.0.1:{server.port}"'
        run = subprocess.run(
            [sys.executable, "-c", code.replace(DEFAULT_ADDRESS, ours)],
            cwd=tmp_path,
            env=console_project.env(),
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        server.stop(0)
    assert run.returncode == 0, run.stderr
    replayed = pq.read_table(tmp_path / "replayed.parquet")
    assert replayed.num_rows == stored.num_rows > 0
    assert replayed.replace_schema_metadata(None).equals(
        stored.replace_schema_metadata(None)
    )
