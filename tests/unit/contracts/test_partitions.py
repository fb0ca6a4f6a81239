"""Partition directory names: escaping and the 255-byte limit (Spark's own
escaping is checked in tests/integration/spark/test_publish_modes.py)."""

from __future__ import annotations

import pytest

from featurestore.services.contracts._partitions import (
    directory_name,
    escape_path_name,
    valid_directory,
)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("x" * 253, True),  # "s=" + 253 bytes: 255
        ("x" * 254, False),
        ("/" * 84, True),  # "%2F" each: 2 + 252
        ("/" * 85, False),
        ("é" * 126, True),  # 2 bytes each: 2 + 252
        ("é" * 127, False),
        ("x\0y", False),  # no file system takes a NUL
        ("__HIVE_DEFAULT_PARTITION__", False),  # Spark's name for null
        ("__hive_default_partition__", True),
    ],
    ids=["x253", "x254", "slash84", "slash85", "e126", "e127", "nul", "hive",
         "hive_lower"],
)  # fmt: skip
def test_a_directory_over_255_bytes_with_a_nul_or_meaning_null_is_invalid(value, valid):
    assert valid_directory("s", value) == valid


def test_the_column_name_counts_and_is_escaped_too():
    assert directory_name("a=b", "c/d") == "a%3Db=c%2Fd"
    assert valid_directory("c" * 200, "x" * 54)
    assert not valid_directory("c" * 200, "x" * 55)


def test_what_spark_leaves_alone_stays():
    assert escape_path_name("é x-y_z.0~!") == "é x-y_z.0~!"
    assert escape_path_name("\x01\x1f\x7f") == "%01%1F%7F"
