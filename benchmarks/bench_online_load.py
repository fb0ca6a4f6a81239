"""Online load: our gRPC server (ghz) vs `feast serve` (HTTP) on one SQLite store."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from benchmarks.bench_materialize import NOW, RESULTS, build_repo

ROOT = Path(__file__).resolve().parents[1]
GHZ = ROOT / ".cache" / "go" / "bin" / "ghz"
METHOD = "featurestore.v1.FeatureStoreService.GetOnlineFeatures"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, body: bytes, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def _wait_grpc(port: int, timeout_s: float = 240) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    raise RuntimeError("our server did not become SERVING")


def _ghz(port: int, refs: list[str], rows: int, entities: int, seconds: int,
         rps: int | None, concurrency: int) -> dict[str, float]:  # fmt: skip
    ids = ",".join(
        f'{{"int64_value": "{{{{randomInt 0 {entities}}}}}"}}' for _ in range(rows)
    )
    data = (
        '{"features": ' + json.dumps(refs)
        + ', "entities": {"customer_id": {"values": [' + ids + "]}}}"
    )  # fmt: skip
    cmd = [str(GHZ), "--insecure", "--import-paths", str(ROOT / "proto"), "--proto",
           str(ROOT / "proto/featurestore/v1/feature_store_service.proto"),
           "--call", METHOD, "-d", data, "-z", f"{seconds}s",
           "-c", str(concurrency), "--format", "json", "--connections", "2"]  # fmt: skip
    if rps:
        cmd += ["--rps", str(rps)]
    done = subprocess.run([*cmd, f"127.0.0.1:{port}"], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ghz failed: {done.stderr[-2000:]}")
    out = done.stdout
    report = json.loads(out)
    lat = {d["percentage"]: d["latency"] / 1e6 for d in report["latencyDistribution"]}
    errors = sum(v for k, v in report.get("statusCodeDistribution", {}).items()
                 if k != "OK")  # fmt: skip
    return {"qps": report["rps"], "p50_ms": lat[50], "p99_ms": lat[99],
            "requests": report["count"], "errors": errors}  # fmt: skip


def _http_worker(args: tuple[int, bytes, float, float | None]) -> list[float]:
    port, body, until, interval = args
    conn = HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json"}
    latencies = []
    next_at = time.perf_counter()
    while True:
        if interval:
            # Paced: wait for the slot, but time from the slot (no coordinated
            # omission when the server falls behind).
            now = time.perf_counter()
            if next_at > now:
                time.sleep(next_at - now)
            started = next_at
            next_at += interval
        else:
            started = time.perf_counter()
        if started >= until:
            break
        try:
            conn.request("POST", "/get-online-features", body, headers)
            conn.getresponse().read()
        except OSError:  # the server closed the keep-alive connection: reconnect
            conn.close()
            conn = HTTPConnection("127.0.0.1", port)
            conn.request("POST", "/get-online-features", body, headers)
            conn.getresponse().read()
        latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies


def _http_load(port: int, refs: list[str], rows: int, entities: int, seconds: int,
               rps: int | None, procs: int) -> dict[str, float]:  # fmt: skip
    import random

    ids = [random.randrange(entities) for _ in range(rows)]
    body = json.dumps({"features": refs, "entities": {"customer_id": ids}}).encode()
    until = time.perf_counter() + seconds
    interval = procs / rps if rps else None
    ctx = mp.get_context("fork")
    with ctx.Pool(procs) as pool:
        parts = pool.map(_http_worker, [(port, body, until, interval)] * procs)
    lat = sorted(x for part in parts for x in part)
    return {"qps": len(lat) / seconds, "p50_ms": lat[len(lat) // 2] * 1e3,
            "p99_ms": lat[int(len(lat) * 0.99)] * 1e3, "requests": len(lat),
            "errors": 0}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the three cases against both servers; print and write results JSON."""
    parser = argparse.ArgumentParser(prog="bench_online_load")
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--http-procs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS / "online_load.json")
    args = parser.parse_args(argv)
    if not GHZ.exists():
        print(f"ghz missing: GOBIN={GHZ.parent} go install "
              "github.com/bojand/ghz/cmd/ghz@latest")  # fmt: skip
        return 2
    from services.online.materialize import materialize

    refs = [f"bench:f{i}" for i in range(args.features)]
    results: dict[str, Any] = {"entities": args.entities, "features": args.features,
                               "seconds": args.seconds, "cpus": os.cpu_count()}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = build_repo(root, f"  type: sqlite\n  path: {root}/online.db",
                           args.entities, args.features)  # fmt: skip
        materialize(store.repo_path, NOW - timedelta(days=1), NOW + timedelta(minutes=1))
        grpc_port, http_port = _free_port(), _free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        ours = subprocess.Popen(
            [sys.executable, "-m", "services.server", "--address",
             f"127.0.0.1:{grpc_port}", "--repo", str(store.repo_path)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=open(root / "server.log", "wb"),  # noqa: SIM115
        )  # fmt: skip
        feast_bin = shutil.which("feast", path=str(Path(sys.executable).parent))
        theirs = subprocess.Popen(
            [str(feast_bin), "-c", str(store.repo_path), "serve", "-h", "127.0.0.1",
             "-p", str(http_port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            try:
                _wait_grpc(grpc_port)
            except RuntimeError:
                print((root / "server.log").read_text()[-3000:])
                raise
            probe = json.dumps({"features": refs, "entities": {"customer_id": [1]}})
            _wait_http(f"http://127.0.0.1:{http_port}/get-online-features",
                       probe.encode())  # fmt: skip
            cases = [("fixed_1000rps_1x50", 1, 1000), ("saturate_1x50", 1, None),
                     ("saturate_100x50", 100, None)]  # fmt: skip
            for name, rows, rps in cases:
                g = _ghz(grpc_port, refs, rows, args.entities, args.seconds, rps,
                         args.concurrency)  # fmt: skip
                h = _http_load(http_port, refs, rows, args.entities, args.seconds,
                               rps, args.http_procs)  # fmt: skip
                results[name] = {"ours_grpc": g, "feast_serve_http": h,
                                 "qps_ratio": g["qps"] / h["qps"],
                                 "p99_ratio": h["p99_ms"] / g["p99_ms"]}  # fmt: skip
                print(f"{name:20s} ours {g['qps']:8.0f} qps p50 {g['p50_ms']:7.2f} "
                      f"p99 {g['p99_ms']:7.2f} ms | feast {h['qps']:8.0f} qps p50 "
                      f"{h['p50_ms']:7.2f} p99 {h['p99_ms']:7.2f} ms | qps x"
                      f"{g['qps'] / h['qps']:.1f}", flush=True)  # fmt: skip
        finally:
            for proc in (ours, theirs):
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
