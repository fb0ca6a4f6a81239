"""Arrow <-> Spark conversion with explicit schemas for the Spark join tests."""

from __future__ import annotations

import pyarrow as pa
import pytest


@pytest.fixture
def to_spark(spark):
    """Return a function turning an Arrow table into a Spark DataFrame.

    Timestamps become Spark TIMESTAMP (UTC instants, microseconds); the schema
    is given explicitly so all-null columns keep their types.
    """
    from pyspark.sql import types as T

    def kind(t: pa.DataType):
        if pa.types.is_timestamp(t):
            return T.TimestampType()
        if pa.types.is_int64(t):
            return T.LongType()
        if pa.types.is_int32(t):
            return T.IntegerType()
        if pa.types.is_floating(t):
            return T.DoubleType()
        if pa.types.is_boolean(t):
            return T.BooleanType()
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return T.StringType()
        raise TypeError(t)

    def convert(table: pa.Table):
        cols = []
        for f, col in zip(table.schema, table.columns, strict=True):
            if pa.types.is_timestamp(f.type):
                col = col.cast(pa.timestamp("us", tz="UTC"))
            cols.append(col)
        utc = pa.table(cols, names=table.column_names)
        schema = T.StructType(
            [T.StructField(f.name, kind(f.type), True) for f in utc.schema]
        )
        return spark.createDataFrame(utc.to_pandas(), schema=schema)

    return convert
