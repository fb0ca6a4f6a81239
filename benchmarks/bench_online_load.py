"""Online load: our gRPC server vs `feast serve` (HTTP) on one online store.

Ours runs as deployed for latency: `python -m services.server --front
--workers 2` (fs-front terminating gRPC, online reads handed to the two
server processes over Unix sockets); `--no-front` measures grpc-python
serving every call itself.

Both load generators are compiled Go tools (`make load-tools` builds them in
.cache/go/bin): benchmarks/loadgen (grpc-go sending pre-serialised request
bytes, replies left unparsed) for us, vegeta for `feast serve` (replies read,
not parsed either). Same concurrency, rates, duration and entity draws on
both sides (each cycles through the same 1,000 random requests), and
fixed-rate runs time each request from its scheduled start (no coordinated
omission). Each run starts only once both servers are idle (`feast serve`
works through its queue for 20+ s after a fixed-rate run it could not keep
up with), and fixed-rate runs last for at least 2,000 requests. Every
measured run follows 2 s of unrecorded warm-up; our fixed-rate runs are
repeated three times and the median p99 reported beside all three. ghz was
dropped: decoding every reply into a dynamic message cost it ~1 ms of CPU per
1x50 request and ~35 ms per 100x50 reply, a core of this 2-core machine, so
it measured itself more than the server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.bench_materialize import NOW, RESULTS, build_repo

ROOT = Path(__file__).resolve().parents[1]
LOADGEN = ROOT / ".cache" / "go" / "bin" / "fs-loadgen"
VEGETA = ROOT / ".cache" / "go" / "bin" / "vegeta"
FRONT = ROOT / ".cache" / "go" / "bin" / "fs-front"
METHOD = "/featurestore.v1.FeatureStoreService/GetOnlineFeatures"
MIN_FIXED_REQUESTS = 2000
# Before each measured run both servers get this many seconds of the same
# requests as fast as they answer (not recorded): first reads open
# connections, prepare statements and fault in pages on either side.
WARMUP_SECONDS = 2
# Our fixed-rate runs are repeated and the one with the median p99 reported
# (all p99s are kept): on this shared 2-core VM one run's p99 moves by 2-3x
# between runs of the same server. `feast serve` is over capacity at these
# rates (its latency is its queue), so it runs once.
FIXED_REPEATS = 3


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, body: bytes, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(
                url, body, {"Content-Type": "application/json"}
            )
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


def _process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and all its descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def _wait_until_idle(pids: list[int], timeout_s: float = 120) -> None:
    """Wait (at most ``timeout_s``) until the servers ``pids`` stop using CPU.

    A server behind on a fixed-rate run keeps working through its queue after
    the load generator stops (``feast serve`` at 1000 rps queues for 20+ s);
    the next measurement must not share the cores with that backlog.
    """
    started = time.monotonic()
    before = sum(_process_tree_cpu(pid) for pid in pids)
    while time.monotonic() - started < timeout_s:
        time.sleep(0.5)
        now = sum(_process_tree_cpu(pid) for pid in pids)
        if now - before < 0.05:  # < 10% of one core over the last 0.5 s
            break
        before = now


def _entity_draws(rows: int, entities: int, count: int = 1000) -> list[list[int]]:
    """``count`` requests' entity ids, drawn at random; both servers get these."""
    import random

    return [[random.randrange(entities) for _ in range(rows)] for _ in range(count)]


def _online_requests(refs: list[str], draws: list[list[int]]) -> list[bytes]:
    """Our serialised GetOnlineFeatures requests, one per entity draw."""
    from featurestore.v1 import common_pb2
    from featurestore.v1 import feature_store_service_pb2 as pb

    out = []
    for ids in draws:
        request = pb.GetOnlineFeaturesRequest(features=refs)
        request.entities["customer_id"].values.extend(
            common_pb2.Value(int64_value=i) for i in ids
        )
        out.append(bytes(request.SerializeToString()))
    return out


def _loadgen(
    port: int,
    requests: list[bytes],
    seconds: int,
    rps: int | None,
    concurrency: int,
    method: str = METHOD,
    connections: int = 8,
) -> dict[str, float]:
    """Load our server with benchmarks/loadgen (grpc-go, raw request bytes).

    HTTP/2 connections are long-lived and the kernel assigns each one to a
    single ``--workers`` process (SO_REUSEPORT hashing): with 2 connections
    and 2 workers, half the runs put both on one worker and measure half the
    server. Several connections per worker spread the load as many clients do.
    """
    with tempfile.NamedTemporaryFile(suffix=".bin") as body:
        # Request n sends requests[n mod len]: 4-byte big-endian length, bytes.
        body.write(b"".join(len(r).to_bytes(4, "big") + r for r in requests))
        body.flush()
        done = subprocess.run(
            [str(LOADGEN), "-addr", f"127.0.0.1:{port}", "-body", body.name,
             "-method", method, "-rate", str(rps or 0), "-c", str(concurrency),
             "-d", f"{seconds}s", "-conns", str(connections)],
            capture_output=True, text=True,
        )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"loadgen failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout))


def _median_p99_run(
    run: Callable[[], dict[str, float]], repeats: int, servers: list[int]
) -> dict[str, Any]:
    """Run ``repeats`` times (servers idle first); the median-p99 run, all p99s."""
    runs = []
    for _ in range(repeats):
        _wait_until_idle(servers)
        runs.append(run())
    runs.sort(key=lambda result: result["p99_ms"])
    return {**runs[len(runs) // 2], "p99_runs_ms": [r["p99_ms"] for r in runs]}


def _spread(result: dict[str, Any]) -> str:
    return " / ".join(f"{p:.2f}" for p in result["p99_runs_ms"])


def _vegeta(
    port: int,
    refs: list[str],
    draws: list[list[int]],
    seconds: int,
    rps: int | None,
    concurrency: int,
) -> dict[str, float]:
    """Load `feast serve` with vegeta: the same rates and entity draws as ours."""
    import base64

    url = f"http://127.0.0.1:{port}/get-online-features"
    targets = []
    for ids in draws:  # vegeta cycles through these
        body = json.dumps({"features": refs, "entities": {"customer_id": ids}})
        targets.append(
            json.dumps(
                {
                    "method": "POST",
                    "url": url,
                    "body": base64.b64encode(body.encode()).decode(),
                    "header": {"Content-Type": ["application/json"]},
                }
            )
        )
    rate = (
        ["-rate", f"{rps}/s"]
        if rps
        else ["-rate", "0", "-max-workers", str(concurrency)]
    )
    attack = subprocess.run(
        [
            str(VEGETA),
            "attack",
            "-format",
            "json",
            "-duration",
            f"{seconds}s",
            "-timeout",
            "30s",
            "-workers",
            str(concurrency),
            *rate,
        ],
        input="\n".join(targets).encode(),
        capture_output=True,
        check=True,
    )
    report = json.loads(
        subprocess.run(
            [str(VEGETA), "report", "-type", "json"],
            input=attack.stdout,
            capture_output=True,
            check=True,
        ).stdout
    )
    lat = report["latencies"]
    errors = sum(n for code, n in report["status_codes"].items() if code != "200")
    return {
        "qps": report["throughput"],
        "p50_ms": lat["50th"] / 1e6,
        "p99_ms": lat["99th"] / 1e6,
        "requests": report["requests"],
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the three cases against both servers; print and write results JSON."""
    parser = argparse.ArgumentParser(prog="bench_online_load")
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="server processes on each side (ours --workers, feast serve -w)",
    )
    parser.add_argument(
        "--store",
        choices=("sqlite", "redis"),
        default="sqlite",
        help="online store both servers read (redis: a redis-server is started)",
    )
    parser.add_argument(
        "--front",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="our server behind fs-front (the compiled gRPC front; default), or "
        "--no-front for grpc-python serving every call itself",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "online_load.json")
    args = parser.parse_args(argv)
    if not (LOADGEN.exists() and VEGETA.exists() and FRONT.exists()):
        print("fs-loadgen, vegeta or fs-front missing: run `make load-tools front`")
        return 2
    from services.online.materialize import materialize

    refs = [f"bench:f{i}" for i in range(args.features)]
    results: dict[str, Any] = {
        "entities": args.entities,
        "features": args.features,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
    }
    results["store"] = args.store
    results["workers"] = args.workers
    results["front"] = args.front
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        online = f"  type: sqlite\n  path: {root}/online.db"
        if args.store == "redis":
            from tests.redis_harness import start_redis_process

            redis = start_redis_process(root / "redis")
            stack.callback(redis.stop)
            online = f"  type: redis\n  connection_string: {redis.host}:{redis.port}"
        store = build_repo(root, online, args.entities, args.features)
        materialize(
            store.repo_path, NOW - timedelta(days=1), NOW + timedelta(minutes=1)
        )
        grpc_port, http_port = _free_port(), _free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        ours = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.server",
                "--address",
                f"127.0.0.1:{grpc_port}",
                "--repo",
                str(store.repo_path),
                "--workers",
                str(args.workers),
                "--front" if args.front else "--no-front",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(root / "server.log", "wb"),  # noqa: SIM115
        )
        feast_bin = shutil.which("feast", path=str(Path(sys.executable).parent))
        theirs = subprocess.Popen(
            [
                str(feast_bin),
                "-c",
                str(store.repo_path),
                "serve",
                "-h",
                "127.0.0.1",
                "-p",
                str(http_port),
                "--workers",
                str(args.workers),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            try:
                _wait_grpc(grpc_port)
            except RuntimeError:
                print((root / "server.log").read_text()[-3000:])
                raise
            probe = json.dumps({"features": refs, "entities": {"customer_id": [1]}})
            _wait_http(
                f"http://127.0.0.1:{http_port}/get-online-features", probe.encode()
            )
            cases = [
                ("fixed_1000rps_1x50", 1, 1000),
                ("saturate_1x50", 1, None),
                ("fixed_50rps_100x50", 100, 50),
                ("saturate_100x50", 100, None),
            ]
            # The floor: an empty health check at the fixed rate, so the p99
            # of a feature read can be told from gRPC's and the machine's.
            conns = 4 * args.workers
            servers = [ours.pid, theirs.pid]
            health = "/grpc.health.v1.Health/Check"
            _loadgen(
                grpc_port, [b""], WARMUP_SECONDS, None, args.concurrency,
                method=health, connections=conns,
            )  # fmt: skip
            floor = _median_p99_run(
                lambda: _loadgen(
                    grpc_port, [b""], args.seconds, 1000, args.concurrency,
                    method=health, connections=conns,
                ),
                FIXED_REPEATS,
                servers,
            )  # fmt: skip
            results["floor_health_check_1000rps"] = floor
            print(
                f"{'floor: health check':20s} ours {floor['qps']:8.0f} qps p50 "
                f"{floor['p50_ms']:7.2f} p99 {floor['p99_ms']:7.2f} ms (1000 rps) | "
                f"p99 runs {_spread(floor)} ms",
                flush=True,
            )
            for name, rows, rps in cases:
                # Both sides cycle through the same 1,000 random entity draws.
                draws = _entity_draws(rows, args.entities)
                # A fixed rate runs for at least MIN_FIXED_REQUESTS, so its
                # p99 is not the 5th-worst of 500 samples.
                seconds = max(args.seconds, -(-MIN_FIXED_REQUESTS // rps) if rps else 0)
                requests = _online_requests(refs, draws)
                _loadgen(
                    grpc_port, requests, WARMUP_SECONDS, None, args.concurrency,
                    connections=conns,
                )  # fmt: skip
                g = _median_p99_run(
                    partial(
                        _loadgen, grpc_port, requests, seconds, rps,
                        args.concurrency, connections=conns,
                    ),
                    FIXED_REPEATS if rps else 1,
                    servers,
                )  # fmt: skip
                _vegeta(http_port, refs, draws, WARMUP_SECONDS, None, args.concurrency)
                _wait_until_idle(servers)
                h = _vegeta(
                    http_port,
                    refs,
                    draws,
                    seconds,
                    rps,
                    args.concurrency,
                )
                results[name] = {
                    "ours_grpc": g,
                    "feast_serve_http": h,
                    "qps_ratio": g["qps"] / h["qps"],
                    "p99_ratio": h["p99_ms"] / g["p99_ms"],
                }
                print(
                    f"{name:20s} ours {g['qps']:8.0f} qps p50 {g['p50_ms']:7.2f} "
                    f"p99 {g['p99_ms']:7.2f} ms | feast {h['qps']:8.0f} qps p50 "
                    f"{h['p50_ms']:7.2f} p99 {h['p99_ms']:7.2f} ms | qps x"
                    f"{g['qps'] / h['qps']:.1f}"
                    + (f" | our p99 runs {_spread(g)} ms" if rps else ""),
                    flush=True,
                )
        finally:
            for proc in (ours, theirs):
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if args.out == RESULTS / "online_load.json":
        suffix = ("" if args.store == "sqlite" else f"_{args.store}") + (
            "" if args.front else "_no_front"
        )
        args.out = RESULTS / f"online_load{suffix}.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
