"""Historical retrieval: our Delta offline store vs Feast's file and Spark stores.

Run: ``.venv/bin/python -m benchmarks historical`` or
``.venv/bin/python benchmarks/bench_historical.py --sizes small`` (also
``100k``, ``1m`` = 1M entity x 10M feature rows per view, ``full``). Each engine
runs in its own process on the same Delta tables (three views, random keys,
ties on (key, e, c), (1, 12)/(11, 2)-style key pairs). Every process first
warms up (imports, JVM start; reported as ``import_s``, with a ``noop``
engine as the baseline), so ``e2e_s`` is the retrieval alone, from files to
the training set (through Feast for the Feast stores), and ``join_s`` the
join alone on Arrow tables already in memory. Memory, measured from the
parent so that killed engines have it too: ``peak_rss_mb``, the RSS of the
process tree (engine and JVM) sampled every 0.1 s, and ``hwm_mb``, the
kernel's peak RSS (VmHWM) of each process of the tree, summed (exact for the
engine process when it exits normally; an upper bound for the tree). An engine
past ``--timeout`` seconds or ``--mem-cap-gb`` of RSS is killed with its
JVM and reported as "timeout after N s" or "OOM ..."; one killed by the
kernel (SIGKILL) or failing with MemoryError/OutOfMemoryError is "OOM"
too, and the run goes on. Wrong rows
are counted against our engine, itself checked against a brute-force oracle
(tests/unit/offline/test_join_oracle.py); extra rows count as wrong.
``ours_known_at`` is our join with ``as_known_at=True`` (no peer has it), so
its rows legitimately differ from ``ours`` and are not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._historical_engines import (  # noqa: E402
    CREATED,
    FEATURES,
    KEYS,
    OUT_COLUMNS,
    vm_hwm,
)

RESULTS = HERE / "results"
SIZES = {
    "small": [(10_000, 100_000)],
    "100k": [(100_000, 1_000_000)],
    "1m": [(1_000_000, 10_000_000)],
    "full": [(100_000, 1_000_000), (1_000_000, 10_000_000)],
}
ENGINES = [
    "noop",
    "ours",
    "ours_known_at",
    "ours_spark",
    "feast_file",
    "feast_spark",
    "polars_asof",
    "duckdb_asof",
]
# Engines with other semantics than "ours": no wrong-row count.
UNCHECKED = {"ours_known_at"}
DEFAULT_TIMEOUT_S = 600
"""Per engine: Feast's file and Spark stores take longer than this at 1M x 10M."""
T0 = 1_714_521_600  # 2024-05-01 UTC, seconds
SPAN = 30 * 86400
TS = pa.timestamp("us", tz="UTC")


def _stamp(seconds: np.ndarray) -> pa.Array:
    return pa.array((seconds * 1_000_000).astype("int64")).cast(TS)


def _view_table(view: str, rows: int, rng: np.random.Generator) -> pa.Table:
    n_cards = max(rows // 50, 20)
    e = T0 + rng.integers(0, SPAN, rows)
    cols: dict[str, pa.Array] = {}
    if "card_id" in KEYS[view]:
        cols["card_id"] = pa.array(rng.integers(1, n_cards, rows))
    if "merchant_id" in KEYS[view]:
        cols["merchant_id"] = pa.array(rng.integers(1, 200, rows))
    if view == "card_merchant":
        # Half the rows get a key whose concatenation equals another's:
        # (1, 12) and (11, 2) are both "112".
        flip = rng.random(rows) < 0.5
        card = np.asarray(cols["card_id"]) % 100 + 1
        cols["card_id"] = pa.array(np.where(flip, card * 10 + 1, card))
        cols["merchant_id"] = pa.array(np.where(flip, 2, 12))
    cols["event_time"] = _stamp(e)
    if CREATED[view]:
        cols["created_time"] = _stamp(e + rng.integers(0, 7200, rows))
    for f in FEATURES[view]:
        cols[f] = pa.array(rng.normal(size=rows).round(3))
    table = pa.table(cols)
    if CREATED[view]:  # 2% exact twins on (key, e, c) with other values
        twins = table.take(pa.array(rng.integers(0, rows, rows // 50)))
        for f in FEATURES[view]:
            i = twins.column_names.index(f)
            twins = twins.set_column(i, f, pa.array(rng.normal(size=len(twins))))
        table = pa.concat_tables([table, twins])
    return table


def _entity(n: int, tables: dict[str, pa.Table], rng: np.random.Generator) -> pa.Table:
    cm = tables["card_merchant"]
    pick = rng.integers(0, cm.num_rows, n)
    lag = rng.integers(0, 3 * 86400, n)
    e = cm.column("event_time").cast(pa.int64()).to_numpy() // 1_000_000
    return pa.table(
        {
            "request_id": pa.array(np.arange(n)),
            "card_id": cm.column("card_id").take(pick),
            "merchant_id": cm.column("merchant_id").take(pick),
            "event_timestamp": _stamp(e[pick] + lag),
        }
    )


REPO_PY = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, ValueType
from feast.types import Float64
{imports}
card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.INT64)
merchant = Entity(name="merchant", join_keys=["merchant_id"],
                  value_type=ValueType.INT64)

def view(name, entities, ttl, features, created):
    return FeatureView(name=name, entities=entities, ttl=ttl,
                       schema=[Field(name=f, dtype=Float64) for f in features],
                       source={source})

card_merchant_view = view("card_merchant", [card, merchant], timedelta(days=7),
                          {f[card_merchant]!r}, "created_time")
card_view = view("card", [card], timedelta(days=1), {f[card]!r}, "created_time")
merchant_view = view("merchant", [merchant], timedelta(0), {f[merchant]!r}, "")
"""
FILE_SOURCE = (
    'FileSource(name=name, path="{tables}/" + name, '
    'file_format={fmt}(), timestamp_field="event_time", '
    "created_timestamp_column=created)"
)
SPARK_SOURCE = (
    'SparkSource(name=name, path="{tables}/" + name, '
    'file_format="parquet", timestamp_field="event_time", '
    "created_timestamp_column=created)"
)
YAML = """project: bench_{name}
registry: {root}/registry.db
provider: local
online_store: {{type: sqlite, path: {root}/online.db}}
entity_key_serialization_version: 3
offline_store:
{offline}
"""
OFFLINE = {
    "ours": "  type: featurestore.services.offline.DeltaOfflineStore",
    "file": "  type: file",
    "spark": """  type: spark
  spark_conf:
    spark.master: "local[2]"
    spark.ui.enabled: "false"
    spark.sql.session.timeZone: "UTC"
    spark.driver.memory: "4g"
    spark.sql.shuffle.partitions: "8"
    spark.sql.execution.arrow.pyspark.enabled: "true"
""",
}


def _write_repo(data: Path, name: str) -> None:
    from feast import FeatureStore

    tables = data / "tables"
    if name == "spark":
        imports = (
            "from feast.infra.offline_stores.contrib.spark_offline_store"
            ".spark_source import SparkSource"
        )
        source = SPARK_SOURCE.format(tables=tables)
    else:
        imports = "from feast import FileSource\nfrom feast.data_format import "
        imports += "DeltaFormat, ParquetFormat"
        fmt = "DeltaFormat" if name == "ours" else "ParquetFormat"
        source = FILE_SOURCE.format(tables=tables, fmt=fmt)
    code = REPO_PY.format(imports=imports, source=source, f=FEATURES)
    repo = data / f"repo_{name}"
    repo.mkdir()
    (repo / "definitions.py").write_text(code)
    (repo / "feature_store.yaml").write_text(
        YAML.format(name=name, root=repo, offline=OFFLINE[name])
    )
    ns: dict[str, object] = {}
    exec(compile(code, str(repo / "definitions.py"), "exec"), ns)
    FeatureStore(repo_path=str(repo)).apply(
        [
            ns[n]
            for n in (
                "card",
                "merchant",
                "card_merchant_view",
                "card_view",
                "merchant_view",
            )
        ]
    )


def generate(data: Path, entity_rows: int, feature_rows: int, seed: int = 7) -> None:
    """Write three Delta feature tables, an entity parquet and three Feast repos."""
    from deltalake import write_deltalake

    rng = np.random.default_rng(seed)
    tables = {v: _view_table(v, feature_rows, rng) for v in KEYS}
    for view, table in tables.items():
        write_deltalake(str(data / "tables" / view), table)
    pq.write_table(_entity(entity_rows, tables, rng), data / "entity.parquet")
    for name in OFFLINE:
        _write_repo(data, name)


@dataclass(frozen=True)
class Limits:
    """What one engine process may use before it is killed and reported."""

    timeout_s: float
    """Wall time from process start, imports and JVM start included."""
    mem_cap_bytes: int
    """RSS of the process tree (engine and its JVM), sampled every 0.1 s."""


def _run(
    engine: str, data: Path, out: Path | None, limits: Limits
) -> dict[str, object]:
    """Run one engine in its own process group; never raises for its failures.

    Returns its JSON line plus ``process_s``, ``peak_rss_mb`` and
    ``hwm_mb`` (see the module docstring), or ``error``: "timeout after
    N s", "OOM ..." or the exit code and last stderr line.
    """
    cmd = [sys.executable, str(HERE / "_historical_engines.py"), engine, str(data)]
    cmd += [str(out)] if out else []
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        # A new session makes the engine a process-group leader, so one
        # killpg also stops the JVM that Spark engines start.
        proc = subprocess.Popen(
            cmd, stdout=stdout, stderr=stderr, cwd=data, start_new_session=True
        )
        watch = _watch(proc.pid, limits)
        # The engine has exited but is not reaped yet, so its pid (the group
        # id) cannot be reused: stop what is left of the group (a JVM).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        wall = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        lines = stdout.read().decode(errors="replace").strip().splitlines()
        err = stderr.read().decode(errors="replace")
    result: dict[str, object] = {
        "process_s": wall,
        "peak_rss_mb": watch.peak_rss / 2**20,
        "hwm_mb": sum(watch.hwm.values()) / 2**20,
    }
    failure = watch.verdict or _failure(proc.returncode, err)
    if failure:
        return {"error": failure, **result}
    reported = json.loads(lines[-1])
    # The engine's own end-of-run VmHWM is exact; samples may miss the end.
    hwm = {**watch.hwm, proc.pid: reported.pop("hwm_bytes")}
    return {**reported, **result, "hwm_mb": sum(hwm.values()) / 2**20}


@dataclass
class _Watch:
    verdict: str | None = None
    peak_rss: int = 0
    """Greatest sampled sum of RSS over the process tree."""
    hwm: dict[int, int] = field(default_factory=dict)
    """Per process of the tree, its greatest sampled VmHWM."""


def _watch(pid: int, limits: Limits) -> _Watch:
    """Wait for ``pid``, sampling memory and killing its group past the limits."""
    deadline = time.monotonic() + limits.timeout_s
    watch = _Watch()
    while True:
        # WNOWAIT: notice the exit without reaping (see _run).
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
            return watch
        rss = _sample(pid, watch.hwm)
        watch.peak_rss = max(watch.peak_rss, rss)
        if watch.verdict is None and time.monotonic() > deadline:
            watch.verdict = f"timeout after {limits.timeout_s:.0f} s"
        elif watch.verdict is None and rss > limits.mem_cap_bytes:
            cap = limits.mem_cap_bytes / 2**30
            watch.verdict = f"OOM: process tree over the {cap:g} GiB cap"
        if watch.verdict is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        time.sleep(0.1)


def _sample(pid: int, hwm: dict[int, int]) -> int:
    """Return the tree's RSS now; record each process's VmHWM in ``hwm``."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:  # just exited
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error, OSError):
            total += p.memory_info().rss
            # max: VmHWM only grows, and a killed (zombie) process has none.
            hwm[p.pid] = max(hwm.get(p.pid, 0), vm_hwm(p.pid))
    return total


def _failure(code: int, stderr: str) -> str | None:
    if code == 0:
        return None
    last = (stderr.strip().splitlines() or [""])[-1][:300]
    if code == -signal.SIGKILL:
        # Nothing here sent it, so the kernel's OOM killer is the likely cause.
        return "OOM: killed by SIGKILL (likely the kernel OOM killer)"
    if "MemoryError" in stderr or "OutOfMemoryError" in stderr:
        return f"OOM: {last}"
    return f"exit {code}: {last}"


def _wrong_rows(got: pa.Table, want: pa.Table) -> int:
    expected = {r["request_id"]: r for r in want.to_pylist()}
    seen: set[int] = set()
    wrong = 0
    for row in got.to_pylist():
        rid = row["request_id"]
        if rid in seen or _norm(row) != _norm(expected.get(rid)):
            wrong += 1
        seen.add(rid)
    return wrong + len(set(expected) - seen)


def _norm(row: dict[str, object] | None) -> object:
    if row is None:
        return None
    return tuple(None if v != v else v for v in (row[c] for c in OUT_COLUMNS))  # NaN


def bench_size(
    entity_rows: int,
    feature_rows: int,
    engines: list[str],
    check: bool,
    limits: Limits,
) -> dict[str, dict[str, object]]:
    """Run every engine on one generated data set; return results by engine."""
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_hist_") as tmp:
        data = Path(tmp)
        generate(data, entity_rows, feature_rows)
        for engine in engines:
            out = data / f"{engine}.parquet" if check and engine != "noop" else None
            results[engine] = _run(engine, data, out, limits)
            print(f"  {engine}: {results[engine]}", flush=True)
        if check and (data / "ours.parquet").exists():
            want = pq.read_table(data / "ours.parquet")
            for engine, res in results.items():
                if engine in UNCHECKED:
                    continue
                if (data / f"{engine}.parquet").exists():
                    got = pq.read_table(data / f"{engine}.parquet")
                    res["wrong_rows"] = _wrong_rows(got, want)
    return results


def _print_table(label: str, results: dict[str, dict[str, object]]) -> None:
    ours = results.get("ours", {})
    print(
        f"\n{label}\n{'engine':<14} {'e2e s':>7} {'join s':>7} {'import s':>8} "
        f"{'process s':>9} {'peak MB':>8} {'hwm MB':>8} {'rows':>9} "
        f"{'wrong':>6} {'e2e peer/ours':>13} {'join peer/ours':>14}"
    )
    for engine, r in results.items():
        peak, hwm = _num(r.get("peak_rss_mb"), 0), _num(r.get("hwm_mb"), 0)
        if "e2e_s" not in r:
            print(
                f"{engine:<14} {r.get('error')} (after {_num(r.get('process_s'))} "
                f"s; peak {peak} MB, hwm {hwm} MB)"
            )
            continue
        print(
            f"{engine:<14} {r['e2e_s']:>7.2f} {_num(r.get('join_s')):>7} "
            f"{r['import_s']:>8.2f} {r['process_s']:>9.2f} {peak:>8} {hwm:>8} "
            f"{r['rows']:>9} {r.get('wrong_rows', '-')!s:>6} "
            f"{_ratio(r, ours, 'e2e_s'):>13} {_ratio(r, ours, 'join_s'):>14}"
        )


def _num(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def _ratio(peer: dict[str, object], ours: dict[str, object], key: str) -> str:
    if key not in peer or key not in ours:
        return "-"
    return f"{float(peer[key]) / float(ours[key]):.1f}x"  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print tables, write results/historical_<sizes>.json."""
    parser = argparse.ArgumentParser(prog="bench_historical", description=__doc__)
    parser.add_argument(
        "--sizes",
        choices=list(SIZES),
        default="small",
        help="entity x feature rows per view: small 10k x 100k, 100k 100k x 1M, "
        "1m 1M x 10M, full both of the last two",
    )
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument(
        "--no-check", action="store_true", help="skip counting wrong rows"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds per engine process before it is killed and reported as a timeout",
    )
    parser.add_argument(
        "--mem-cap-gb",
        type=float,
        default=0.7 * psutil.virtual_memory().total / 2**30,
        help="RSS of an engine's process tree at which it is killed and "
        "reported as OOM (default: 70%% of RAM, so the machine stays usable)",
    )
    args = parser.parse_args(argv)
    limits = Limits(args.timeout, int(args.mem_cap_gb * 2**30))
    engines = args.engines.split(",")
    report = []
    for entity_rows, feature_rows in SIZES[args.sizes]:
        label = f"{entity_rows} entity rows x {feature_rows} feature rows per view"
        print(label, flush=True)
        check = not args.no_check and entity_rows <= 100_000
        results = bench_size(entity_rows, feature_rows, engines, check, limits)
        _print_table(label, results)
        report.append(
            {
                "entity_rows": entity_rows,
                "feature_rows_per_view": feature_rows,
                "views": len(KEYS),
                "timeout_s": limits.timeout_s,
                "mem_cap_gb": limits.mem_cap_bytes / 2**30,
                "results": results,
            }
        )
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"historical_{args.sizes}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
