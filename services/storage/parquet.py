"""Parquet files and folders read as Spark wrote them: INT96 times are UTC.

Spark writes timestamps as INT96 by default (``spark.sql.parquet.
outputTimestampType``), holding UTC instants. Arrow reads them without a time
zone, and as nanoseconds, which wraps a date past 2262 (a 9999-12-31 "valid
until" sentinel) into a wrong one. Read here they are microsecond UTC
instants, as Spark means them. Every reader of user Parquet (entity rows on
the server and in the CLI, ``contracts validate``) goes through this module.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

_UTC_MICROS = pa.timestamp("us", tz="UTC")


def parquet_dataset(
    path: str, filesystem: pafs.FileSystem | None = None
) -> ds.FileSystemDataset:
    """A Parquet file or folder (hive partitions read as columns, as Spark
    writes ``partitionBy``), INT96 read as microseconds; read it with
    :func:`read_parquet_dataset`."""
    fmt = ds.ParquetFileFormat(
        read_options=ds.ParquetReadOptions(coerce_int96_timestamp_unit="us")
    )
    dataset = ds.dataset(path, format=fmt, filesystem=filesystem, partitioning="hive")
    assert isinstance(dataset, ds.FileSystemDataset)  # a path, not a list of them
    return dataset


def read_parquet_dataset(dataset: ds.FileSystemDataset) -> pa.Table:
    """The dataset's rows, INT96 columns as UTC instants (by its first file)."""
    table = dataset.to_table()
    if not dataset.files:
        return table
    with dataset.filesystem.open_input_file(dataset.files[0]) as handle:
        schema = pq.ParquetFile(handle).schema
    for i in range(len(schema)):
        column = schema.column(i)
        name = column.path
        if column.physical_type != "INT96" or name not in table.column_names:
            continue
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(index).cast(_UTC_MICROS))
    return table


def read_parquet(path: str) -> pa.Table:
    """A local Parquet file or folder, read as :func:`read_parquet_dataset`."""
    return read_parquet_dataset(parquet_dataset(path))
