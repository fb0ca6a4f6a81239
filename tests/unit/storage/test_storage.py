"""Locations as URIs, and object-store options that never show their values."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import featurestore.services.storage as storage
from featurestore.services.storage import (
    MissingVariableError,
    StorageOptions,
    absolute,
    expand_variables,
    is_local,
    is_uri,
    join,
    local_path,
    scheme,
    to_delta_uri,
    to_spark_uri,
)


def test_exported_members() -> None:
    assert set(storage.__all__) == {
        "MissingVariableError",
        "ObjectUriError",
        "StorageOptions",
        "absolute",
        "check_object_uri",
        "data_files",
        "delta_error_detail",
        "expand_variables",
        "files_not_found",
        "is_delta_table",
        "is_local",
        "is_uri",
        "join",
        "local_path",
        "open_delta",
        "os_errno",
        "parquet_dataset",
        "read_delta",
        "read_parquet",
        "read_parquet_dataset",
        "scheme",
        "to_delta_uri",
        "to_spark_uri",
        "unreadable_because",
    }


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (
            "Generic error: bad commit\n\nStack backtrace:\n 0: x",
            "Generic error: bad commit",
        ),
        ("\n  only line  \n", "only line"),
        ("", "unknown error"),
        ("  \n ", "unknown error"),
    ],
)
def test_delta_error_detail_is_the_first_line(text: str, detail: str) -> None:
    assert storage.delta_error_detail(Exception(text)) == detail


@pytest.mark.parametrize(
    ("location", "kind", "local"),
    [
        ("s3://bucket/p", "s3", False),
        ("S3A://bucket/p", "s3a", False),
        ("file:///tmp/x", "file", True),
        ("/tmp/x", "", True),
        ("relative/x", "", True),
        ("C://windows", "", True),  # a drive letter, not a scheme
        ("gs://b/x", "gs", False),
    ],
)
def test_scheme_and_locality(location: str, kind: str, local: bool) -> None:
    assert scheme(location) == kind
    assert is_local(location) is local
    assert is_uri(location) is bool(kind)


def test_join_keeps_the_double_slash_of_uris() -> None:
    assert join("s3://b/p/", "features", "t") == "s3://b/p/features/t"
    assert join("s3://b", "/features/", "t") == "s3://b/features/t"
    assert join("/data", "features", "t") == os.path.join("/data", "features", "t")


def test_spark_and_delta_names_of_s3() -> None:
    assert to_spark_uri("s3://b/x") == "s3a://b/x"
    assert to_spark_uri("s3a://b/x") == "s3a://b/x"
    assert to_delta_uri("s3a://b/x") == "s3://b/x"
    assert to_delta_uri("file:///tmp/a/../b") == "/tmp/b"
    assert to_spark_uri("rel/x") == os.path.join(os.getcwd(), "rel", "x")


def test_absolute_anchors_relative_paths_only(tmp_path: Path) -> None:
    assert absolute("s3://b/../x", tmp_path) == "s3://b/../x"
    assert absolute("/abs/x", tmp_path) == "/abs/x"
    assert absolute("a/../b", tmp_path) == str(tmp_path.resolve() / "b")


def test_local_path_of_a_remote_location_is_an_error() -> None:
    assert local_path("file:///tmp/a%20b") == "/tmp/a b"
    with pytest.raises(ValueError, match="s3://"):
        local_path("s3://b/x")


segment = st.text(alphabet="abc-_.0", min_size=1, max_size=6).filter(
    lambda s: s not in (".", "..")
)


@given(root=st.lists(segment, min_size=1, max_size=3), parts=st.lists(segment))
def test_a_joined_uri_is_the_root_plus_the_parts(root, parts) -> None:
    base = "s3://" + "/".join(root)
    joined = join(base, *parts)
    assert joined.split("/")[2:] == [*root, *parts]
    assert to_delta_uri(to_spark_uri(joined)) == joined


def test_variables_are_expanded_and_a_missing_one_is_named_not_shown() -> None:
    env = {"KEY_ID": "id-1", "SECRET": "s3cr3t"}
    options = expand_variables(
        {"AWS_ACCESS_KEY_ID": "${KEY_ID}", "AWS_SECRET_ACCESS_KEY": "x-${SECRET}"},
        env,
    )
    assert options == {"AWS_ACCESS_KEY_ID": "id-1", "AWS_SECRET_ACCESS_KEY": "x-s3cr3t"}
    with pytest.raises(MissingVariableError) as info:
        expand_variables({"AWS_SECRET_ACCESS_KEY": "${NOPE}", "k": "${SECRET}"}, env)
    assert "NOPE" in str(info.value) and "s3cr3t" not in str(info.value)
    assert info.value.metadata == {"key": "AWS_SECRET_ACCESS_KEY", "variable": "NOPE"}


def test_options_apply_to_object_stores_and_never_print_values() -> None:
    options = StorageOptions({"AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_REGION": "r"})
    assert options.for_location("/local/table") is None
    assert options.for_location("file:///local/table") is None
    assert options.for_location("s3://b/t") == dict(options)
    for text in (repr(options), str(options), f"{options}"):
        assert "s3cr3t" not in text and "AWS_SECRET_ACCESS_KEY" in text


def test_pyarrow_file_system_of_an_s3_location() -> None:
    options = StorageOptions(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "aws_region": "eu-west-3",
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "secret",
        }
    )
    fs, path = options.filesystem("s3a://bucket/prefix/t")
    assert isinstance(fs, pafs.S3FileSystem)
    assert path == "bucket/prefix/t"
    assert fs.region == "eu-west-3"
    local, where = StorageOptions().filesystem("file:///tmp/x")
    assert isinstance(local, pafs.LocalFileSystem) and where == "/tmp/x"


def test_hadoop_s3a_settings_of_the_options() -> None:
    options = StorageOptions(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "aws_region": "eu-west-3",
            "ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_SESSION_TOKEN": "token",
            "AWS_S3_LOCKING_PROVIDER": "dynamodb",  # delta-rs only: not mapped
        }
    )
    assert options.hadoop_s3a() == {
        "fs.s3a.endpoint": "http://127.0.0.1:9000",
        "fs.s3a.endpoint.region": "eu-west-3",
        "fs.s3a.access.key": "id",
        "fs.s3a.secret.key": "secret",
        "fs.s3a.session.token": "token",
        "fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
        ),
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": "false",
    }
    aws = StorageOptions(
        {"AWS_REGION": "us-east-1", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "True"}
    )
    assert aws.hadoop_s3a() == {
        "fs.s3a.endpoint.region": "us-east-1",
        "fs.s3a.path.style.access": "false",
    }
    assert StorageOptions().hadoop_s3a() == {}


@pytest.mark.parametrize(
    ("location", "hint"),
    [
        ("/data/features/t", "missing or unreadable"),
        ("file:///data/features/t", "missing or unreadable"),
        ("s3://bucket/features/t", "check storage_options"),
    ],
)
def test_one_reason_for_an_unreadable_table_in_every_package(location, hint) -> None:
    # Lineage and the offline store say the same thing for the same location:
    # a local table is never told to check its (unused) storage options.
    from featurestore.services.lineage import StorageUnavailableError as LineageDown
    from featurestore.services.offline.errors import StorageUnavailableError

    said = {str(LineageDown(location)), str(StorageUnavailableError(location))}
    assert said == {f"cannot read {location}: {storage.unreadable_because(location)}"}
    assert hint in said.pop()


@pytest.mark.parametrize(
    "location",
    ["s3://b", "s3://b/", "s3://b/a/x.parquet", "s3a://b/a/", "/tmp//x/../y",
     "file:///a//b"],
)  # fmt: skip
def test_an_object_uri_naming_its_key_passes(location: str) -> None:
    assert storage.check_object_uri(location) == location


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("s3://bkt/ts//dbl.parquet", "an empty path segment (//)"),
        ("s3://bkt//e.parquet", "an empty path segment (//)"),
        ("s3://bkt/ts/../ts2/a.parquet", "a '..' path segment"),
        ("s3://bkt/./a.parquet", "a '.' path segment"),
    ],
)
def test_an_object_uri_with_an_empty_or_dot_segment_is_refused(
    location: str, problem: str
) -> None:
    # pyarrow refused // with ArrowInvalid (a traceback in training-set) and
    # took .. as a key holding "..": neither names the object it seems to.
    with pytest.raises(storage.ObjectUriError) as info:
        storage.StorageOptions().filesystem(location)
    assert info.value.reason == "INVALID_URI"
    assert info.value.metadata == {"uri": location}
    assert str(info.value).startswith(f"{location} has {problem}, ")
    with pytest.raises(storage.ObjectUriError):
        storage.open_delta(location)
    with pytest.raises(storage.ObjectUriError):
        storage.is_delta_table(location)
