"""Spark jobs: contract-checked Delta feature tables, and the publish API."""

# Imported eagerly, not lazily (PEP 562): the submodule ``publish`` would otherwise
# shadow the function ``publish`` once anything imported the submodule first.
from featurestore.spark_jobs.errors import (
    BatchFailedError,
    ConfigError,
    ContractViolationError,
    InputNotFoundError,
    Reason,
    SparkJobError,
    StorageUnavailableError,
    TableNotWritableError,
    WriteConflictError,
)
from featurestore.spark_jobs.io import read_parquet
from featurestore.spark_jobs.publish import (
    PublishMode,
    PublishReport,
    RetryPolicy,
    publish,
)
from featurestore.spark_jobs.session import build_spark_session
from featurestore.spark_jobs.validate import ValidationResult

__all__ = [
    "BatchFailedError",
    "ConfigError",
    "ContractViolationError",
    "InputNotFoundError",
    "PublishMode",
    "PublishReport",
    "Reason",
    "RetryPolicy",
    "SparkJobError",
    "StorageUnavailableError",
    "TableNotWritableError",
    "ValidationResult",
    "WriteConflictError",
    "build_spark_session",
    "publish",
    "read_parquet",
]
