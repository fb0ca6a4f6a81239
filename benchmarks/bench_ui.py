"""Time every console page over HTTP on the demo data (goal: <= 200 ms each).

Run ``make demo`` first (it leaves data/ and the registry), then
``.venv/bin/python -m benchmarks ui`` (``-- --repo DIR`` for another
project). A real ``featurestore ui`` process is started on a free loopback
port with auth off, each page is fetched ``--warmup`` times, then timed
``--repeat`` times one after another (wall clock of the whole request, as a
browser waits for it); medians and p95 go to stdout and
benchmarks/results/ui.json. Not a test: nothing fails on a slow page.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TARGET_MS = 200.0
DEMO_KEYS = {"customer_id": "1", "merchant_id": "M0001"}
"""Entity keys the lookup is timed with (the demo's first customer and merchant)."""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(repo: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "featurestore"),
            "ui",
            "--repo",
            str(repo),
            "--address",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/static/console.css", timeout=2
            ):
                return process
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None:
                raise SystemExit(
                    f"featurestore ui exited {process.returncode}"
                ) from None
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("featurestore ui did not start in 120 s")


class _Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar())
        )

    def fetch(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read().decode(errors="replace")


def _pages(client: _Client) -> list[tuple[str, str, dict[str, str] | None]]:
    """(label, path, form) for every page, from what the home page links."""
    home = client.fetch("/")[1]
    view = re.search(r'href="/views/([^"]+)"', home)
    table = re.search(r'href="/tables/([^"/?]+)"', home)
    if view is None or table is None:
        raise SystemExit("no feature views: run `make demo` (or feast apply) first")
    contracts = client.fetch("/contracts")[1]
    contract = re.search(r'href="/contracts/([^"?]+)"', contracts)
    quality = client.fetch(f"/tables/{table.group(1)}/quality")[1]
    reason = re.search(r'<option value="([^"]+:[^"]+)"', quality)
    lookup = client.fetch("/lookup")[1]
    csrf = re.search(r'name="csrf" value="([^"]+)"', lookup)
    target = re.search(r'<option value="((?:service|view):[^"]+)"', lookup)
    keys = re.findall(r'name="(key:[^"]+)"', lookup)
    pages: list[tuple[str, str, dict[str, str] | None]] = [
        ("home", "/", None),
        ("feature view", f"/views/{view.group(1)}", None),
        ("contracts", "/contracts", None),
    ]
    if contract:
        name = contract.group(1)
        pages.append(("contract", f"/contracts/{name}", None))
        page = client.fetch(f"/contracts/{name}")[1]
        versions = re.findall(
            r'<option value="([^"]+)"', page.split('id="diff-old"')[-1]
        )
        if len(set(versions)) > 1:  # the demo's contracts have one version each
            query = urllib.parse.urlencode({"old": versions[0], "new": versions[-1]})
            pages.append(("contract diff", f"/contracts/{name}/diff?{query}", None))
        else:
            print(f"contract diff: skipped, {name} has one version", flush=True)
    pages += [
        ("table history + lineage", f"/tables/{table.group(1)}", None),
        ("quality + quarantine", f"/tables/{table.group(1)}/quality", None),
    ]
    if reason:
        query = urllib.parse.urlencode({"reason": reason.group(1)})
        pages.append(
            ("quarantine filtered", f"/tables/{table.group(1)}/quality?{query}", None)
        )
        pages.append(
            ("quarantine CSV", f"/tables/{table.group(1)}/quarantine.csv?{query}", None)
        )
    pages += [("drift", "/drift", None), ("training sets", "/training-sets", None)]
    pages.append(("lookup form", "/lookup", None))
    if csrf and target:
        form = {"csrf": csrf.group(1), "target": target.group(1)}
        form |= {key: DEMO_KEYS.get(key.removeprefix("key:"), "1") for key in keys}
        pages.append(("lookup (POST, 1 entity)", "/lookup", form))
    return pages


def main(argv: list[str] | None = None) -> int:
    """Time the pages; print a table and write results/ui.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, default=ROOT / "feature_repo")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    port = _free_port()
    process = _start(args.repo.resolve(), port)
    try:
        client = _Client(f"http://127.0.0.1:{port}")
        results = {}
        for label, path, form in _pages(client):
            for _ in range(args.warmup):
                client.fetch(path, form)
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                status, _ = client.fetch(path, form)
                times.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise SystemExit(f"{label} {path}: HTTP {status}")
            times.sort()
            results[label] = {
                "path": path,
                "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
                "max_ms": round(times[-1], 1),
            }
            row = results[label]
            flag = "" if row["p95_ms"] <= TARGET_MS else f"  over {TARGET_MS:.0f} ms"
            print(
                f"{label:28} median {row['median_ms']:7.1f} ms   "
                f"p95 {row['p95_ms']:7.1f} ms   max {row['max_ms']:7.1f} ms{flag}",
                flush=True,
            )
    finally:
        process.terminate()
        process.wait(timeout=30)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ui.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
