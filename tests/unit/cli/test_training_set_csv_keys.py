"""``featurestore training-set --entities x.csv``: a string join key whose
values look like numbers ("007", "12") stays text.

pyarrow inferred such a column as int64 and the join refused it ("join key is
int64 in the entity table but string in view"), so such keys (zip codes,
account numbers) could not come from a CSV; reading "007" as 7 would have
joined the wrong row. A real project (delta-rs table, FeatureStore.apply), the
real CLI through ``main``; the oracle is the table's one row per key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from featurestore.services.cli import main
from tests.delta_repo import delta_repo

pytestmark = pytest.mark.integration  # feast apply

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
RISK = {"007": 0.7, "7": 7.0, "12": 12.0}
"""The oracle: zip code -> risk (one row each, a day before NOW)."""

DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64

area = Entity(name="area", join_keys=["zip"], value_type=ValueType.STRING)
risk = FeatureView(
    name="zip_risk", entities=[area], ttl=timedelta(days=30),
    schema=[Field(name="risk", dtype=Float64)],
    source=FileSource(name="zip_risk", path="data/features/zip_risk",
                      file_format=DeltaFormat(), timestamp_field="event_timestamp",
                      created_timestamp_column="created_timestamp"),
)
shipping = FeatureService(
    name="shipping", features=[risk.with_join_key_map({"zip": "ship_zip"})]
)
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    delta_repo(repo, "csv_keys", DEFINITIONS, state=tmp_path)
    write_deltalake(
        str(repo / "data" / "features" / "zip_risk"),
        pa.table(
            {
                "zip": pa.array(list(RISK), pa.string()),
                "risk": list(RISK.values()),
                "event_timestamp": pa.array([NOW - timedelta(days=1)] * 3, TS),
                "created_timestamp": pa.array([NOW - timedelta(days=1)] * 3, TS),
            }
        ),
    )
    return repo


@pytest.mark.parametrize(
    ("column", "selection"),
    [("zip", ["--features", "zip_risk:risk"]),
     ("ship_zip", ["--feature-service", "shipping"])],
)  # fmt: skip
def test_string_keys_that_look_like_numbers_stay_text(
    repo: Path, tmp_path: Path, column: str, selection: list[str]
) -> None:
    entities = tmp_path / "entities.csv"
    entities.write_text(
        f"{column},event_timestamp\n007,{NOW.isoformat()}\n7,{NOW.isoformat()}\n"
        f"12,{NOW.isoformat()}\n"
    )
    out = tmp_path / "set.parquet"
    argv = ["training-set", "--repo", str(repo), "--entities", str(entities),
            *selection, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    rows = pq.read_table(out).to_pylist()
    assert [(r[column], r["risk"]) for r in rows] == list(RISK.items())


@pytest.mark.parametrize(
    ("column", "selection"),
    [("zip", ["--features", "zip_risk:risk"]),
     ("ship_zip", ["--feature-service", "shipping"])],
)  # fmt: skip
def test_a_replay_reads_the_csv_as_its_build_did(
    repo: Path, tmp_path: Path, column: str, selection: list[str]
) -> None:
    # --replay read the keys as int64, so the replay of a set that was built
    # from this very file failed: "join key is int64 ... but string in view".
    entities = tmp_path / "entities.csv"
    entities.write_text(
        f"{column},event_timestamp\n12,{NOW.isoformat()}\n007,{NOW.isoformat()}\n"
    )
    built, replayed = tmp_path / "built.parquet", tmp_path / "replayed.parquet"
    common = ["training-set", "--repo", str(repo), "--entities", str(entities)]
    assert main([*common, *selection, "--out", str(built)]) == 0
    manifest = f"{built}.manifest.json"
    assert main([*common, "--replay", manifest, "--out", str(replayed)]) == 0
    original = pq.read_table(built)
    assert pq.read_table(replayed).to_pylist() == original.to_pylist()
    assert [r["risk"] for r in original.to_pylist()] == [RISK["12"], RISK["007"]]


INT_DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64

customer = Entity(
    name="customer", join_keys=["customer_id"], value_type=ValueType.INT64
)
spend = FeatureView(
    name="spend", entities=[customer], ttl=timedelta(days=30),
    schema=[Field(name="amount", dtype=Float64)],
    source=FileSource(name="spend", path="data/features/spend",
                      file_format=DeltaFormat(), timestamp_field="event_timestamp"),
)
"""
AMOUNT = {1: 10.0, 2**63 - 1: 20.0}


@pytest.fixture
def int_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "int_repo"
    delta_repo(repo, "csv_int_keys", INT_DEFINITIONS, state=tmp_path)
    write_deltalake(
        str(repo / "data" / "features" / "spend"),
        pa.table(
            {
                "customer_id": pa.array(list(AMOUNT), pa.int64()),
                "amount": list(AMOUNT.values()),
                "event_timestamp": pa.array([NOW - timedelta(days=1)] * 2, TS),
            }
        ),
    )
    return repo


def test_an_integer_key_past_int64_is_named_with_its_line(
    int_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrow read 9223372036854775808 as a double, and the join said "join key
    # 'customer_id' is double in the entity table but int64 in view 'spend'":
    # the key's type, not the value past its range, was blamed.
    entities = tmp_path / "entities.csv"
    # A blank cell before it is a null key, not the cell to blame.
    entities.write_text(
        f"customer_id,event_timestamp\n,{NOW.isoformat()}\n"
        f"9223372036854775808,{NOW.isoformat()}\n"
    )
    out = tmp_path / "set.parquet"
    argv = ["training-set", "--repo", str(int_repo), "--entities", str(entities),
            "--features", "spend:amount", "--out", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "column 'customer_id', line 3: '9223372036854775808' is not an int64" in err
    assert "double" not in err
    assert not out.exists()


def test_integer_keys_up_to_the_int64_limit_join(
    int_repo: Path, tmp_path: Path
) -> None:
    entities = tmp_path / "entities.csv"
    entities.write_text(
        f"customer_id,event_timestamp\n{2**63 - 1},{NOW.isoformat()}\n"
        f"1,{NOW.isoformat()}\n"
    )
    out = tmp_path / "set.parquet"
    argv = ["training-set", "--repo", str(int_repo), "--entities", str(entities),
            "--features", "spend:amount", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    rows = pq.read_table(out).to_pylist()
    assert [(r["customer_id"], r["amount"]) for r in rows] == [
        (2**63 - 1, AMOUNT[2**63 - 1]),
        (1, AMOUNT[1]),
    ]
