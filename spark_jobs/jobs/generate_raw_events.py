"""Generate seeded raw card-payment events and late fraud labels as Parquet."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from featurestore.spark_jobs.paths import DataPaths, storage_options

CURRENCIES = np.array(["EUR", "USD", "GBP"])
COUNTRIES = np.array(["DE", "FR", "GB", "US", "NL", "ES", "IT", "PL"])
CHANNELS = np.array(["pos", "web", "app"])


def generate(
    transactions: int,
    *,
    customers: int,
    merchants: int,
    days: int,
    seed: int,
    end: datetime,
    drift: float = 1.0,
) -> tuple[pa.Table, pa.Table]:
    """Build the raw transactions and fraud labels, mess included.

    The mess: ~2% of events arrive hours or days late (``ingest_time``), ~1% are
    delivered twice, and ~0.3% are malformed (no customer, customer 0, negative
    amount, lower-case currency).

    ``drift`` multiplies the amounts of the later batch, the last quarter of
    the period (1.0: no drift); everything else is drawn as without it, so the
    same seed with and without drift differs only there.

    Returns:
        ``(transactions, labels)`` as Arrow tables.
    """
    rng = np.random.default_rng(seed)
    n = transactions
    start_us = int((end - timedelta(days=days)).timestamp() * 1e6)
    span_us = days * 86_400 * 1_000_000
    event_us = np.sort(start_us + rng.integers(0, span_us, n))
    # Activity varies a lot between card holders (log-normal weights: the busiest
    # make a few hundred times the median's payments), but no single customer
    # makes a sizeable share of all payments, as in a real card portfolio.
    weights = rng.lognormal(0.0, 1.2, customers)
    customer = rng.choice(customers, n, p=weights / weights.sum()) + 1
    merchant_idx = rng.integers(0, merchants, n)
    amount = np.round(rng.lognormal(3.2, 1.1, n), 2)
    later = event_us >= start_us + span_us * 3 // 4
    amount[later] = np.round(amount[later] * drift, 2)
    delay_us = rng.exponential(30, n).astype(np.int64) * 1_000_000
    late = rng.random(n) < 0.02
    delay_us[late] += rng.integers(3_600, 4 * 86_400, late.sum()) * 1_000_000
    status = np.where(rng.random(n) < 0.96, "approved", "declined")

    customer_np = customer.astype(np.int64)
    customer_np[rng.random(n) < 0.001] = 0
    customer_missing = rng.random(n) < 0.001
    amount[rng.random(n) < 0.001] *= -1
    currency = CURRENCIES[rng.choice(3, n, p=[0.6, 0.3, 0.1])].astype(object)
    lower = rng.random(n) < 0.001
    currency[lower] = np.char.lower(currency[lower].astype(str))
    ts = pa.timestamp("us", tz="UTC")
    tx = pa.table(
        {
            "transaction_id": pa.array([f"T{i:010d}" for i in range(n)]),
            "customer_id": pa.array(customer_np, mask=customer_missing),
            "merchant_id": pa.array([f"M{m:04d}" for m in merchant_idx]),
            "amount": pa.array(amount),
            "currency": pa.array(currency.astype(str)),
            "country": pa.array(COUNTRIES[rng.integers(0, len(COUNTRIES), n)]),
            "channel": pa.array(CHANNELS[rng.choice(3, n, p=[0.5, 0.35, 0.15])]),
            "status": pa.array(status),
            "event_time": pa.array(event_us, type=ts),
            "ingest_time": pa.array(
                np.minimum(event_us + delay_us, int(end.timestamp() * 1e6)), type=ts
            ),
        }
    )
    dup = np.flatnonzero(rng.random(n) < 0.01)
    tx = pa.concat_tables([tx, tx.take(pa.array(dup))])

    # Fraud is likelier at a few risky merchants and for large amounts.
    risky = rng.random(merchants) < 0.05
    p_fraud = 0.004 + 0.05 * risky[merchant_idx] + 0.01 * (amount > 500)
    approved = status == "approved"
    is_fraud = rng.random(n) < p_fraud
    label_us = event_us + rng.integers(86_400, 14 * 86_400, n) * 1_000_000
    keep = np.flatnonzero(approved)
    labels = pa.table(
        {
            "transaction_id": tx.column("transaction_id").take(pa.array(keep)),
            "is_fraud": pa.array(is_fraud[keep]),
            "label_time": pa.array(label_us[keep], type=ts),
        }
    )
    return tx, labels


def write(tx: pa.Table, labels: pa.Table, paths: DataPaths) -> None:
    """Write both tables as Parquet datasets, replacing earlier output."""
    storage = storage_options()
    for table, directory in ((tx, paths.raw_transactions), (labels, paths.raw_labels)):
        fs, folder = storage.filesystem(directory)
        fs.create_dir(folder, recursive=True)
        for old in fs.get_file_info(pafs.FileSelector(folder)):
            if old.path.endswith(".parquet"):
                fs.delete_file(old.path)
        pq.write_table(
            table, f"{folder}/part-0.parquet", row_group_size=1 << 18, filesystem=fs
        )


def _today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Command line entry point.

    Args:
        argv: The job's arguments (default: the process's).
        prog: The command named in usage and errors (default: ``python -m
            featurestore.spark_jobs.jobs.generate_raw_events``).
    """
    parser = argparse.ArgumentParser(
        prog=prog or "python -m featurestore.spark_jobs.jobs.generate_raw_events",
        description=__doc__,
    )
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--merchants", type=int, default=300)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--drift",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="multiply the amounts of the later batch (the last quarter of the "
        "period) by FACTOR: a distribution shift every row's contract still "
        "passes (default: 1, none)",
    )
    parser.add_argument(
        "--end",
        type=datetime.fromisoformat,
        default=None,
        help="end of the event period, ISO 8601 (default: today 00:00 UTC, so the "
        "demo's online features are fresh)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="root of the data folder (default: the project's data_dir; $FS_DATA_DIR "
        "wins)",
    )
    args = parser.parse_args(argv)
    for flag in ("transactions", "customers", "merchants", "days"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag} must be positive")
    if not 0 <= args.seed < 2**32:  # numpy's seed range
        parser.error("--seed must be between 0 and 2**32 - 1")
    if args.drift <= 0:
        parser.error("--drift must be positive")
    tx, labels = generate(
        args.transactions,
        customers=args.customers,
        merchants=args.merchants,
        days=args.days,
        seed=args.seed,
        end=_utc(args.end) if args.end else _today(),
        drift=args.drift,
    )
    paths = DataPaths.from_root(args.data_dir)
    write(tx, labels, paths)
    print(
        f"wrote {tx.num_rows} transactions and {labels.num_rows} labels "
        f"under {paths.raw}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
