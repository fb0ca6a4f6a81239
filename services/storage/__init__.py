"""Where tables live: locations as URIs and the options to reach them."""

from __future__ import annotations

from featurestore.services.storage.delta import (
    data_files,
    delta_error_detail,
    files_not_found,
    is_delta_table,
    open_delta,
    os_errno,
    read_delta,
)
from featurestore.services.storage.options import (
    MissingVariableError,
    StorageOptions,
    expand_variables,
)
from featurestore.services.storage.parquet import (
    parquet_dataset,
    read_parquet,
    read_parquet_dataset,
)
from featurestore.services.storage.uri import (
    ObjectUriError,
    absolute,
    check_object_uri,
    is_local,
    is_uri,
    join,
    local_path,
    scheme,
    to_delta_uri,
    to_spark_uri,
    unreadable_because,
)

__all__ = [
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
]
