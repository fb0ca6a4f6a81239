"""The end-to-end demo behind `make demo`: every step real, each one timed."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from tqdm import tqdm

from featurestore.services.project import (
    FEAST_CONFIG,
    Project,
    ProjectConfigError,
    ProjectError,
    config_problem,
    is_uri,
)

PY = sys.executable
FEAST = str(Path(PY).parent / "feast")
# The demo drives the `featurestore` CLI, as a user would.
FS = str(Path(PY).parent / "featurestore")


class StepFailed(Exception):
    """A demo step exited non-zero."""


@contextmanager
def step(number: int, total: int, title: str) -> Iterator[None]:
    """Announce a step, show a live elapsed-time bar, report its duration."""
    print(f"\n==> [{number}/{total}] {title}", flush=True)
    started = time.monotonic()
    done = threading.Event()
    bar = tqdm(
        total=None,
        bar_format="    {elapsed} elapsed",
        leave=False,
        disable=not sys.stderr.isatty(),
    )

    def tick() -> None:
        while not done.wait(0.5):
            bar.update(0)
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        bar.close()
    print(f"    done in {time.monotonic() - started:.1f}s", flush=True)


@dataclass(frozen=True)
class Locations:
    """Where the demo works: all of it from the project, none from this file."""

    repo: Path
    """The Feast repo (``--repo``, else found as the CLI finds it)."""
    data_dir: Path
    """The data root (``--data-dir``, else the project's ``data_dir``)."""
    registry_dir: Path
    """The folder of the registry named in feature_store.yaml."""

    @classmethod
    def of(cls, repo: Path | None, data_dir: Path | None) -> Locations:
        """Resolve the project at ``repo`` (or the working directory).

        Raises:
            ProjectError: no project there, or a malformed featurestore.yaml.
        """
        project = Project.discover(repo)
        if data_dir is None and is_uri(project.data_dir):
            raise ProjectConfigError(
                str(project.repo / "featurestore.yaml"),
                "the demo reads its raw data locally: pass a local --data-dir",
            )
        root = Path(data_dir.resolve() if data_dir else project.data_dir)
        try:
            config = yaml.safe_load((project.repo / FEAST_CONFIG).read_text()) or {}
        except yaml.YAMLError as exc:  # its text quotes the line (secrets too)
            raise ProjectConfigError(
                str(project.repo / FEAST_CONFIG), config_problem(exc)
            ) from None
        registry = config.get("registry", "data/registry.db")
        if isinstance(registry, dict):
            registry = registry.get("path", "data/registry.db")
        registry_path = Path(registry)
        if not registry_path.is_absolute():
            registry_path = project.repo / registry_path
        return cls(project.repo, root, registry_path.resolve().parent)


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command; print its last lines; raise StepFailed on non-zero exit."""
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    shown = [ln for ln in lines if not _is_noise(ln)]
    for line in shown[-6:]:
        print(f"    {line}")
    if proc.returncode != 0:
        raise StepFailed(f"{' '.join(args[:4])} exited {proc.returncode}")
    return proc.stdout


_NOISE = (
    "WARN",
    "Using Spark",
    "Setting default",
    "To adjust",
    "WARNING",
    ":: ",
    "\t",
    "Ivy Default",
    "The jars",
    "io.delta#",
    "confs:",
    "found ",
    "downloading",
)


def _is_noise(line: str) -> bool:
    # Spark and Ivy chatter; job summaries and errors are kept.
    return (
        line.startswith(_NOISE)
        or " WARN " in line
        or line.strip().startswith(("|", "-"))
    )


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_serving(
    address: str, server: subprocess.Popen[bytes], timeout: float = 120
) -> None:
    """Block until grpc.health.v1 answers SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise StepFailed(f"server exited with {server.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    raise StepFailed("server did not become SERVING in time")


def training_entities(data_dir: Path, rows: int) -> pd.DataFrame:
    """Labelled payments as entity rows: (customer, merchant, time) -> is_fraud."""
    tx = pq.read_table(data_dir / "raw" / "transactions").drop_null()
    labels = pq.read_table(data_dir / "raw" / "fraud_labels")
    tx = tx.filter(pc.greater(tx["customer_id"], 0))
    joined = labels.join(
        tx.select(["transaction_id", "customer_id", "merchant_id", "event_time"]),
        "transaction_id",
        join_type="inner",
    )
    frame = joined.to_pandas().drop_duplicates("transaction_id")
    frame = frame.sort_values("transaction_id").tail(rows)
    frame = frame.rename(columns={"event_time": "event_timestamp"})
    return frame[
        ["transaction_id", "customer_id", "merchant_id", "event_timestamp", "is_fraud"]
    ].reset_index(drop=True)


def drifted_version(
    transactions: int, data_dir: Path, repo: Path, env: dict[str, str]
) -> None:
    """Publish customer_spend again from raw events whose later amounts grew
    sixfold, then print its freshness and drift (its contract warns: it publishes)."""
    run(FS, "run", "generate_raw_events", "--transactions", str(transactions),
        "--drift", "6", "--data-dir", str(data_dir), env=env)  # fmt: skip
    run(FS, "run", "build_customer_spend", "--data-dir", str(data_dir), env=env)
    fresh = subprocess.run(
        [FS, "monitor", "freshness", "customer_spend", "--repo", str(repo), "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    for view in json.loads(fresh.stdout or "[]"):
        print(f"    freshness {view['view']}: {view['verdict']} ({view['reason']})")
    drift = subprocess.run(
        [FS, "monitor", "drift", "customer_spend", "--repo", str(repo), "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if drift.returncode not in (0, 1):  # 1: a score reached its fail threshold
        raise StepFailed(f"monitor drift exited {drift.returncode}: {drift.stderr}")
    report = json.loads(drift.stdout)
    print(f"    drift of customer_spend version {report['version']}:")
    for score in report["scores"]:
        if score["against"] == "baseline":
            print(
                f"      {score['feature']:<10} {score['metric']} "
                f"{score['score']:.3f} vs version {score['reference_version']}: "
                f"{score['verdict']} (on_drift {score['on_drift']}: published)"
            )


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server and wait: it writes its queued serving-log rows."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def skew(repo: Path, env: dict[str, str]) -> None:
    """Served values of customer_spend vs the point-in-time offline values.

    The online store was materialised before the drifted version landed, so a
    share of the served values differs from what a training set reads now."""
    report = subprocess.run(
        [FS, "monitor", "skew", "customer_spend", "--repo", str(repo), "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if report.returncode != 0:
        raise StepFailed(f"monitor skew exited {report.returncode}: {report.stderr}")
    for row in json.loads(report.stdout):
        print(
            f"    skew {row['view']}.{row['feature']}: {row['mismatches']} of "
            f"{row['rows']} served values differ from the offline value"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the whole pipeline once; exit non-zero if any step fails."""
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="the project (default: found as `featurestore` finds it)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data root (default: the project's data_dir; $FS_DATA_DIR wins)",
    )
    args = parser.parse_args(argv)
    try:
        where = Locations.of(args.repo, args.data_dir)
    except ProjectError as exc:
        parser.error(str(exc))
    data_dir, repo = where.data_dir, where.repo
    env = {
        **os.environ,
        "FS_DATA_DIR": str(data_dir),
        "FS_REPO_PATH": str(repo),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    total, server = 10, None
    started = time.monotonic()
    try:
        with step(
            1,
            total,
            f"Generate {args.transactions:,} raw card payments and late labels",
        ):
            run(
                FS,
                "run",
                "generate_raw_events",
                "--transactions",
                str(args.transactions),
                "--data-dir",
                str(data_dir),
                env=env,
            )
        with step(
            2, total, "Spark job: customer_spend (contract-checked, Delta commit)"
        ):
            run(
                FS,
                "run",
                "build_customer_spend",
                "--data-dir",
                str(data_dir),
                env=env,
            )
        with step(
            3, total, "Spark job: merchant_risk (contract-checked, Delta commit)"
        ):
            run(
                FS,
                "run",
                "build_merchant_risk",
                "--data-dir",
                str(data_dir),
                env=env,
            )
        with step(
            4, total, "Check feature views against their contracts, then feast apply"
        ):
            run(
                FS,
                "contracts",
                "check-feast",
                "--repo",
                str(repo),
                env=env,
            )
            # The registry lives where feature_store.yaml says, whatever
            # --data-dir says.
            where.registry_dir.mkdir(parents=True, exist_ok=True)
            run(FEAST, "apply", cwd=repo, env=env)
        with step(5, total, "featurestore materialize --incremental (Delta -> SQLite)"):
            end = datetime.now(UTC).replace(microsecond=0)
            run(
                FS,
                "materialize",
                "--incremental",
                end.isoformat(),
                "--repo",
                str(repo),
                env=env,
            )
        with step(6, total, "A drifted later batch: customer_spend's next version"):
            drifted_version(args.transactions, data_dir, repo, env)
        port = free_port()
        address = f"127.0.0.1:{port}"
        with step(7, total, f"Start the gRPC server on {address}"):
            server = subprocess.Popen(
                # every online read of the demo goes to the serving log
                [
                    FS,
                    "serve",
                    "--address",
                    address,
                    "--repo",
                    str(repo),
                    "--serving-log",
                    "--serving-log-sample-rate",
                    "1",
                ],
                cwd=repo,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            wait_serving(address, server)
        from featurestore.services.client import FeatureStoreClient

        with FeatureStoreClient(address) as client:
            with step(8, total, "Online features for five customers (fraud_model_v1)"):
                entities = training_entities(data_dir, 5)
                online = client.get_online_features(
                    {
                        "customer_id": entities["customer_id"].tolist(),
                        "merchant_id": entities["merchant_id"].tolist(),
                    },
                    feature_service="fraud_model_v1",
                    with_status=True,
                )
                shown = [c for c in online.columns if not c.endswith("__event_time")]
                print(online[shown].to_string(index=False, max_colwidth=12))
            with step(9, total, "Point-in-time training set (labels as entity rows)"):
                labels = training_entities(data_dir, 2_000)
                training = client.get_historical_features(
                    labels, feature_service="fraud_model_v1"
                )
                frame = training.to_pandas()
                print(frame.head(8).to_string(index=False, max_colwidth=12))
                print(f"    {len(frame):,} rows x {frame.shape[1]} columns; manifest:")
                for table in training.manifest.get("tables", []):
                    print(f"      {table}")
        with step(10, total, "Stop the server (flushes its serving log); skew"):
            stop_server(server)
            skew(repo, env)
    except StepFailed as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            stop_server(server)
    print(f"\ndemo finished in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
