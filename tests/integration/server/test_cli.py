"""`featurestore serve`, `materialize` and `training-set` as real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.full_disk import full_tmpfs
from tests.integration.server._served import NOW, REPO, TS, ServedRepo, feast_cli
from tests.redis_harness import free_port, start_redis_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURESTORE = str(Path(sys.executable).parent / "featurestore")


def _env(served_repo: ServedRepo) -> dict[str, str]:
    return {**os.environ, "FS_DATA_DIR": str(served_repo.data)}


def _cli(
    *args: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEATURESTORE, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def _wait_serving(address: str, proc: subprocess.Popen[bytes]) -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
            except grpc.RpcError:
                time.sleep(0.3)
                continue
            if status == health_pb2.HealthCheckResponse.SERVING:
                break
        return int(status or 0)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_answers_health_and_exits_0_on_sigterm(
    served_repo: ServedRepo, tmp_path: Path, workers: str
) -> None:
    """With --workers 2 the workers are re-executed as python -m ...server."""
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [FEATURESTORE, "serve", "--address", address, "--repo",
         str(served_repo.repo), "--data-dir", str(served_repo.data),
         "--workers", workers],
        cwd=tmp_path, env=_env(served_repo), stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert _wait_serving(address, proc) == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_refuses_unusable_settings_with_exit_2(tmp_path: Path) -> None:
    proc = _cli("serve", "--address", "0.0.0.0:0", env=dict(os.environ), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("featurestore serve: ")


def test_serve_with_an_audit_log_it_cannot_write_is_one_line_exit_2(
    tmp_path: Path,
) -> None:
    # It was a traceback from the log handler's open and exit 1.
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    audit = folder / "audit.jsonl"
    # root writes anywhere: run without CAP_DAC_OVERRIDE so the mode applies.
    drop = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--"]
    proc = subprocess.run(
        [*(drop if os.geteuid() == 0 else []), FEATURESTORE, "serve",
         "--address", "127.0.0.1:0", "--audit-log", str(audit)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"featurestore serve: audit log {audit} cannot be written (Permission "
        "denied): set --audit-log (FS_AUDIT_LOG) to a file in a folder the "
        "server may write\n"
    )


def test_serve_stopping_with_unwritten_audit_records_exits_1(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    # On a full disk the server exited 0 (or 1 with a traceback from the
    # audit's close) and nothing said audit records were lost.
    address = f"127.0.0.1:{free_port()}"
    with full_tmpfs(tmp_path / "disk") as disk:
        proc = subprocess.Popen(
            [FEATURESTORE, "serve", "--address", address, "--repo",
             str(served_repo.repo), "--data-dir", str(served_repo.data),
             "--audit-log", str(disk / "audit.jsonl")],
            cwd=tmp_path, env=_env(served_repo), stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert _wait_serving(address, proc) == (
                health_pb2.HealthCheckResponse.SERVING
            )
            with grpc.insecure_channel(address) as channel:
                # The first call is served: its record is the one the
                # writer finds it cannot write.
                channel.unary_unary(
                    "/featurestore.v1.FeatureStoreService/ListFeatureViews"
                )(b"", timeout=30)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 1
    assert err.splitlines()[-1] == (
        f"featurestore serve: 1 audit records could not be written to "
        f"{disk / 'audit.jsonl'}"
    )
    assert "Logging error" not in err and "Traceback" not in err
    assert sum("cannot be written (errno 28" in line for line in err.splitlines()) == 1


def _entities() -> pa.Table:
    times = [NOW - timedelta(minutes=30), NOW - timedelta(minutes=30), NOW]
    return pa.table(
        {
            "customer_id": pa.array([1, 3, 3], pa.int64()),
            "merchant_id": ["M0001", "M0001", "M0002"],
            "event_timestamp": pa.array(times, TS),
        }
    )


def test_training_set_writes_rows_and_a_manifest_then_replays(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    entities = tmp_path / "entities.parquet"
    pq.write_table(_entities(), entities)
    out = tmp_path / "out" / "train.parquet"
    proc = _cli("training-set", "--repo", str(served_repo.repo), "--entities",
                str(entities), "--feature-service", "fraud_model_v1",
                "--out", str(out), "--json",
                env=_env(served_repo), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["rows"] == 3
    assert set(summary["tables"]) == {"customer_spend", "merchant_risk"}
    train = pq.read_table(out)
    assert train["spend_24h"].to_pylist() == [11.0, 33.0, 33.0]
    assert train["fraud_rate_30d"].to_pylist() == [0.05, 0.05, None]
    manifest = Path(f"{out}.manifest.json")
    assert json.loads(manifest.read_text())["entity_rows"] == 3

    replayed = tmp_path / "replayed"
    proc = _cli("training-set", "--replay", str(manifest), "--entities",
                str(entities), "--out", str(replayed), "--format", "delta",
                env=_env(served_repo), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    again = DeltaTable(str(replayed)).to_pyarrow_table()
    assert again.sort_by("customer_id").equals(train.sort_by("customer_id"))


def test_training_set_from_csv_features_and_usage_errors(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    csv = tmp_path / "entities.csv"
    csv.write_text(f"customer_id,event_timestamp\n1,{NOW.isoformat()}\n")
    out = tmp_path / "train.parquet"
    base = ("training-set", "--repo", str(served_repo.repo), "--entities", str(csv),
            "--out", str(out))  # fmt: skip
    proc = _cli(*base, "--features", "customer_spend:spend_24h",
                env=_env(served_repo), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(out)["spend_24h"].to_pylist() == [11.0]
    assert _cli(*base, env=_env(served_repo), cwd=tmp_path).returncode == 2
    unknown = _cli(*base, "--features", "nope:x", env=_env(served_repo), cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: ")
    # A folder of Parquet files is entity rows too, as the server reads one.
    folder = tmp_path / "entities"
    folder.mkdir()
    rows = {"customer_id": pa.array([1], pa.int64()), "event_timestamp": [NOW]}
    pq.write_table(pa.table(rows), folder / "part-0.parquet")
    from_folder = tmp_path / "from-folder.parquet"
    proc = _cli("training-set", "--repo", str(served_repo.repo),
                "--entities", str(folder), "--out", str(from_folder),
                "--features", "customer_spend:spend_24h",
                env=_env(served_repo), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(from_folder)["spend_24h"].to_pylist() == [11.0]


def _copy_of(
    served: ServedRepo, tmp_path: Path, **env: str
) -> tuple[Path, dict[str, str]]:
    """A copy of the served repo and its data (commands may write both): its
    feature_repo and the environment that points at its data."""
    root = tmp_path / "served"
    shutil.copytree(served.repo.parent, root)
    return root / "feature_repo", {
        **os.environ, "FS_DATA_DIR": str(root / "data"), **env,
    }  # fmt: skip


def test_materialize_and_incremental_in_a_copy(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    repo, env = _copy_of(served_repo, tmp_path)
    start = (NOW - timedelta(days=30)).isoformat()
    end = (NOW + timedelta(minutes=1)).isoformat()
    proc = _cli("materialize", start, end, "--repo", str(repo), "--json",
                env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "customer_spend": 3, "merchant_risk": 1,
        "@late_entities": {"customer_spend": 0, "merchant_risk": 0}, "@rederived": {},
    }  # fmt: skip
    later = (NOW + timedelta(minutes=2)).isoformat()
    # `feast materialize` made the copy, so no Delta version was recorded:
    # the first incremental run writes every entity's latest row once ...
    proc = _cli("materialize", "--incremental", later, "--repo", str(repo),
                env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "customer_spend: 3 entities" in proc.stdout
    assert "customer_spend: re-derived every entity: no Delta version" in proc.stdout
    # ... and the next one only the window (empty) and late rows (none).
    proc = _cli("materialize", "--incremental", later, "--repo", str(repo),
                env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "customer_spend: 0 entities\n" in proc.stdout
    assert "re-derived" not in proc.stdout
    assert _cli("materialize", "yesterday", env=env, cwd=tmp_path).returncode == 2


def test_materialize_to_a_redis_that_refuses_is_one_line_without_its_password(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    repo, env = _copy_of(
        served_repo, tmp_path, FS_REDIS=f"127.0.0.1:{port},password=TopSecretRedisPw"
    )
    state = repo.parent / "data"  # as `feast -f ... redis.yaml apply`
    shutil.copy(state / "registry.db", state / "registry.redis.db")
    start = (NOW - timedelta(days=30)).isoformat()
    end = (NOW + timedelta(minutes=1)).isoformat()
    proc = _cli("materialize", start, end, "--repo", str(repo), "--json",
                "--feature-store-yaml", str(repo / "feature_store.redis.yaml"),
                env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    said = proc.stdout + proc.stderr
    assert "TopSecretRedisPw" not in said and "Traceback" not in said
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(
        f"error: online store redis:127.0.0.1:{port} is unavailable: "
    ), proc.stderr


def test_the_redis_profile_keeps_its_own_materialised_intervals(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    # With one registry for both profiles, the Redis store's incremental run
    # started where the SQLite store's ended: nothing reached Redis.
    redis_server = start_redis_process(tmp_path / "redis")
    try:
        repo, env = _copy_of(
            served_repo, tmp_path, FS_REDIS=f"127.0.0.1:{redis_server.port}"
        )
        redis_yaml = str(repo / "feature_store.redis.yaml")
        unapplied = _cli("materialize", "--incremental", "--repo", str(repo),
                         "--feature-store-yaml", redis_yaml,
                         env=env, cwd=tmp_path)  # fmt: skip
        assert unapplied.returncode == 2
        assert "run `feast -f feature_store.redis.yaml apply`" in unapplied.stderr
        feast_cli("-f", "feature_store.redis.yaml", "apply", repo=repo, env=env)
        later = (NOW + timedelta(minutes=2)).isoformat()
        redis = ("--feature-store-yaml", redis_yaml)
        for profile in ((), redis):
            proc = _cli("materialize", "--incremental", later, "--repo", str(repo),
                        "--json", *profile, env=env, cwd=tmp_path)  # fmt: skip
            assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {
            "customer_spend": 2, "merchant_risk": 1,
            "@late_entities": {"customer_spend": 0, "merchant_risk": 0},
            "@rederived": {},
        }  # fmt: skip
    finally:
        redis_server.stop()


def test_help_of_the_installed_script() -> None:
    proc = subprocess.run(
        [FEATURESTORE, "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0
    assert "Exit codes" in proc.stdout


def test_serve_names_the_project_from_fs_repo_path_first(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    # An exported FS_REPO_PATH won over the working directory without a word.
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path / "serve.log"
    env = {**_env(served_repo), "FS_REPO_PATH": str(served_repo.repo)}
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [FEATURESTORE, "serve", "--address", address],
            cwd=tmp_path, env=env, stderr=stderr,
        )  # fmt: skip
        try:
            assert _wait_serving(address, proc) == (
                health_pb2.HealthCheckResponse.SERVING
            )
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    first = log.read_text().splitlines()[0]
    assert first == (
        f"project: {Path(served_repo.repo).resolve()} "
        "(from $FS_REPO_PATH, which wins over the working directory)"
    )
