"""The guard's CPU per online read, in-process: what auth, permissions and audit cost.

``python -m benchmarks.profile_guard``: the handler the front's Unix socket
calls for a 1x50 read, built as the server builds it, driven by one thread
(the front keeps one connection per process, reads pipelined), CPU per call from
``time.process_time`` (every thread, the audit writer's included), 5 rounds
alternating, medians. Cases: no guard; API key + permissions; + the audit log.
Not a ``bench_`` module: ``make bench`` skips it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks import _secure_online as secure
from benchmarks.bench_materialize import NOW, build_repo
from benchmarks.bench_online_load import _entity_draws, _online_requests

Handler = Callable[[bytes, tuple[tuple[str, str], ...]], bytes]
CASES = ("no guard", "auth + permissions", "+ audit")


def _handler(case: str, root: Path, repo: Path, creds: secure.Credentials) -> Handler:
    from featurestore.services.online.reader import build_online_reader
    from featurestore.services.server import app
    from featurestore.services.server.access import build_guard
    from featurestore.services.server.catalog import Catalog
    from featurestore.services.server.metrics import TimedReader
    from featurestore.services.server.settings import ServerSettings

    options: dict[str, Any] = {"repo_path": repo}
    if case != CASES[0]:
        options |= {"auth": "api_keys", "api_keys_file": creds.key_file}
    if case in CASES[2:]:
        options["audit_log"] = root / f"audit-{CASES.index(case)}.jsonl"
    settings = ServerSettings(**options)
    store = app._feature_store(settings)
    catalog = Catalog(store)
    guard = build_guard(settings, catalog)
    reader = TimedReader(build_online_reader(store.config, timeout_s=5), "sqlite")
    handlers = app._online_handlers(catalog, reader, store.project, settings, guard)
    return handlers[1]  # featurestore.v1 GetOnlineFeatures


def _cpu_per_call(
    handler: Handler, requests: list[bytes], metadata: Any, n: int
) -> float:
    started = time.process_time()
    for i in range(n):
        handler(requests[i % len(requests)], metadata)
    return (time.process_time() - started) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    """Print the median CPU per call of each case."""
    from featurestore.services.online.materialize import materialize

    parser = argparse.ArgumentParser(prog="profile_guard")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = build_repo(root, f"  type: sqlite\n  path: {root}/online.db", 1000, 50)
        materialize(
            store.repo_path, NOW - timedelta(days=1), NOW + timedelta(minutes=1)
        )
        creds = secure.prepare(root, store)
        requests = _online_requests(
            [f"bench:f{i}" for i in range(50)], _entity_draws(1, 1000)
        )
        metadata = [
            ("authorization", f"Bearer {creds.api_key}"),
            ("user-agent", "grpc-go"),
        ]
        handlers = {c: _handler(c, root, Path(store.repo_path), creds) for c in CASES}
        for handler in handlers.values():
            _cpu_per_call(handler, requests, metadata, 500)  # warm
        runs: dict[str, list[float]] = {c: [] for c in CASES}
        for _ in range(args.rounds):
            for case, handler in handlers.items():
                runs[case].append(
                    _cpu_per_call(handler, requests, metadata, args.calls)
                )
    base = statistics.median(runs[CASES[0]])
    for case in CASES:
        cpu = statistics.median(runs[case])
        spread = " / ".join(f"{r:.0f}" for r in runs[case])
        print(f"{case:22s} CPU {cpu:6.1f} us per call ({cpu - base:+6.1f}; {spread})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
