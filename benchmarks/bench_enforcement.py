"""Time Spark contract enforcement against a plain write and Pandera on pyspark.

Run from the repo root::

    .venv/bin/python -m benchmarks.bench_enforcement --transactions 500000

On the same generated raw events, three runs of the customer_spend transform:

* ``plain``: transform, then one Delta overwrite (no validation);
* ``enforced``: transform, then ``spark_jobs.publish.publish`` (verdict per row,
  duplicate keys, quarantine, failure-ratio gate, Delta overwrite) with
  profiling off: enforcement alone;
* ``profiled``: the same publish as it runs by default, which also profiles the
  passing rows in the verdict's Spark pass, scores drift against the reference
  and the previous version and commits the profile (#16). Two untimed publishes
  first give its table a reference (the second buckets version 0 with DuckDB),
  so every timed round is the steady state;
* ``pandera_pyspark``: transform, Pandera's own pyspark validation of a schema
  built from the same contract (``schema.validate(df)`` then reading
  ``df.pandera.errors``), then a Delta overwrite of every row (Pandera neither
  names failing rows nor drops them).

The Pandera schema covers the column checks and nullability only: the row
check (``windows_nested``) and primary-key uniqueness have no built-in pyspark
equivalent, so that side does less work. Results go to
``benchmarks/results/enforcement.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from featurestore.services.contracts import Contract, ContractRegistry, row_reasons
from featurestore.spark_jobs.io import read_parquet, write_delta
from featurestore.spark_jobs.jobs import generate_raw_events
from featurestore.spark_jobs.paths import DataPaths
from featurestore.spark_jobs.publish import publish
from featurestore.spark_jobs.session import build_spark_session
from featurestore.spark_jobs.transforms.clean import (
    approved_payments,
    deduplicate_transactions,
)
from featurestore.spark_jobs.transforms.customer_spend import add_spend_windows
from featurestore.spark_jobs.validate import with_verdicts

RESULTS = Path(__file__).resolve().parent / "results" / "enforcement.json"
SPARK_TYPES: dict[str, T.DataType] = {
    "int64": T.LongType(),
    "float64": T.DoubleType(),
    "string": T.StringType(),
    "bool": T.BooleanType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
}


def pandera_pyspark_schema(contract: Contract) -> Any:
    """Pandera pyspark DataFrameSchema with the contract's columns and checks."""
    import pandera.pyspark as pa

    def check(c: Any) -> Any:
        args = c.args
        if c.name == "in_range":
            return pa.Check.in_range(
                args.min_value, args.max_value, args.include_min, args.include_max
            )
        if c.name == "str_length":
            return pa.Check.str_length(args.min_value, args.max_value)
        value = list(args) if isinstance(args, tuple) else args
        return getattr(pa.Check, c.name)(value)

    return pa.DataFrameSchema(
        {
            col.name: pa.Column(
                cast(Any, SPARK_TYPES[col.type]),  # pandera takes Spark types too
                checks=[check(c) for c in col.checks if not c.custom],
                nullable=col.nullable,
            )
            for col in contract.columns
        },
        strict=True,
        name=f"{contract.name}@{contract.version}",
    )


_DUMMY: dict[str, Any] = {
    "int64": 1,
    "float64": 1.0,
    "string": "M0001",
    "bool": True,
    "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
    "date": date(2026, 1, 1),
}


def _warm_up(spark: SparkSession, contract: Contract) -> None:
    """Start one Python worker per core with pandas and Pandera imported.

    Called before every timed variant, outside the timing: Spark stops Python
    workers idle for a minute (the Pandera-on-pyspark variant uses none for
    ~3 minutes), and a cold worker spends 1-2 s importing pandas and Pandera,
    which would land on whichever variant runs next. Measured separately:
    the first enforced run of a fresh session pays it once.
    """
    schema = T.StructType(
        [T.StructField(c.name, SPARK_TYPES[c.type]) for c in contract.columns]
    )
    row = tuple(_DUMMY[c.type] for c in contract.columns)
    n = spark.sparkContext.defaultParallelism
    rows = spark.createDataFrame([row] * n, schema).repartition(n)
    with_verdicts(contract, rows).collect()

    def judge(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            row_reasons(contract, batch)
            yield batch

    rows.mapInArrow(judge, schema).collect()


def _features(spark: SparkSession, paths: DataPaths) -> DataFrame:
    raw = read_parquet(spark, paths.raw_transactions)
    return add_spend_windows(approved_payments(deduplicate_transactions(raw)))


def _timed(fn: Callable[[], dict[str, Any]]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    detail = fn()
    seconds = time.perf_counter() - start
    print(f"  {fn.__name__}: {seconds:.1f}s", file=sys.stderr, flush=True)
    return seconds, detail


def variants(
    spark: SparkSession, contract: Contract, data: DataPaths, out: Path
) -> dict[str, Callable[[], dict[str, Any]]]:
    """The timed variants by name; each returns JSON-ready details."""

    def plain() -> dict[str, Any]:
        target = DataPaths.from_root(out / "plain").feature_table(contract.name)
        write_delta(_features(spark, data), target, mode="overwrite", metadata={})
        return {}

    def enforced() -> dict[str, Any]:
        report = publish(
            _features(spark, data),
            contract,
            DataPaths.from_root(out / "enforced"),
            job="bench_enforcement",
            run_id="bench",
            profile=False,
        )
        return report.validation.summary()

    def profiled() -> dict[str, Any]:
        report = publish(
            _features(spark, data),
            contract,
            DataPaths.from_root(out / "profiled"),
            job="bench_enforcement",
            run_id="bench",
        )
        return {
            **report.validation.summary(),
            "drift": [s.to_json_obj() for s in report.drift],
        }

    def pandera_pyspark() -> dict[str, Any]:
        validated = pandera_pyspark_schema(contract).validate(_features(spark, data))
        errors = dict(validated.pandera.errors)
        target = DataPaths.from_root(out / "pandera").feature_table(contract.name)
        write_delta(validated, target, mode="overwrite", metadata={})
        return {"pandera_errors": json.loads(json.dumps(errors, default=str))}

    return {fn.__name__: fn for fn in (plain, enforced, profiled, pandera_pyspark)}


def run(
    spark: SparkSession,
    contract: Contract,
    data: DataPaths,
    out: Path,
    repeat: int = 3,
    pandera_rounds: int = 1,
) -> tuple[dict[str, list[float]], dict[str, dict[str, Any]]]:
    """Run the variants ``repeat`` times on the same data; every timing."""
    by_name = variants(spark, contract, data, out)
    plain, enforced, profiled, pandera_pyspark = by_name.values()
    times: dict[str, list[float]] = {}
    details: dict[str, dict[str, Any]] = {}
    for _ in range(2):  # untimed: version 0, then its buckets (the reference)
        profiled()
    # Interleaved rounds: a background hiccup hits one round of one variant,
    # not one variant in every round. Pandera on pyspark takes ~3 minutes a
    # round at 2M rows, so it runs in the first `pandera_rounds` only.
    for number in range(repeat):
        chosen = [plain, enforced, profiled]
        if number < pandera_rounds:
            chosen.append(pandera_pyspark)
        for fn in chosen:
            _warm_up(spark, contract)
            seconds, detail = _timed(fn)
            times.setdefault(fn.__name__, []).append(seconds)
            details[fn.__name__] = detail
    return times, details


def run_cold(work: Path, master: str | None, rounds: int) -> dict[str, list[float]]:
    """Time plain and enforced as one-off jobs, each in a fresh process.

    Nothing is warmed (JVM JIT, Python workers importing pandas and Pandera),
    as in a spark-submit run; the time excludes the JVM start only.
    """
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name in ("plain", "enforced"):
            command = [
                sys.executable,
                "-m",
                "benchmarks.bench_enforcement",
                "--child",
                name,
                "--work-dir",
                str(work),
            ]
            if master:
                command += ["--master", master]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            seconds = float(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  {name} (cold process): {seconds:.1f}s", file=sys.stderr)
            times.setdefault(f"{name}_cold", []).append(seconds)
    return times


def _child(args: argparse.Namespace) -> int:
    """Run one variant once in this fresh process; print its seconds."""
    contract = ContractRegistry().get("customer_spend")
    data = DataPaths.from_root(args.work_dir / "data")
    spark = build_spark_session("bench_enforcement_cold", args.master)
    fn = variants(spark, contract, data, args.work_dir / "out")[args.child]
    seconds, _ = _timed(fn)
    spark.stop()
    print(json.dumps(seconds))
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_enforcement",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--transactions", type=int, default=2_000_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--master", default=None, help="default: local[*]")
    parser.add_argument(
        "--repeat", type=int, default=3, help="interleaved rounds (median reported)"
    )
    parser.add_argument(
        "--pandera-rounds",
        type=int,
        default=1,
        help="rounds that include Pandera on pyspark (~3 min each at 2M rows)",
    )
    parser.add_argument(
        "--cold-rounds",
        type=int,
        default=2,
        help="rounds of plain/enforced each in a fresh process (one-off job runs)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="default: a tmp dir"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate data, time the three variants, print a table, save JSON."""
    args = _parse(argv)
    if args.child:
        return _child(args)
    contract = ContractRegistry().get("customer_spend")
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_enforcement_") as tmp:
        work = args.work_dir or Path(tmp)
        data = DataPaths.from_root(work / "data")
        generate_raw_events.main(
            [
                f"--transactions={args.transactions}",
                f"--customers={args.customers}",
                "--merchants=500",
                f"--data-dir={data.root}",
            ]
        )
        spark = build_spark_session("bench_enforcement", args.master)
        rows_in = spark.read.parquet(str(data.raw_transactions)).count()
        times, details = run(
            spark, contract, data, work / "out", args.repeat, args.pandera_rounds
        )
        partitions = spark.conf.get("spark.sql.shuffle.partitions")
        master = spark.sparkContext.master
        spark.stop()
        times.update(run_cold(work, args.master, args.cold_rounds))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    best = {name: min(ts) for name, ts in times.items()}
    # Each enforced run against the plain run of its own round.
    paired = [e / p for p, e in zip(times["plain"], times["enforced"], strict=True)]
    profiling = [
        p / e for e, p in zip(times["enforced"], times["profiled"], strict=True)
    ]
    results = {
        # The machine may be shared: 1/5/15-minute load at start and end.
        "load_average": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in os.getloadavg()],
        },
        "transactions": args.transactions,
        "repeat": args.repeat,
        "raw_rows": rows_in,
        "master": master,
        "shuffle_partitions": partitions,
        "python": platform.python_version(),
        "seconds": {name: [round(t, 2) for t in ts] for name, ts in times.items()},
        "median_seconds": {name: round(t, 2) for name, t in median.items()},
        "ratios": {
            "enforced/plain (median)": round(median["enforced"] / median["plain"], 2),
            "enforced/plain (best)": round(best["enforced"] / best["plain"], 2),
            "enforced/plain (per round)": [round(r, 2) for r in paired],
            "profiled/enforced (median)": round(
                median["profiled"] / median["enforced"], 3
            ),
            "profiled/enforced (per round)": [round(r, 3) for r in profiling],
            "enforced/plain (one-off jobs, median)": round(
                median["enforced_cold"] / median["plain_cold"], 2
            )
            if "enforced_cold" in median
            else None,
            "enforced/pandera_pyspark (median)": round(
                median["enforced"] / median["pandera_pyspark"], 2
            )
            if "pandera_pyspark" in median
            else None,
            "pandera_pyspark/plain (median)": round(
                median["pandera_pyspark"] / median["plain"], 2
            )
            if "pandera_pyspark" in median
            else None,
        },
        "details": details,
    }
    print(f"customer_spend on {rows_in:,} raw transaction rows ({master})")
    print(f"{'variant':<18}{'median s':>10}{'x plain':>10}   all runs")
    for name, ts in times.items():
        runs = " ".join(f"{t:.1f}" for t in ts)
        print(f"{name:<18}{median[name]:>10.2f}{median[name] / median['plain']:>10.2f}"
              f"   {runs}")  # fmt: skip
    for name, ratio in results["ratios"].items():
        print(f"{name:<36}{ratio}")
    print(f"load average (1/5/15 min): {results['load_average']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"saved {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
