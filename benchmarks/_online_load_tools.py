"""The online load bench's clients: fs-loadgen, vegeta, waits for servers and idle."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOADGEN = ROOT / ".cache" / "go" / "bin" / "fs-loadgen"
VEGETA = ROOT / ".cache" / "go" / "bin" / "vegeta"
METHOD = "/featurestore.v1.FeatureStoreService/GetOnlineFeatures"
# A run whose calls fail measures the failure path, not serving.
MAX_ERROR_SHARE = 0.001
_client_cpus: set[int] | None = None
"""CPUs the load generators run on (``pin_clients``); None: wherever they fall."""


def split_cpus(available: Sequence[int], clients: int) -> tuple[set[int], set[int]]:
    """The CPUs for the servers and for the load generators: the last
    ``clients`` of ``available`` for the generators, the rest for the servers.

    Raises:
        ValueError: fewer than ``clients`` + 1 CPUs available.
    """
    ordered = sorted(available)
    if not 0 < clients < len(ordered):
        raise ValueError(
            f"--client-cpus {clients} needs more than {clients} CPUs, "
            f"{len(ordered)} available"
        )
    return set(ordered[:-clients]), set(ordered[-clients:])


def pin_clients(clients: int) -> tuple[set[int], set[int]]:
    """Keep the load generators off the servers' CPUs (Linux).

    This process and everything it starts from now on (the servers) run on
    the first CPUs, fs-loadgen and vegeta on the last ``clients``: the load
    generator's work (TLS included) and its cache traffic no longer land on
    the cores whose cost per call is being measured, as when the load comes
    from other machines. Returns (server CPUs, client CPUs).
    """
    global _client_cpus
    servers, _client_cpus = split_cpus(sorted(os.sched_getaffinity(0)), clients)
    os.sched_setaffinity(0, servers)
    return servers, _client_cpus


def _on_client_cpus() -> None:
    if _client_cpus is not None:
        os.sched_setaffinity(0, _client_cpus)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, body: bytes, timeout_s: float = 240) -> None:
    """Wait until POSTing ``body`` to ``url`` answers (`feast serve` is up)."""
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


def wait_grpc(port: int, ca: Path | None = None, timeout_s: float = 240) -> None:
    """Wait until health on ``port`` is SERVING (over TLS trusting ``ca`` if set)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    target = f"127.0.0.1:{port}"
    channel = (
        grpc.secure_channel(target, grpc.ssl_channel_credentials(ca.read_bytes()))
        if ca is not None
        else grpc.insecure_channel(target)
    )
    with channel:
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


def _process_tree(pid: int) -> Iterator[tuple[int, str]]:
    """``pid`` and all its descendants still running, with their command
    names (``fs-front``, ``python``; Linux /proc)."""
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            name = Path(f"/proc/{current}/comm").read_text().strip()
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        yield current, name


def process_tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds used so far by ``pid`` and all its descendants, summed by
    command name."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for current, name in _process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1]
        except (FileNotFoundError, ProcessLookupError):
            continue
        seconds = (int(fields.split()[11]) + int(fields.split()[12])) / ticks
        totals[name] = totals.get(name, 0.0) + seconds  # utime + stime
    return totals


def process_tree_switches(pid: int) -> dict[str, int]:
    """Context switches so far (voluntary + involuntary, every thread) of ``pid``
    and all its descendants, summed by command name: how often the processes
    slept and woke, which on shared cores costs CPU of its own."""
    totals: dict[str, int] = {}
    for current, name in _process_tree(pid):
        try:
            statuses = [
                (task / "status").read_text()
                for task in Path(f"/proc/{current}/task").iterdir()
            ]
        except (FileNotFoundError, ProcessLookupError):
            continue
        totals[name] = totals.get(name, 0) + sum(
            int(line.split(":")[1])
            for status in statuses
            for line in status.splitlines()
            if "ctxt_switches:" in line
        )
    return totals


def wait_until_idle(pids: list[int], timeout_s: float = 120) -> None:
    """Wait (at most ``timeout_s``) until the servers ``pids`` stop using CPU.

    A server behind on a fixed-rate run keeps working through its queue after
    the load generator stops (``feast serve`` at 1000 rps queues for 20+ s);
    the next measurement must not share the cores with that backlog.
    """
    started = time.monotonic()
    before = sum(sum(process_tree_cpu(pid).values()) for pid in pids)
    while time.monotonic() - started < timeout_s:
        time.sleep(0.5)
        now = sum(sum(process_tree_cpu(pid).values()) for pid in pids)
        if now - before < 0.05:  # < 10% of one core over the last 0.5 s
            break
        before = now


def loadgen(
    port: int,
    requests: list[bytes],
    seconds: int,
    rps: int | None,
    concurrency: int,
    method: str = METHOD,
    connections: int = 8,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """Load our server with benchmarks/loadgen (grpc-go, raw request bytes).

    ``extra``: more loadgen flags (TLS and metadata for the secure server).

    HTTP/2 connections are long-lived and the kernel assigns each one to a
    single ``--workers`` process (SO_REUSEPORT hashing): with 2 connections
    and 2 workers, half the runs put both on one worker and measure half the
    server. Several connections per worker spread the load as many clients do.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.NamedTemporaryFile(suffix=".bin") as body:
        # Request n sends requests[n mod len]: 4-byte big-endian length, bytes.
        body.write(b"".join(len(r).to_bytes(4, "big") + r for r in requests))
        body.flush()
        done = subprocess.run(
            [str(LOADGEN), "-addr", f"127.0.0.1:{port}", "-body", body.name,
             "-method", method, "-rate", str(rps or 0), "-c", str(concurrency),
             "-d", f"{seconds}s", "-conns", str(connections), *extra],
            capture_output=True, text=True, preexec_fn=_on_client_cpus,
        )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"loadgen failed: {done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = dict(json.loads(done.stdout))
    # The load generator shares the cores with the server: what it used.
    report["client_cpu_s"] = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime
    )
    report["client_switches"] = (after.ru_nvcsw + after.ru_nivcsw) - (
        before.ru_nvcsw + before.ru_nivcsw
    )
    if report["errors"] > MAX_ERROR_SHARE * max(report["requests"], 1):
        raise RuntimeError(
            f"{report['errors']} of {report['requests']} calls failed: "
            f"{report.get('first_error')}"
        )
    return report


def median_p99_run(
    run: Callable[[], dict[str, float]], repeats: int, servers: list[int]
) -> dict[str, Any]:
    """Run ``repeats`` times (servers idle first); the median-p99 run, all p99s."""
    runs = []
    for _ in range(repeats):
        wait_until_idle(servers)
        runs.append(run())
    runs.sort(key=lambda result: result["p99_ms"])
    return {**runs[len(runs) // 2], "p99_runs_ms": [r["p99_ms"] for r in runs]}


def spread(result: dict[str, Any]) -> str:
    return " / ".join(f"{p:.2f}" for p in result["p99_runs_ms"])


def vegeta(
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
        preexec_fn=_on_client_cpus,
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
